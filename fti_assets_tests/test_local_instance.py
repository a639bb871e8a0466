"""The local Dagster instance: Dagster's SQLite files on kept connections, shared with other
processes as before, and an instance file that follows its folder."""

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

from fti_assets.instance import write_instance_file
from fti_assets.sqlite_storage import KeptSqliteEventLogStorage, KeptSqliteRunStorage


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
    assert isinstance(instance.run_storage, KeptSqliteRunStorage) and isinstance(instance.event_log_storage, KeptSqliteEventLogStorage)
    mine = dg.materialize([numbers], instance=instance).run_id
    assert (home / "history" / "runs.db").exists() and (home / "history" / "runs" / f"{mine}.db").exists()  # Dagster's own layout
    # This process holds its connections open; a second process writes a run meanwhile.
    theirs = subprocess.run([sys.executable, "-c", WRITER, str(home)], capture_output=True, text=True, check=True).stdout.split()[-1]
    assert theirs != mine and instance.get_run_by_id(theirs) is not None
    assert instance.get_latest_materialization_event(dg.AssetKey("numbers")).run_id == theirs
    assert len(instance.get_runs()) == 2


def test_a_run_being_written_wakes_the_uis_watch_of_its_file(tmp_path: Path) -> None:
    """The UI follows a run by watching its own file. The writer keeps its connection, so an
    event waits in the file's write-ahead log until a checkpoint: the watch must wake on the
    log too, at once."""
    instance = dg.DagsterInstance.from_config(str(write_instance_file(tmp_path / "dagster", production=False)))
    storage, run_id, seen = instance.event_log_storage, str(uuid.uuid4()), threading.Event()
    storage.store_event(dg.EventLogEntry(error_info=None, level=logging.INFO, user_message="first", run_id=run_id, timestamp=time.time()))
    storage.watch(run_id, None, lambda entry, cursor: seen.set() if entry.user_message == "second" else None)
    try:
        storage.store_event(dg.EventLogEntry(error_info=None, level=logging.INFO, user_message="second", run_id=run_id, timestamp=time.time()))
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
    shutil.copyfile(Path(__file__).resolve().parents[1] / "dagster.yaml", copied / "dagster.yaml")  # an earlier plain copy
    assert "KeptSqliteEventLogStorage" in (write_instance_file(copied, production=False) / "dagster.yaml").read_text()
    own = tmp_path / "d"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert (write_instance_file(own, production=False) / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
