"""The live skew monitor: what the service served against the offline truth, per day."""

import base64
import json
from datetime import date, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from fti_assets.domain.catalog import CATEGORICAL_FEATURES, FEATURE_GROUPS, feature_names
from fti_assets.metadata import markdown_table
from fti_assets.partitions import daily_partitions, history_deps
from fti_assets.resources.io_manager import PARTITION_COLUMN
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.registry import ModelRegistry
from fti_assets.resources.serving import ServingResource

#: Above these, the daily reconciliation of served against offline vectors fails its check.
MAX_DIFFERING, MAX_DELTA_P99 = 0.001, 0.001


def offline_complete_until(store: OfflineStore, day: date) -> datetime | None:
    """The instant up to which the offline feature tables that ``day``'s flights read are whole:
    midnight UTC of the first partition they need that is not materialized yet (a late flight's
    prediction time falls on the next UTC day, whose delay statistics come with that day's run).
    None when every partition is there."""
    from datetime import UTC, datetime, time

    from fti_assets.domain.catalog import history_days

    missing = []
    for group in FEATURE_GROUPS:
        days = history_days(group, day, day)
        if group.name == "origin_congestion" or days is None:
            continue
        stored = set(store.partitions(group.name))
        missing += [d for d in days if d > day and d.isoformat() not in stored]
    return datetime.combine(min(missing), time(), tzinfo=UTC) if missing else None


def _offline(
    schedule: pl.DataFrame,
    served: pl.DataFrame,
    congestion: pl.DataFrame,
    store: OfflineStore,
    registry: ModelRegistry,
    day: date,
) -> pl.DataFrame:
    """The offline vector and probability of each served flight as of its prediction time,
    scored by the model version that served it."""
    from fti_assets.domain.retrieval import point_in_time_join

    tables = {
        g.name: store.read_history(g, day, day) for g in FEATURE_GROUPS if g.name != "origin_congestion"
    }
    tables["origin_congestion"] = congestion
    joined = point_in_time_join(
        schedule.join(served.select("flight_id", "champion_version"), on="flight_id").with_columns(
            as_of=pl.col("prediction_time")
        ),
        tables,
    )
    parts = []
    for (label,), part in joined.group_by("champion_version"):
        model = registry.load(int(str(label).rsplit(":v", 1)[-1]))
        p = model.feature_spec.predict(model.booster, part)
        parts.append(part.with_columns(offline_probability=pl.Series(p)))
    return (
        pl.concat(parts)
        if parts
        else joined.clear().with_columns(offline_probability=pl.lit(None, pl.Float64))
    )


def _plot(summary: dict) -> str:
    from fti_assets.training.plots import bar_png

    shares = {k: v for k, v in sorted(summary["mismatch_share"].items(), key=lambda kv: -kv[1]) if v > 0}
    png = bar_png(shares or {"(none)": 0.0}, "share of served flights whose value differs from offline")
    return f"![mismatch share per feature](data:image/png;base64,{base64.b64encode(png).decode()})"


@dg.asset(
    group_name="monitoring",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={PARTITION_COLUMN: "day"},
    deps=history_deps([g for g in FEATURE_GROUPS if g.name != "origin_congestion"]),
    check_specs=[
        dg.AssetCheckSpec(
            "served_equals_trained",
            asset="serving_skew",
            description=f"At most {MAX_DIFFERING:.1%} of the compared served flights have a feature value that "
            f"differs from the offline vector at their prediction time, and the probability delta's p99 is at "
            f"most {MAX_DELTA_P99}: what is served is what the model learnt.",
        )
    ],
)
def serving_skew(
    context: dg.AssetExecutionContext,
    flight_schedule: pl.DataFrame,
    origin_congestion: pl.DataFrame,
    store: OfflineStore,
    registry: ModelRegistry,
    serving: ServingResource,
):
    """What the service actually served (its prediction log) against the offline retrieval for
    the same flights at their prediction times: the share of flights whose value differs, per
    feature; the probability delta (p50, p99, max); how far behind the store's newest event was.
    Flights the store held no history for (`past_flight`), flights asked for early, and flights
    whose prediction time is past what the offline tables hold yet (the next UTC day's delay
    statistics come with its own run; a later run of this day compares them) are counted and
    left out. A day reads the
    feature groups' partitions its TTLs reach, as batch predictions do. Not declared, as they are
    not assets: the prediction log (the service appends it, under FTI_HOME/predictions) and the
    models that served, loaded from the registry by the version the log names."""
    from fti_assets.monitoring.skew import read_log, served_frame, skew_summary

    features = feature_names()
    rows = []
    days = [date.fromisoformat(key) for key in context.partition_keys]
    log = read_log(Path(serving.home) / "predictions", set(days))
    for day in days:
        served = served_frame(log[day], features)
        if served.height == 0:
            rows.append({"day": day, **skew_summary(served, served, features, [])})
            continue
        offline = _offline(
            flight_schedule.filter(pl.col("flight_date") == day),
            served,
            origin_congestion,
            store,
            registry,
            day,
        )
        summary = skew_summary(
            served,
            offline.select("flight_id", *features, "offline_probability"),
            features,
            list(CATEGORICAL_FEATURES),
            offline_complete_until(store, day),
        )
        rows.append({"day": day, **summary})
    table = pl.DataFrame(
        [{**r, "mismatch_share": json.dumps(r["mismatch_share"])} for r in rows], infer_schema_length=None
    )
    last = rows[-1]
    context.log.info(
        f"{last['day']}: {last['compared_rows']} served flights compared, "
        f"{last.get('rows_with_any_mismatch', 0)} with a "
        f"stale or different value; probability delta p99 {last.get('probability_delta_p99')}"
    )
    meta = {k: v for k, v in last.items() if k not in ("day", "mismatch_share") and v is not None}
    if last["mismatch_share"]:
        meta["mismatch_plot"] = dg.MetadataValue.md(_plot(last))
        share = pl.DataFrame(
            {"feature": list(last["mismatch_share"]), "mismatch_share": list(last["mismatch_share"].values())}
        )
        meta["mismatch_share"] = dg.MetadataValue.md(
            markdown_table(share.sort("mismatch_share", descending=True), 40)
        )
    yield dg.Output(table, metadata={"dagster/row_count": table.height, **meta})
    yield reconciliation(rows)


def reconciliation(rows: list[dict]) -> dg.AssetCheckResult:
    """The check over every day of the run: share of compared flights with any differing value,
    and the worst probability delta p99."""
    compared = sum(r["compared_rows"] for r in rows)
    differing = sum(r.get("rows_with_any_mismatch", 0) for r in rows)
    p99 = max(
        (r["probability_delta_p99"] for r in rows if r.get("probability_delta_p99") is not None), default=0.0
    )
    share = differing / compared if compared else 0.0
    return dg.AssetCheckResult(
        check_name="served_equals_trained",
        passed=share <= MAX_DIFFERING and p99 <= MAX_DELTA_P99,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "compared_rows": compared,
            "differing_share": round(share, 6),
            "probability_delta_p99": p99,
        },
    )
