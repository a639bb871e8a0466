"""The local Dagster instance: Dagster's SQLite files on the storage accelerator's kept
connections, shared with other processes as before, storing what Dagster's stock storage stores;
Dagster's stock storage when the accelerator is off or does not fit; and an instance file that
follows its folder."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from fti_assets.platform.instance import EVENT_BATCH_SIZE_VARIABLE, prepare_dagster_home, write_instance_file
from fti_assets.platform.storage_accelerator import PLANNED, KeptSqliteEventLogStorage, KeptSqliteRunStorage
from fti_assets.settings import Settings


@dg.asset
def numbers() -> list[int]:
    return [1, 2, 3]


WRITER = """
import sys, dagster as dg
@dg.asset
def numbers() -> list[int]:
    return [4]
print(dg.materialize([numbers], instance=dg.DagsterInstance.from_config(sys.argv[1])).run_id)
"""


def test_runs_written_by_another_process_are_seen_through_kept_connections(tmp_path: Path) -> None:
    home = write_instance_file(tmp_path / "dagster", production=False)
    instance = dg.DagsterInstance.from_config(str(home))
    assert isinstance(instance.run_storage, KeptSqliteRunStorage) and isinstance(
        instance.event_log_storage, KeptSqliteEventLogStorage
    )
    mine = dg.materialize([numbers], instance=instance).run_id
    assert (home / "history" / "runs.db").exists() and (
        home / "history" / "runs" / f"{mine}.db"
    ).exists()  # Dagster's own layout
    # This process holds its connections open; a second process writes a run meanwhile.
    theirs = subprocess.run(
        [sys.executable, "-c", WRITER, str(home)], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    assert theirs != mine and instance.get_run_by_id(theirs) is not None
    assert instance.get_latest_materialization_event(dg.AssetKey("numbers")).run_id == theirs
    assert len(instance.get_runs()) == 2


DAYS = dg.DailyPartitionsDefinition(start_date="2013-01-01", end_date="2013-01-07")


@dg.asset(
    partitions_def=DAYS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    check_specs=[dg.AssetCheckSpec("rows", asset="days")],
)
def days() -> dg.MaterializeResult:
    return dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def broken_days() -> None:
    raise RuntimeError("this run fails")


def _planned_view(instance: dg.DagsterInstance, run_id: str) -> dict:
    """What the UI reads of a run's planned events: in the run's file, in the index, the asset
    entries, the checks, and the partitions planned but never materialized (failed ones); and
    of its materializations."""
    planned = dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    storage = instance.event_log_storage
    return {
        "run_file": sorted(
            (e.dagster_event.asset_key.to_user_string(), e.dagster_event.partition)
            for e in instance.all_logs(run_id, of_type=planned)
        ),
        "index": {
            k: sorted(
                r.partition_key
                for r in instance.get_event_records(dg.EventRecordsFilter(planned, asset_key=dg.AssetKey(k)))
            )
            for k in ("days", "broken_days")
        },
        "last_run": [
            r.asset_entry.last_run_id == run_id
            for r in instance.get_asset_records([dg.AssetKey("days"), dg.AssetKey("broken_days")])
        ],
        "checks": [
            r.status.value
            for r in storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey("days"), "rows"), limit=5
            )
        ],
        "check_rows": _check_rows(storage, run_id),
        # The materializations' batch: in the index, with their tags, and the asset's entry.
        "materialization_records": sorted(
            r.partition_key for r in instance.fetch_materializations(dg.AssetKey("days"), limit=100).records
        ),
        # Tag names per event (a data version's value comes from its run's id).
        "tags": sorted(sorted(t) for t in storage.get_event_tags_for_asset(dg.AssetKey("days"))),
        "entry": [
            (r.asset_entry.last_materialization_record.partition_key, r.asset_entry.last_run_id == run_id)
            for r in instance.get_asset_records([dg.AssetKey("days")])
        ],
        "failed": {
            p: r == run_id
            for p, (
                r,
                _,
            ) in storage.get_latest_asset_partition_materialization_attempts_without_materializations(
                dg.AssetKey("broken_days")
            ).items()
        },
        "materialized": sorted(instance.get_materialized_partitions(dg.AssetKey("days"))),
    }


def _check_rows(storage, run_id: str) -> list[tuple]:
    """The run's rows of the check executions table, as stored: one per check and partition."""
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable as T
    from dagster._serdes import deserialize_value

    with storage.index_connection() as conn:
        rows = conn.execute(
            sa.select(
                T.c.asset_key, T.c.check_name, T.c.partition, T.c.execution_status, T.c.evaluation_event
            ).where(T.c.run_id == run_id)
        ).fetchall()
    return sorted(((*row[:4], deserialize_value(row[4]).dagster_event_type.value) for row in rows), key=str)


