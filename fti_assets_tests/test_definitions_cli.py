"""The code location loads light and fast, and the command line runs the graph."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HEAVY = ("mlflow", "lightgbm", "bentoml", "evidently", "pandera", "sklearn", "matplotlib")


def test_definitions_load_without_heavy_libraries(tmp_path: Path) -> None:
    code = (
        "import sys, fti_assets.definitions as d; d.defs.resolve_asset_graph(); print([m for m in "
        f"{HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "FTI_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_dg_check_defs_passes(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN / "dg"), "check", "defs"],
        cwd=ROOT,
        env={**os.environ, "FTI_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "All definitions loaded successfully" in out.stdout + out.stderr


def test_dg_list_defs_lists_assets_jobs_and_sensors(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN / "dg"), "list", "defs", "--json"],
        cwd=ROOT,
        env={**os.environ, "FTI_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    listed = json.loads(out.stdout)
    assets = {a["asset_key"]: a["group_name"] for a in listed["assets"]}
    assert {
        "flights": "raw",
        "flight_schedule": "features",
        "training_dataset": "training",
        "champion_model": "deployment",
        "online_features": "inference",
        "serving_skew": "monitoring",
    }.items() <= assets.items()
    jobs = {j["name"] for j in listed["jobs"]}
    assert {
        "feature_pipeline",
        "training_pipeline",
        "inference_pipeline",
        "monitoring_pipeline",
        "daily_pipeline",
        "schedule_feed",
    } <= jobs
    sensors = {s["name"] for s in listed["sensors"]}
    assert {
        "retraining_sensor",
        "canary_guard_sensor",
        "champion_guard_sensor",
        "run_outcome_on_success",
        "run_outcome_on_failure",
    } <= sensors


def test_fti_demo_runs_the_loop_on_a_window_and_prints_a_summary(tmp_path: Path) -> None:
    env = {**os.environ, "FTI_HOME": str(tmp_path / "fti")}
    env.pop("DAGSTER_HOME", None)
    out = subprocess.run(
        [str(BIN / "fti"), "demo", "--start", "2013-01-01", "--end", "2013-02-28"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    missing = [
        s
        for s in (
            "training_dataset",
            "champion_model",
            "flight_delay_bento",
            "online_features",
            "batch_predictions",
        )
        if f"✔ {s}" not in out.stderr
    ]
    assert not missing, out.stderr[
        out.stderr.find("== training_pipeline") : out.stderr.find("== monitoring_pipeline")
    ]  # one line per step
    assert "training_dataset content hash" in out.stdout
    assert "test ROC AUC 0.6" in out.stdout and "gates: passed" in out.stdout
    # Every published flight has its congestion, in training and served; the month's skew is measured.
    assert re.search(r"origin congestion in training: ([\d,]+) of \1 flights \(100\.0%\)", out.stdout), (
        out.stdout
    )
    assert (
        "serving skew over 30 days" in out.stdout
        and "origin congestion known for 100.0% of served flights" in out.stdout
    )
    assert (tmp_path / "fti" / "dagster" / "dagster.yaml").exists()  # runs are recorded under FTI_HOME
    with duckdb.connect(str(tmp_path / "fti" / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.sql("select count(distinct flight_date) from training_dataset").fetchall() == [(59,)]
        assert conn.sql("select count(*), min(model_version) from batch_predictions").fetchall() == [
            (51_955, 1)
        ]


def test_fti_demo_rejects_an_inverted_window(tmp_path: Path) -> None:
    out = subprocess.run(
        [str(BIN / "fti"), "demo", "--start", "2013-02-01", "--end", "2013-01-01"],
        env={**os.environ, "FTI_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "is before --start" in out.stderr
