"""A run whose worker is killed with kill -9 ends up failed, not STARTED forever.

A worker killed alone is reported by the code server that started it; killed together with
its code server, only ``dead_run_worker_sensor`` (``fti_assets/platform/run_workers.py``) can tell.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil

from fti_assets.platform.run_workers import worker_pid

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.5)
    raise AssertionError(f"gave up waiting for {what}")


def test_a_run_whose_worker_is_killed_with_its_code_server_is_marked_failed(
    tmp_path: Path, source_slice: Path
) -> None:
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    # The project's instance settings, polled every 2 s instead of 30 s so the test is short.
    config = (ROOT / "dagster.yaml").read_text()
    assert "poll_interval_seconds: 30" in config
    (dagster_home / "dagster.yaml").write_text(
        config.replace("poll_interval_seconds: 30", "poll_interval_seconds: 2")
    )
    dg.DagsterInstance.from_config(
        str(dagster_home)
    ).dispose()  # storage created once, before the daemon races for it
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        f"load_from:\n  - python_module:\n      module_name: fti_assets.definitions\n      working_directory: {ROOT}\n"
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "FTI_HOME": str(tmp_path / "fti"),
        "FTI_SOURCE": str(source_slice),
    }
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
        cwd=ROOT,
        env=env,
        stdout=open(tmp_path / "daemon.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        launched = subprocess.run(
            [
                str(BIN / "dagster"),
                "job",
                "launch",
                "-w",
                str(workspace),
                "-j",
                "feature_pipeline",
                "--tags",
                '{"dagster/partition": "2013-01-03"}',
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert launched.returncode == 0, launched.stdout + launched.stderr
        instance = dg.DagsterInstance.from_config(str(dagster_home))
        [run] = instance.get_runs()
        started = lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED  # noqa: E731
        _wait(started, 300, "the run to start")
        pid, _ = _wait(lambda: worker_pid(instance, run.run_id), 60, "the worker to record its pid")
        # The code server that started the worker would notice a lone worker's death itself:
        # killed first (a crash of `dagster dev`, an OOM kill of both), nobody is left to tell.
        server = psutil.Process(pid).ppid()
        assert server != daemon.pid  # the daemon lives on, as after a crash of `dagster dev`'s code server
        os.kill(server, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
        # The sensor looks every INTERVAL_SECONDS; the daemon brings the code location back first.
        failed = _wait(
            lambda: instance.get_run_by_id(run.run_id).is_finished and instance.get_run_by_id(run.run_id),
            300,
            "the run to end",
        )
        assert failed.status == dg.DagsterRunStatus.FAILURE
        messages = [e.message for e in instance.all_logs(run.run_id)]
        assert any(f"run worker process {pid} is gone" in m for m in messages), messages[-5:]
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
