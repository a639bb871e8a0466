"""``training_dataset`` as a graph: one step per month, run in parallel, each writing its piece.

The flights of a window split into months (``training.pieces``); each month's rows depend only on
its own flights and the feature rows known at their prediction times. So:

- ``dataset_pieces`` resolves the window and fans out one ``dataset_piece`` step per month;
- each ``dataset_piece`` reads only the partitions its flights' TTLs can reach, builds its rows
  and writes them straight to a staging folder of the offline store (``resources.pieced``);
- ``dataset_assembly`` checks the staged pieces on a lazy scan (splits, content hash one piece
  at a time) and hands them to the IO manager, which makes them the table in one rename.

No step holds more than a month, and under the multiprocess executor the months run side by
side: at most ``FTI_DATASET_PIECES`` at once (the ``training_pipeline`` job's default run
config, editable at launch). The rows and content hash are those of one whole build.
"""

from datetime import date

import dagster as dg

from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.training.dataset import TrainingDatasetConfig, build_piece, dataset_summary, resolve_window

#: Op tag the executor's concurrency limit keys on (``jobs.training_pipeline``).
PIECE_TAG = {"fti/step": "training_dataset_piece"}
#: Step outputs (piece summaries) are small: pickled by ``step_io_manager``, not stored as tables.
STEPS = "step_io_manager"
UPSTREAM = ["flight_outcomes", "flight_schedule", *(g.name for g in FEATURE_GROUPS)]


@dg.op(ins={name: dg.In(dg.Nothing) for name in UPSTREAM}, out=dg.DynamicOut(dict, io_manager_key=STEPS))
def dataset_pieces(context: dg.OpExecutionContext, config: TrainingDatasetConfig, store: OfflineStore):
    """The window (config filled from the materialized days) cut into months, one output each."""
    from fti_assets.domain.versions import FACT_KEYS
    from fti_assets.resources.pieced import stage
    from fti_assets.training.pieces import pieces_of

    outcome_days = store.partitions("flight_outcomes")
    # Everything ingested so far, unless the config names an earlier cutoff: recorded in the
    # window, so a reproduction after later corrections rebuilds what this build saw.
    window = resolve_window(config, outcome_days, store.knowledge_clock(list(FACT_KEYS)))
    if not any(window["start"] <= day <= window["end"] for day in outcome_days):
        raise dg.Failure(
            f"no flights with known outcomes between {window['start']} and {window['end']}: "
            "materialize the feature pipeline for those days first"
        )
    staged = stage(store, "training_dataset", context.run.run_id)
    pieces = pieces_of(
        date.fromisoformat(window["start"]), date.fromisoformat(window["end"]), config.piece_days
    )
    context.log.info(f"training dataset of {window}: {len(pieces)} pieces, staged under {staged.folder}")
    for first, last in pieces:
        piece = {
            "window": window,
            "first": first.isoformat(),
            "last": last.isoformat(),
            "folder": staged.folder,
        }
        yield dg.DynamicOutput(piece, mapping_key=first.strftime("from_%Y_%m_%d"))


@dg.op(out=dg.Out(dict, io_manager_key=STEPS), tags=PIECE_TAG)
def dataset_piece(context: dg.OpExecutionContext, piece: dict, store: OfflineStore) -> dict:
    """One piece's rows, written to the staging folder; returns what the assembly checks."""
    from fti_assets.resources.pieced import StagedTable, write_piece

    frame, counts = build_piece(
        store, piece["window"], date.fromisoformat(piece["first"]), date.fromisoformat(piece["last"])
    )
    if frame.height:
        write_piece(StagedTable("training_dataset", piece["folder"]), piece["first"], frame)
    context.log.info(
        f"piece {piece['first']}..{piece['last']}: {frame.height:,} rows, {counts['unlabelled']:,} unlabelled "
        f"flights left out, {counts['relabelled']:,} relabelled since the first load"
    )
    bounds = (
        [str(frame["prediction_time"].min()), str(frame["prediction_time"].max())] if frame.height else None
    )
    return {**piece, "rows": frame.height, **counts, "prediction_times": bounds}


@dg.op
def dataset_assembly(context: dg.OpExecutionContext, pieces: list[dict], store: OfflineStore) -> dg.Output:
    """The staged pieces checked and summarized, as the dataset the IO manager commits."""
    from fti_assets.resources.pieced import StagedTable, discard, pieces_hash, scan_pieces

    if not pieces:
        raise dg.Failure("the training dataset's window holds no day: check start and end")
    pieces = sorted(pieces, key=lambda p: p["first"])
    staged, window = StagedTable("training_dataset", pieces[0]["folder"]), pieces[0]["window"]
    try:
        bounds = [p["prediction_times"] for p in pieces if p["prediction_times"]]
        # The stored table is read in piece order: it must be the whole build's order.
        if any(earlier[1] >= later[0] for earlier, later in zip(bounds, bounds[1:], strict=False)):
            raise dg.Failure(f"pieces overlap in prediction time: {bounds}")
        if not bounds:
            raise dg.Failure(
                f"no flights with known outcomes between {window['start']} and {window['end']}: materialize "
                "the features first"
            )
        metadata = dataset_summary(scan_pieces(staged.folder), window)
        digest = pieces_hash(staged.folder, "flight_id")
    except BaseException:
        discard(staged)  # nothing is stored: the previous dataset stays
        raise
    context.log.info(
        f"training dataset: {metadata['dagster/row_count']:,} rows in {len(bounds)} pieces, hash {digest[:12]}"
    )
    return dg.Output(
        staged,
        metadata={
            **metadata,
            "content_hash": digest,
            "pieces": len(bounds),
            "unlabelled_flights_left_out": sum(p["unlabelled"] for p in pieces),
            # Labels are as known at the cutoff: a corrected arrival relabels its own flight.
            "relabelled_rows": sum(p.get("relabelled", 0) for p in pieces),
            "known_by": window["known_by"],
        },
    )


@dg.config_mapping
def _window_config(config: TrainingDatasetConfig) -> dict:
    """``{"ops": {"training_dataset": {"config": ...}}}`` as for a one-step asset."""
    return {"dataset_pieces": {"config": config.model_dump()}}


@dg.graph_asset(
    group_name="training",
    config=_window_config,
    ins={name: dg.AssetIn(dagster_type=dg.Nothing) for name in UPSTREAM},
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def training_dataset(**upstream):
    """The label spine (flights with known outcomes) joined point-in-time with every feature
    group: each value is the latest one known at or before the flight's prediction time.
    Built in monthly pieces, in parallel steps, each reading only the partitions its flights'
    TTLs can reach and written to the store on its own, so memory follows a month; the rows
    and content hash are those of one whole build. Split by time into train, validation and
    test; its content hash identifies it. The stamps it joins on are checked against the raw
    event times on every feature table."""
    return dataset_assembly(dataset_pieces(**upstream).map(dataset_piece).collect())
