"""Dagster of the production profile on a real PostgreSQL: concurrent runs, and the cluster
topology (code server, daemon) surviving a restart of the code location."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster_postgres import PostgresEventLogStorage

from fti_assets_tests.servers import (
    new_database,
    new_redis_prefix,
    postgres_url,
    production_env,
    sessions_opened,
)
from fti_assets_tests.service_process import free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: Connections the two runs below may open to the Dagster database: 84 measured with the pooled
#: storage, 727 with dagster-postgres's connection per statement.
SESSIONS_FOR_TWO_RUNS = 200


def _instance_home(env: dict[str, str], code_port: int | None = None) -> Path:
    from fti_assets.platform.instance import write_instance_file

    home = Path(env["DAGSTER_HOME"])
    home.mkdir(parents=True)
    # As `fti` and `make prod-dev` write it: the storage accelerator's pooled storages, and
    # Dagster's batched event writes in this process's environment, which the runs inherit.
    write_instance_file(home, production=True)
    if code_port is not None:
        workspace = (
            (ROOT / "deploy" / "workspace.production.yaml")
            .read_text()
            .replace("port: 4266", f"port: {code_port}")
        )
        (home / "workspace.yaml").write_text(workspace)
    return home


def test_two_partition_runs_at_once_on_postgres_storage(
    tmp_path: Path, source_slice: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fti_assets.resources.offline_store import OfflineStore

    with new_database() as dagster_db, new_database() as mlflow_db, new_redis_prefix() as prefix:
        env = {
            **production_env(tmp_path / "fti", dagster_db, mlflow_db, prefix),
            "FTI_SOURCE": str(source_slice),
        }
        home = _instance_home(env)
        select = "flights,schedules,weather,airports,flight_schedule,origin_weather"
        runs = [
            subprocess.Popen(
                [
                    str(BIN / "dagster"),
                    "asset",
                    "materialize",
                    "-m",
                    "fti_assets.definitions",
                    "--select",
                    select,
                    "--partition-range",
                    span,
                    "--config-json",
                    '{"execution": {"config": {"in_process": {}}}}',
                ],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for span in ("2013-01-01...2013-01-03", "2013-01-04...2013-01-06")
        ]
        outputs = [run.communicate(timeout=600)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], "\n".join(o[-3000:] for o in outputs)
        # Each process holds pooled connections (storage_accelerator.py) instead of two new ones per event.
        assert sessions_opened(dagster_db) <= SESSIONS_FOR_TWO_RUNS
        monkeypatch.setenv("FTI_DAGSTER_POSTGRES_URL", env["FTI_DAGSTER_POSTGRES_URL"])
        instance = dg.DagsterInstance.from_config(str(home))
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        recorded = instance.get_runs()
        assert len(recorded) == 2 and {r.status for r in recorded} == {dg.DagsterRunStatus.SUCCESS}
        days = [f"2013-01-0{d}" for d in range(1, 7)]
        for table in ("flights", "weather", "flight_schedule", "origin_weather"):
            assert sorted(instance.get_materialized_partitions(dg.AssetKey(table))) == days, table
            assert OfflineStore(home=env["FTI_HOME"]).partitions(table) == days
            # Planned in batches, still one planned event per partition: the UI's in-progress and
            # failed partitions are read from them.
            planned = instance.fetch_planned_materializations(dg.AssetKey(table), limit=100).records
            assert sorted(r.partition_key for r in planned) == days, table
        instance.dispose()


class _Process:
    """A Dagster process in its own session, stopped (or killed) by its process group."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        with open(log, "w") as out:
            self.popen = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()