def test_planned_events_stored_in_one_batch_read_as_dagsters_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run over six daily partitions, with a check and a failing asset: the project's batched
    write of its planned events gives what Dagster's own SQLite storage gives, event by event."""
    monkeypatch.setenv(
        EVENT_BATCH_SIZE_VARIABLE, "1000"
    )  # as write_instance_file sets it for the accelerator
    batches: list[set] = []
    batched = KeptSqliteEventLogStorage.store_event_batch
    monkeypatch.setattr(
        KeptSqliteEventLogStorage,
        "store_event_batch",
        lambda self, events: batches.append({e.dagster_event_type for e in events}) or batched(self, events),
    )
    ours = dg.DagsterInstance.from_config(str(write_instance_file(tmp_path / "ours", production=False)))
    (tmp_path / "dagsters").mkdir()
    dagsters = dg.DagsterInstance.local_temp(str(tmp_path / "dagsters"))
    assert (
        type(dagsters.event_log_storage).store_event_batch is not KeptSqliteEventLogStorage.store_event_batch
    )
    views = []
    for instance in (ours, dagsters):
        tags = {
            "dagster/asset_partition_range_start": "2013-01-01",
            "dagster/asset_partition_range_end": "2013-01-06",
        }
        result = dg.materialize([days, broken_days], instance=instance, tags=tags, raise_on_error=False)
        views.append(_planned_view(instance, result.run_id))
    assert batches and batches[0] == PLANNED  # the run's planned events came as one batch
    assert {dg.DagsterEventType.ASSET_MATERIALIZATION} in batches  # and its six materializations as another
    assert views[0] == views[1]
    assert (
        len(views[0]["run_file"]) == 12 and all(views[0]["failed"].values()) and len(views[0]["failed"]) == 6
    )


def test_a_run_being_written_wakes_the_uis_watch_of_its_file(tmp_path: Path) -> None:
    """The UI follows a run by watching its own file. The writer keeps its connection, so an
    event waits in the file's write-ahead log until a checkpoint: the watch must wake on the
    log too, at once."""
    instance = dg.DagsterInstance.from_config(
        str(write_instance_file(tmp_path / "dagster", production=False))
    )
    storage, run_id, seen = instance.event_log_storage, str(uuid.uuid4()), threading.Event()
    storage.store_event(
        dg.EventLogEntry(
            error_info=None, level=logging.INFO, user_message="first", run_id=run_id, timestamp=time.time()
        )
    )
    storage.watch(run_id, None, lambda entry, cursor: seen.set() if entry.user_message == "second" else None)
    try:
        storage.store_event(
            dg.EventLogEntry(
                error_info=None,
                level=logging.INFO,
                user_message="second",
                run_id=run_id,
                timestamp=time.time(),
            )
        )
        assert seen.wait(20)
    finally:
        storage.dispose()


