"""The training dataset's pieces under Dagster's multiprocess executor, as a launched run
executes them: each piece in its own process, side by side, never more at once than
``FTI_DATASET_PIECES`` allows, and the stored table equal to the in-process build."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from fti_assets.resources.offline_store import OfflineStore
from fti_assets.training.dataset import pieced_dataset
from fti_assets_tests.conftest import TRAINING_CONFIG

LIMIT = 2


def training_job() -> dg.JobDefinition:
    """The code location's own training pipeline, rebuilt in each step process from the environment."""
    from fti_assets.definitions import defs

    return defs.resolve_job_def("training_pipeline")


def _intervals(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float, int]]:
    """Each piece step's process: from its launch to the step's success, and its id. (A piece's
    own work takes well under a second; its process's start-up is what runs side by side.)"""
    starts, spans = {}, {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not (event.step_key or "").startswith("training_dataset.dataset_piece["):
            continue
        if event.event_type == dg.DagsterEventType.STEP_WORKER_STARTING:
            starts[event.step_key] = entry.timestamp
        elif event.event_type == dg.DagsterEventType.STEP_START:
            starts[event.step_key] = (starts[event.step_key], event.pid)
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            began, pid = starts[event.step_key]
            spans[event.step_key] = (began, entry.timestamp, pid)
    return spans


def _most_at_once(spans: list[tuple[float, float, int]]) -> int:
    edges = sorted([(a, 1) for a, _, _ in spans] + [(b, -1) for _, b, _ in spans], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_pieces_run_side_by_side_within_the_limit(
    feature_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Path(shutil.copytree(feature_home, tmp_path / "home", symlinks=True))
    monkeypatch.setenv("FTI_HOME", str(home))
    monkeypatch.setenv("FTI_DATASET_PIECES", str(LIMIT))
    window = TRAINING_CONFIG["ops"]["training_dataset"]["config"]
    config = {"ops": {"training_dataset": {"config": {**window, "piece_days": 3}}}}
    with dg.instance_for_test() as instance:
        result = dg.execute_job(
            dg.reconstructable(training_job),
            instance,
            run_config=config,
            asset_selection=[dg.AssetKey("training_dataset")],
        )
        assert result.success
        spans = _intervals(instance, result.run_id)
    assert len(spans) == 5  # 14 days in pieces of 3
    assert len({pid for _, _, pid in spans.values()}) == 5  # one process per piece
    assert _most_at_once(list(spans.values())) == LIMIT  # side by side, and never more than the limit
    # What the processes stored is the one in-process build of the same window.
    store = OfflineStore(home=str(home))
    assert store.read("training_dataset").equals(pieced_dataset(store, window)[0])
