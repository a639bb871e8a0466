"""Benchmarks of the production profile (README, "Production profile").

    python -m bench.production demo HOME [START END]   # fti demo with Dagster and MLflow on PostgreSQL
    python -m bench.production serving HOME [--seconds S]

``demo`` runs ``bench.orchestration``'s demo with FTI_ENV=production on two new PostgreSQL
databases and a new Redis prefix (dropped afterwards); its step durations come from the
PostgreSQL event log. ``serving`` takes HOME, an FTI_HOME with a packaged champion (the
bench's local demo), and serves its online store's refresh from SQLite and from Redis (the
same refresh, written by ``redis_store``) with ``bentoml serve``: an open loop at 100 req/s
each, then the throughput of one Redis replica against two side by side (closed loops, 8
connections in all). Servers PostgreSQL and Redis come from ``FTI_BENCH_POSTGRES``
(``postgresql+psycopg2://postgres@127.0.0.1:5432``) and ``FTI_BENCH_REDIS``. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

POSTGRES = os.environ.get("FTI_BENCH_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432")
REDIS = os.environ.get("FTI_BENCH_REDIS", "redis://127.0.0.1:6379/0")
RATE = 100


def say(message: str) -> None:
    print(f"[production] {message}", file=sys.stderr, flush=True)


def _admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(POSTGRES.replace("+psycopg2", "") + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def _drop_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


def demo_on_postgres(home: Path, start: str, end: str) -> dict[str, Any]:
    from bench.orchestration import demo

    tag = secrets.token_hex(4)
    dagster_db, mlflow_db, prefix = f"bench_dagster_{tag}", f"bench_mlflow_{tag}", f"bench_{tag}"
    for db in (dagster_db, mlflow_db):
        _admin(f'CREATE DATABASE "{db}"')
    os.environ.update(
        FTI_ENV="production",
        FTI_DAGSTER_POSTGRES_URL=f"{POSTGRES}/{dagster_db}",
        FTI_MLFLOW_TRACKING_URI=f"{POSTGRES}/{mlflow_db}",
        FTI_MLFLOW_ARTIFACTS=str(home / "mlflow-artifacts"),
        FTI_REDIS_URL=REDIS,
        FTI_REDIS_PREFIX=prefix,
    )
    try:
        return {**demo(home, start, end), "storage": "postgres"}
    finally:
        for db in (dagster_db, mlflow_db):
            _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        _drop_keys(prefix)


def _redis_copy(home: Path, prefix: str) -> str:
    """HOME's online store written to Redis: the same offline events applied by the same writer."""
    from fti_assets.inference.refresh import write_backstop
    from fti_assets.resources.offline_store import OfflineStore
    from fti_assets.serving.redis_store import RedisWriter
    from fti_assets.serving.sqlite_store import OnlineStoreReader

    newest = int(OnlineStoreReader(home / "online.sqlite").meta()["newest_event_at"])
    as_of = datetime.fromtimestamp(newest / 1e6, UTC)
    store = OfflineStore(home=str(home))
    writer = RedisWriter(REDIS, prefix)
    write_backstop(writer, store, store.read("airports"), as_of)
    writer.close()
    return as_of.isoformat()


def _together(ports: list[int], payload_for, connections: int, seconds: float) -> dict[str, Any]:
    """Closed loops on every port at once, ``connections`` in all; throughput summed."""
    import numpy as np

    from bench.loadgen import closed_loop

    results: list = [None] * len(ports)

    def load(i: int) -> None:
        results[i] = closed_loop(ports[i], payload_for(ports[i]), connections // len(ports), seconds)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(len(ports))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies = np.concatenate([r.latencies_ms for r in results])
    return {
        "replicas": len(ports),
        "connections": connections,
        "throughput": round(sum(r.throughput for r in results), 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "errors": sum(r.errors for r in results),
    }


def serving(home: Path, seconds: float) -> dict[str, Any]:
    os.environ.update(BENTOML_HOME=str(home / "bentoml"), BENTOML_DO_NOT_TRACK="true")
    from bench.loadgen import closed_loop, open_loop, request_bytes
    from bench.serving import ask, pick_flights, run, scratch_home
    from fti_assets_tests.service_process import ServiceProcess

    bento = json.loads((home / "records" / "flight_delay_bento.json").read_text())
    flights = pick_flights(home, 20)
    prefix = f"bench_{secrets.token_hex(4)}"
    scratch = Path(tempfile.mkdtemp(prefix="fti-bench-production-"))
    report: dict[str, Any] = {
        "seconds": seconds,
        "rate": RATE,
        "loadavg_1m": os.getloadavg()[0],
        "bento": bento["bento"],
    }

    def payload(port: int) -> bytes:
        return request_bytes("127.0.0.1", port, "/predict", json.dumps({"flights": [flights[0]]}).encode())

    def server(name: str, env: dict[str, str]) -> ServiceProcess:
        # The registry stays HOME's: the service resolves its champion from HOME's aliases.
        registry = {"FTI_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"}
        return ServiceProcess(
            bento["bento"],
            scratch_home(home, scratch / name),
            env={"BENTOML_HOME": str(home / "bentoml"), **registry, **env},
            log=scratch / f"{name}.log",
        )

    production = {"FTI_ENV": "production", "FTI_REDIS_URL": REDIS, "FTI_REDIS_PREFIX": prefix}
    try:
        report["as_of"] = _redis_copy(home, prefix)
        answers = {}
        for name, env in (("sqlite", {"FTI_ENV": "local"}), ("redis", production)):
            say(f"{name}: open loop at {RATE} req/s")
            with server(name, env) as s:
                answers[name] = [ask(s.port, f) for f in flights]
                closed_loop(s.port, payload(s.port), 8, 3.0)  # warm-up: every worker on the whole path
                report[name] = run(open_loop, s.port, payload(s.port), RATE, seconds)
                if name == "redis":
                    report["one_replica"] = _together([s.port], payload, 8, seconds)
            say(f"{name}: {report[name]}")
        # Fields where any flight's answer differs between the two stores (none: the same answers).
        report["differing_fields"] = sorted(
            {
                k
                for a, b in zip(answers["sqlite"], answers["redis"], strict=True)
                for k in a
                if a[k] != b.get(k)
            }
        )
        say("two Redis replicas side by side")
        with server("replica-a", production) as a, server("replica-b", production) as b:
            for s in (a, b):
                closed_loop(s.port, payload(s.port), 4, 3.0)
            report["two_replicas"] = _together([a.port, b.port], payload, 8, seconds)
        say(f"one replica {report['one_replica']}, two {report['two_replicas']}")
    finally:
        _drop_keys(prefix)
    shutil.rmtree(scratch)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["demo", "serving"])
    parser.add_argument("home", type=Path)
    parser.add_argument("window", nargs="*", default=["2013-01-01", "2013-12-31"])
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    home = args.home.expanduser().resolve()
    out = demo_on_postgres(home, *args.window) if args.what == "demo" else serving(home, args.seconds)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