def _code_server(env: dict[str, str], port: int, log: Path) -> _Process:
    server = _Process(
        [
            str(BIN / "dagster"),
            "code-server",
            "start",
            "-m",
            "fti_assets.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env,
        log,
    )
    deadline = time.monotonic() + 180
    while (
        subprocess.run(
            [str(BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(port)],
            capture_output=True,
        ).returncode
        != 0
    ):
        assert server.popen.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the code server did not come up"
        time.sleep(1)
    return server


def _ticks(database: str, sensor: str) -> list[tuple[str, float]]:
    """(status, timestamp) of the sensor's ticks, oldest first, as the daemon stored them."""
    import psycopg2

    with psycopg2.connect(postgres_url(database).replace("+psycopg2", "")) as conn, conn.cursor() as cur:
        cur.execute("select status, tick_body from job_ticks order by timestamp")
        rows = cur.fetchall()
    bodies = [(status, json.loads(body)) for status, body in rows]
    return [(status, body["timestamp"]) for status, body in bodies if body.get("job_name") == sensor]


def test_the_daemon_keeps_ticking_through_a_code_server_restart(tmp_path: Path) -> None:
    """The code location crashes just before a sensor tick falls due and comes back: the daemon
    reconnects by itself, ticks again, and leaves no tick half-done."""
    sensor, interval = "retraining_sensor", 60  # the sensor's minimum_interval_seconds
    with new_database() as dagster_db, new_database() as mlflow_db, new_redis_prefix() as prefix:
        env = {**os.environ, **production_env(tmp_path / "fti", dagster_db, mlflow_db, prefix)}
        port = free_port()
        home = _instance_home(env, port)
        server = _code_server(env, port, tmp_path / "code-server-1.log")
        daemon = _Process(
            [str(BIN / "dagster-daemon"), "run", "-w", str(home / "workspace.yaml")],
            env,
            tmp_path / "daemon.log",
        )
        try:
            deadline = time.monotonic() + 180
            while not (ticks := _ticks(dagster_db, sensor)) or ticks[-1][0] == "STARTED":
                assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-3000:]
                time.sleep(1)
            first = ticks[-1][1]
            time.sleep(max(0.0, first + interval - 10 - time.time()))
            server.stop(signal.SIGKILL)  # a crash, ten seconds before the next tick is due
            time.sleep(
                max(0.0, first + interval + 2 - time.time())
            )  # the tick falls due while the location is down
            server = _code_server(env, port, tmp_path / "code-server-2.log")
            back = time.time()
            deadline = time.monotonic() + 240
            while not [t for t in _ticks(dagster_db, sensor) if t[1] > back and t[0] != "STARTED"]:
                assert daemon.popen.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
                assert time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()[-3000:]
                time.sleep(2)
            assert daemon.popen.poll() is None
        finally:
            daemon.stop()
            server.stop()
        ticks = _ticks(dagster_db, sensor)
        assert ticks[-1][0] in ("SKIPPED", "SUCCESS") and ticks[-1][1] > back
        assert "STARTED" not in [status for status, _ in ticks]  # no tick left half-done


def test_the_profile_is_chosen_in_one_place_and_fails_loudly_when_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fti_assets.platform.instance import prepare_dagster_home
    from fti_assets.resources.environment import build_resources
    from fti_assets.settings import Settings

    for key in (
        "FTI_MLFLOW_TRACKING_URI",
        "FTI_MLFLOW_ARTIFACTS",
        "FTI_REDIS_URL",
        "FTI_REDIS_PREFIX",
        "DAGSTER_HOME",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("FTI_HOME", str(tmp_path / "fti"))
    monkeypatch.setenv("FTI_ENV", "production")
    with pytest.raises(ValueError, match="FTI_MLFLOW_TRACKING_URI"):
        build_resources(Settings.from_env())
    monkeypatch.setenv("FTI_MLFLOW_TRACKING_URI", postgres_url("mlflow"))
    monkeypatch.setenv("FTI_REDIS_URL", "redis://127.0.0.1:6390/2")
    monkeypatch.setenv("FTI_REDIS_PREFIX", "team")
    resources = build_resources(Settings.from_env())
    assert (resources["online"].backend, resources["online"].redis_url, resources["online"].prefix) == (
        "redis",
        "redis://127.0.0.1:6390/2",
        "team",
    )
    assert resources["registry"].tracking_uri == postgres_url("mlflow")
    assert resources["registry"].artifact_root == str(tmp_path / "fti" / "mlflow" / "artifacts")
    # A leftover local instance file is replaced by the production one, never silently kept.
    (tmp_path / "fti" / "dagster").mkdir(parents=True)
    (tmp_path / "fti" / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    home = prepare_dagster_home(Settings.from_env())
    assert "FTI_DAGSTER_POSTGRES_URL" in (home / "dagster.yaml").read_text()
    monkeypatch.setenv("FTI_ENV", "staging")
    with pytest.raises(ValueError, match="FTI_ENV"):
        build_resources(Settings.from_env())
    monkeypatch.setenv("FTI_ENV", "local")
    monkeypatch.delenv("FTI_MLFLOW_TRACKING_URI")  # set, it would serve a local profile too
    local = build_resources(Settings.from_env())
    assert local["online"].backend == "sqlite" and local["registry"].tracking_uri.startswith("sqlite:///")
