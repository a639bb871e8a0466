"""Alerts and lineage on the production profile's topology: a code server and a daemon on
PostgreSQL. A run that breaks a contract alerts once and leaves its OpenLineage events with the
collector; after a daemon restart the sensors tick again and nothing is sent twice."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import polars as pl

from fti_assets_tests.alerts.receivers import HttpReceiver
from fti_assets_tests.servers import new_database, new_redis_prefix, production_env
from fti_assets_tests.service_process import free_port
from fti_assets_tests.test_production_dagster import BIN, ROOT, _code_server, _instance_home, _Process, _ticks

SENSORS = ("alert_on_run_failure", "openlineage_on_failure")


def _wait_for_ticks(database: str, after: float, log: Path) -> None:
    """Until both sensors have finished a tick that started after ``after`` (the daemon's own record)."""
    deadline = time.monotonic() + 300
    while not all([t for t in _ticks(database, s) if t[1] > after and t[0] != "STARTED"] for s in SENSORS):
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(1)


def test_a_broken_contract_alerts_once_across_a_daemon_restart(tmp_path: Path, source_slice: Path) -> None:
    source = Path(shutil.copytree(source_slice, tmp_path / "source"))
    airlines = pl.read_parquet(source / "airlines.parquet")
    airlines.with_columns(carrier=pl.lit("x!")).write_parquet(source / "airlines.parquet")
    webhook, collector = HttpReceiver(), HttpReceiver()
    with new_database() as dagster_db, new_database() as mlflow_db, new_redis_prefix() as prefix:
        env = {
            **os.environ,
            **production_env(tmp_path / "fti", dagster_db, mlflow_db, prefix),
            "FTI_SOURCE": str(source),
            "FTI_ALERT_WEBHOOK_URL": f"{webhook.url}/hooks/secret-key",
            "OPENLINEAGE_URL": collector.url,
        }
        port = free_port()
        home = _instance_home(env, port)
        server = _code_server(env, port, tmp_path / "code-server.log")
        daemon_log = tmp_path / "daemon.log"
        daemon = _Process(
            [str(BIN / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")], env, daemon_log
        )
        try:
            _wait_for_ticks(dagster_db, 0.0, daemon_log)  # the run-status sensors start from their first tick
            run = subprocess.run(
                [
                    str(BIN / "dagster"),
                    "asset",
                    "materialize",
                    "-m",
                    "fti_assets.definitions",
                    "--select",
                    "airlines",
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert run.returncode != 0 and "contract" in run.stdout + run.stderr
            webhook.wait_for(lambda r: len(r.bodies) >= 1, "the alert")
            collector.wait_for(lambda r: len(r.bodies) >= 4, "the run's and the asset's events")
            alert = webhook.bodies[0]["alert"]
            assert alert["title"].startswith("Blocking check contract failed on airlines")
            assert [
                (b["job"]["name"], b["eventType"]) for b in collector.bodies if b["job"]["name"] == "airlines"
            ] == [
                ("airlines", "START"),
                ("airlines", "FAIL"),
            ]
            daemon.stop()
            restarted = time.time()
            daemon = _Process(
                [str(BIN / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")],
                env,
                tmp_path / "daemon-2.log",
            )
            _wait_for_ticks(dagster_db, restarted, tmp_path / "daemon-2.log")
        finally:
            daemon.stop()
            server.stop()
            webhook.close()
            collector.close()
        assert webhook.requests == 1  # not again after the restart
        assert len(collector.bodies) == 4
        # The secret part of the webhook URL never reached a log.
        for log in (tmp_path / "code-server.log", daemon_log, tmp_path / "daemon-2.log"):
            assert "secret-key" not in log.read_text()