def test_the_instance_file_follows_its_folder_and_an_operators_file_is_kept(tmp_path: Path) -> None:
    home = write_instance_file(tmp_path / "a", production=False)
    assert f"base_dir: {home.resolve() / 'history' / 'runs'}" in (home / "dagster.yaml").read_text()
    moved = write_instance_file(Path(shutil.move(home, tmp_path / "b")), production=False)  # FTI_HOME moved
    text = (moved / "dagster.yaml").read_text()
    assert str(tmp_path / "a") not in text and f"base_dir: {moved.resolve() / 'history'}\n" in text
    copied = tmp_path / "c"
    copied.mkdir()
    shutil.copyfile(
        Path(__file__).resolve().parents[1] / "dagster.yaml", copied / "dagster.yaml"
    )  # an earlier plain copy
    assert (
        "KeptSqliteEventLogStorage"
        in (write_instance_file(copied, production=False) / "dagster.yaml").read_text()
    )
    own = tmp_path / "d"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert (
        write_instance_file(own, production=False) / "dagster.yaml"
    ).read_text() == "telemetry:\n  enabled: false\n"


def _stock_storage_classes(tmp_path: Path) -> tuple[type, type]:
    """The classes of Dagster's own default instance storage (no instance file at all)."""
    (tmp_path / "stock").mkdir()
    stock = dg.DagsterInstance.local_temp(str(tmp_path / "stock"))
    return type(stock.run_storage), type(stock.event_log_storage)


def test_the_demos_instance_with_the_accelerator_off_is_dagsters_stock_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``FTI_STORAGE_ACCELERATOR=0``: the instance the demo prepares runs on Dagster's own
    storage classes, in the same files, and a run on it reads back."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("FTI_HOME", str(tmp_path / "fti"))
    monkeypatch.setenv("FTI_STORAGE_ACCELERATOR", "0")
    home = prepare_dagster_home(Settings.from_env())
    instance = dg.DagsterInstance.from_config(str(home))
    assert (type(instance.run_storage), type(instance.event_log_storage)) == _stock_storage_classes(tmp_path)
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert "event_log_storage" not in config and config["storage"] == {
        "sqlite": {"base_dir": str(home.resolve())}
    }
    run_id = dg.materialize([numbers], instance=instance).run_id
    assert (home / "history" / "runs" / f"{run_id}.db").exists()  # the accelerator's files, and Dagster's
    assert instance.get_latest_materialization_event(dg.AssetKey("numbers")).run_id == run_id
    monkeypatch.setenv("FTI_STORAGE_ACCELERATOR", "1")  # switched on again: the same folder, accelerated
    accelerated = dg.DagsterInstance.from_config(str(prepare_dagster_home(Settings.from_env())))
    assert isinstance(accelerated.event_log_storage, KeptSqliteEventLogStorage)
    assert accelerated.get_latest_materialization_event(dg.AssetKey("numbers")).run_id == run_id


def test_another_dagster_version_gets_the_stock_storage_with_one_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The accelerator was tested with one Dagster release: under any other it does not import,
    and the instance falls back to Dagster's stock storage, saying so once."""
    import fti_assets.platform.instance as instance_module

    monkeypatch.setattr(dg, "__version__", "99.0.0")
    monkeypatch.delitem(sys.modules, "fti_assets.platform.storage_accelerator")
    monkeypatch.delattr(sys.modules["fti_assets.platform"], "storage_accelerator")
    monkeypatch.setattr(instance_module, "_noticed", [])
    with caplog.at_level(logging.WARNING, logger="fti_assets.platform.instance"):
        homes = [write_instance_file(tmp_path / name, production=False) for name in ("a", "b")]
    instance = dg.DagsterInstance.from_config(str(homes[0]))
    assert (type(instance.run_storage), type(instance.event_log_storage)) == _stock_storage_classes(tmp_path)
    notices = [r.getMessage() for r in caplog.records if "storage accelerator" in r.getMessage()]
    assert len(notices) == 1 and "99.0.0" in notices[0], notices
