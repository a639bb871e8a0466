"""Steps on Celery workers against the multiprocess executor (README, "Steps on Celery workers").

    python -m bench.celery HOME [--start 2013-01-01 --end 2013-12-31]

Runs the feature backfill of the window (``feature_pipeline``, one run) and then the training
dataset in its monthly pieces three ways, each in a fresh ``HOME/<executor>`` with new
PostgreSQL databases, Redis prefix and RabbitMQ virtual host: the production profile's
multiprocess executor, then ``FTI_EXECUTOR=celery`` with one and with two ``fti worker``
processes, all on the same cores. For every run it records the wall time of the command, the
time spent inside steps, and each step's start-up: from the moment a process takes the step
(the multiprocess executor launching its subprocess; a Celery worker taking the task) to the
step's start. The stored tables of the three are compared by content hash. Servers come
from ``FTI_BENCH_POSTGRES``, ``FTI_BENCH_REDIS`` and ``FTI_BENCH_RABBITMQ``
(``127.0.0.1:5672``, guest/guest; virtual hosts made with ``rabbitmqctl``). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.production import POSTGRES, REDIS, _admin, _drop_keys

RABBITMQ = os.environ.get("FTI_BENCH_RABBITMQ", "127.0.0.1:5672")
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]
TABLES = (
    "flights",
    "weather",
    "flight_schedule",
    "flight_outcomes",
    "origin_weather",
    "carrier_delay_stats",
    "route_delay_stats",
    "plane_last_arrival",
    "origin_congestion",
    "training_dataset",
)
SETUPS = (("multiprocess", 0), ("celery", 1), ("celery", 2))


def say(message: str) -> None:
    print(f"[celery] {message}", file=sys.stderr, flush=True)


def _workers(env: dict[str, str], folder: Path, count: int) -> list[subprocess.Popen]:
    started = []
    for i in range(count):
        home = folder / f"worker-{i}"
        home.mkdir(parents=True)
        log = open(home / "worker.log", "w")  # noqa: SIM115 - kept open for the worker's life
        own = {k: v for k, v in env.items() if k != "DAGSTER_HOME"}
        started.append(
            subprocess.Popen(
                [str(BIN / "fti"), "worker", "--name", f"bench-{i}"],
                cwd=home,
                env=own,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        ready = f"bench-{i}@{socket.gethostname()} ready."
        while ready not in (home / "worker.log").read_text():
            if started[-1].poll() is not None:
                raise RuntimeError((home / "worker.log").read_text()[-3000:])
            time.sleep(0.2)
    return started


def _timed(args: list[str], env: dict[str, str], log: Path) -> float:
    began = time.perf_counter()
    with open(log, "w") as out:
        code = subprocess.run(
            [str(BIN / "dagster"), *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    if code.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {log.read_text()[-3000:]}")
    return round(time.perf_counter() - began, 2)


def _steps(env: dict[str, str], run_id: str) -> dict[str, Any]:
    """Inside-step seconds and each step's start-up, from the run's event log.

    A step's start-up runs from the moment a process takes it (the multiprocess executor's
    "launching subprocess" event; a Celery worker's "Executing steps") to its STEP_START; under
    Celery the step first waits in the broker's queue (from "Submitting celery task"), until a
    worker is free."""
    import dagster as dg

    os.environ["FTI_DAGSTER_POSTGRES_URL"] = env["FTI_DAGSTER_POSTGRES_URL"]
    handed, taken, started, inside = {}, {}, {}, {}
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None or event.step_key is None:
                continue
            kind, message, key = event.event_type, event.message or "", event.step_key
            if kind == dg.DagsterEventType.STEP_WORKER_STARTING:
                handed[key] = taken[key] = entry.timestamp
            elif message.startswith("Submitting celery task"):
                handed[key] = entry.timestamp
            elif message.startswith("[CeleryExecutor] Executing steps"):
                taken[key] = entry.timestamp
            elif kind == dg.DagsterEventType.STEP_START:
                started[key] = entry.timestamp
            elif kind == dg.DagsterEventType.STEP_SUCCESS:
                inside[key] = entry.timestamp - started[key]
    startup = [started[k] - taken[k] for k in inside]
    queued = [taken[k] - handed[k] for k in inside]
    return {
        "steps": len(inside),
        "inside_s": round(sum(inside.values()), 2),
        "startup_median_s": round(statistics.median(startup), 3),
        "startup_total_s": round(sum(startup), 2),
        "queued_total_s": round(sum(queued), 2),
    }


def _hashes(home: Path) -> dict[str, str]:
    from fti_assets.domain.retrieval import content_hash
    from fti_assets.resources.offline_store import OfflineStore

    store, out = OfflineStore(home=str(home)), {}
    for table in TABLES:
        frame = store.read(table)
        canonical = frame.select(sorted(frame.columns)).sort(sorted(frame.columns))
        out[table] = content_hash(canonical.with_row_index("_row"), "_row")
    return out


def setup(folder: Path, executor: str, workers: int, start: str, end: str) -> dict[str, Any]:
    import dagster as dg

    from fti_assets.platform.instance import write_instance_file

    tag = secrets.token_hex(4)
    dagster_db, mlflow_db, prefix, vhost = (
        f"bench_{what}_{tag}" for what in ("dagster", "mlflow", "redis", "vhost")
    )
    for db in (dagster_db, mlflow_db):
        _admin(f'CREATE DATABASE "{db}"')
    subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    home = folder / "fti"
    env = {
        **os.environ,
        "FTI_ENV": "production",
        "FTI_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "FTI_DAGSTER_POSTGRES_URL": f"{POSTGRES}/{dagster_db}",
        "FTI_MLFLOW_TRACKING_URI": f"{POSTGRES}/{mlflow_db}",
        "FTI_MLFLOW_ARTIFACTS": str(folder / "mlflow-artifacts"),
        "FTI_REDIS_URL": REDIS,
        "FTI_REDIS_PREFIX": prefix,
        "FTI_EXECUTOR": executor,
        "FTI_CELERY_BROKER": f"pyamqp://guest:guest@{RABBITMQ}/{vhost}",
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "BENTOML_DO_NOT_TRACK": "true",
    }
    write_instance_file(home / "dagster", production=True)
    started = _workers(env, folder, workers)
    try:
        tags = json.dumps(
            {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}
        )
        out: dict[str, Any] = {"executor": executor, "workers": workers}
        for name, args in (
            (
                "features",
                ["job", "execute", "-m", "fti_assets.definitions", "-j", "feature_pipeline", "--tags", tags],
            ),
            (
                "dataset",
                ["asset", "materialize", "-m", "fti_assets.definitions", "--select", "training_dataset"],
            ),
        ):
            say(f"{executor} ({workers} workers): {name}")
            wall = _timed(args, env, folder / f"{name}.log")
            os.environ["FTI_DAGSTER_POSTGRES_URL"] = env["FTI_DAGSTER_POSTGRES_URL"]
            with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
                run_id = instance.get_runs(limit=1)[0].run_id
            out[name] = {"wall_s": wall, **_steps(env, run_id)}
        out["hashes"] = _hashes(home)
        return out
    finally:
        for worker in started:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=120)
        for db in (dagster_db, mlflow_db):
            _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        _drop_keys(prefix)
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("home", type=Path)
    parser.add_argument("--start", default="2013-01-01")
    parser.add_argument("--end", default="2013-12-31")
    args = parser.parse_args()
    shutil.rmtree(args.home, ignore_errors=True)
    runs = [setup(args.home / f"{e}-{n}", e, n, args.start, args.end) for e, n in SETUPS]
    reference = runs[0].pop("hashes")
    for run in runs[1:]:
        run["tables_equal"] = run.pop("hashes") == reference
    print(
        json.dumps(
            {"start": args.start, "end": args.end, "cores": len(os.sched_getaffinity(0)), "runs": runs}
        )
    )


if __name__ == "__main__":
    main()
