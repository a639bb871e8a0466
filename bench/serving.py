"""Online serving benchmark: the BentoML service, a FastAPI peer, bare LightGBM and bare BentoML.

    python -m bench.serving HOME [--seconds S] [--repeats N]

HOME is an FTI_HOME with a packaged champion (records/flight_delay_bento.json, online.sqlite,
bentoml/). Each server runs alone on loopback with one worker per core and gets one real
flight per request (a flight of the online store's day, all feature groups known) from
``bench/loadgen.py`` in this process (a published flight of the schedule's last day, read from
the as-of store at its prediction time: see ``morning_home``): a warm-up, a closed loop at 1 and 8 connections, then an
open-loop sweep of fixed rates, stopped once a point has errors or p99 > 1 s. Each load point
runs N times (3) back to back; its figures are the medians. The floor is
the champion booster's ``predict`` on a ready 1 x n float64 row, timed call by call; the
framework's floor is ``bench/bare_bento.py``, a BentoML service answering a constant, served and
loaded like ours.

Both servers run on a scratch online store holding every event of HOME up to the end of the
schedule's last day, as the backstop writes it (models and the registry come from HOME), so the
tens of thousands of logged predictions land there and not in HOME's monitoring data. Prints one
JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

# None of these imports BentoML at import time: main() sets BENTOML_HOME before anything does.
from bench.loadgen import Result, closed_loop, open_loop, request_bytes
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.serving.model_store import load_serving_model
from fti_assets.serving.predictor import feature_rows
from fti_assets.serving.published import request_rows
from fti_assets.serving.schemas import FlightRequest
from fti_assets.serving.sqlite_store import OnlineStoreReader
from fti_assets_tests.service_process import ServiceProcess

ROOT = Path(__file__).resolve().parents[1]
RATES = (100, 250, 500, 1000, 1500, 2000, 2500)
WORKERS = os.cpu_count() or 1  # what BentoML's workers="cpu_count" resolves to


def say(message: str) -> None:
    print(f"[serving] {message}", file=sys.stderr, flush=True)


def scratch_home(home: Path, into: Path) -> Path:
    """The online store of HOME, copied; predictions get logged here (the registry stays HOME's)."""
    into.mkdir(parents=True)
    # The backup API copies a consistent snapshot even if a WAL file is still beside the store.
    with sqlite3.connect(home / "online.sqlite") as source, sqlite3.connect(into / "online.sqlite") as target:
        source.backup(target)
    return into


def morning_home(home: Path, into: Path) -> Path:
    """An online store for the servers: every event of HOME known by the end of the schedule's
    last day, applied as the stream applies them, so each flight of that day is served as of
    its prediction time. Predictions get logged here; the registry stays HOME's."""
    from fti_assets.inference.refresh import write_backstop
    from fti_assets.serving.sqlite_store import SqliteWriter

    into.mkdir(parents=True)
    store = OfflineStore(home=str(home))
    last = store.read("flight_schedule")["flight_date"].max()
    writer = SqliteWriter(into / "online.sqlite")
    write_backstop(
        writer, store, store.read("airports"), datetime.combine(last, datetime.max.time(), tzinfo=UTC)
    )
    writer.close()
    return into


def pick_flights(home: Path, n: int, online: Path | None = None) -> list[dict[str, Any]]:
    """Request bodies of real flights of the online store's day whose groups are all known
    (the store under ``online``, else HOME's)."""
    store = OnlineStoreReader((online or home) / "online.sqlite")
    newest = datetime.fromtimestamp(int(store.meta()["newest_event_at"]) / 1e6, UTC)
    schedule = OfflineStore(home=str(home)).read("flight_schedule")
    # The last day whose flights the store holds every event for.
    day = schedule.filter(pl.col("prediction_time") <= newest, pl.col("flight_date") == newest.date())
    if day.is_empty():
        day = schedule.filter(pl.col("flight_date") == schedule["flight_date"].max())
    bodies = [
        {
            "carrier": r["carrier"],
            "flight": r["flight"],
            "tailnum": r["tailnum"],
            "origin": r["origin"],
            "dest": r["dest"],
            "distance": r["distance"],
            "scheduled_departure": r["scheduled_departure"].astimezone(ZoneInfo(r["origin_tz"])).isoformat(),
            "scheduled_arrival": r["scheduled_arrival"].isoformat(),
        }
        for r in day.sort("flight_id").sample(min(day.height, 20 * n), seed=7).iter_rows(named=True)
    ]
    dumped = [FlightRequest.model_validate(b).model_dump() for b in bodies]
    rows = request_rows(dumped, store)
    _, unknown = feature_rows(rows, store, [r["prediction_time"] for r in rows])
    known = [b for b, u in zip(bodies, unknown, strict=True) if not u]
    return (known or bodies)[:n]


def bare_lightgbm(home: Path, online: Path, flight: dict[str, Any], calls: int) -> dict[str, Any]:
    """The floor: the champion booster on the flight's encoded row, nothing else."""
    model = load_serving_model(
        json.loads((home / "records" / "flight_delay_bento.json").read_text())["model_tag"]
    )
    store = OnlineStoreReader(online / "online.sqlite")
    rows = request_rows([FlightRequest.model_validate(flight).model_dump()], store)
    rows, _ = feature_rows(rows, store, [r["prediction_time"] for r in rows])
    row = model.spec.encode_rows(rows, model.codes)  # 1 x n_features, float64, ready
    booster = model.booster
    for _ in range(500):
        booster.predict(row, num_threads=1)
    took = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter_ns()
        booster.predict(row, num_threads=1)
        took[i] = time.perf_counter_ns() - start
    ms = took / 1e6
    return {
        "calls": calls,
        "n_features": int(row.shape[1]),
        "p50_ms": round(float(np.percentile(ms, 50)), 4),
        "p99_ms": round(float(np.percentile(ms, 99)), 4),
        "calls_per_s": round(calls / (took.sum() / 1e9)),
        "delay_probability": float(booster.predict(row, num_threads=1)[0]),
    }


def run(load: Callable[..., Result], *args: Any) -> dict[str, Any]:
    """One load point. The client shares the machine's cores: its CPU seconds say how much."""
    cpu = time.process_time()
    r = load(*args)
    n = len(r.latencies_ms)
    return {
        "requests": n,
        "seconds": round(r.seconds, 2),
        "throughput": round(r.throughput, 1),
        "p50_ms": round(r.percentile(50), 2),
        "p99_ms": round(r.percentile(99), 2),
        "max_ms": round(float(r.latencies_ms.max()), 2) if n else None,
        "errors": r.errors,
        "client_cpu_s": round(time.process_time() - cpu, 2),
    }


def repeated(times: int, load: Callable[..., Result], *args: Any) -> dict[str, Any]:
    """One load point run ``times`` times back to back: each figure is the median of the runs,
    and ``runs`` keeps every run (BENCHMARKS.md shows min / median / max)."""
    runs = [run(load, *args) for _ in range(times)]
    middle = {
        key: statistics.median(r[key] for r in runs) for key in ("throughput", "p50_ms", "p99_ms", "max_ms")
    }
    return {
        **runs[0],
        **middle,
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "runs": runs,
    }


def ask(port: int, flight: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict",
        data=json.dumps({"flights": [flight]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        [prediction] = json.loads(response.read())
    return prediction


def measure(port: int, flights: list[dict[str, Any]], seconds: float, repeats: int) -> dict[str, Any]:
    """Answers for the parity check, then warm-up, closed loops and the open-loop sweep."""
    answers = [ask(port, f) for f in flights]
    # The whole HTTP/1.1 request, built once: the load generator writes it as is.
    payload = request_bytes("127.0.0.1", port, "/predict", json.dumps({"flights": [flights[0]]}).encode())
    # Warm-up with 8 connections so every worker has imported, loaded and run the whole path.
    warm = closed_loop(port, payload, 8, 3.0)
    out: dict[str, Any] = {
        "answers": answers,
        "load_flags": {k: answers[0].get(k) for k in ("early", "past_flight")},
        "warmup_requests": len(warm.latencies_ms),
        "closed": {},
        "open": [],
    }
    for connections in (1, 8):
        out["closed"][f"c{connections}"] = repeated(repeats, closed_loop, port, payload, connections, seconds)
        say(f"closed c={connections}: {out['closed'][f'c{connections}']}")
    for rate in RATES:
        try:
            result = {"rate": rate, **repeated(repeats, open_loop, port, payload, rate, seconds)}
        except (
            OSError,
            EOFError,
            ValueError,
            IndexError,
        ) as error:  # a server dropping connections ends the sweep
            out["open"].append({"rate": rate, "failed": repr(error)})
            break
        out["open"].append(result)
        say(f"open {rate}/s: {result}")
        if result["errors"] or result["p99_ms"] > 1000:
            break
    return out


class BareBentoProcess(ServiceProcess):
    """``bentoml serve bench.bare_bento:ConstantService``: the framework's own floor."""

    cwd = ROOT


class PeerProcess(ServiceProcess):
    """``uvicorn <target>`` with WORKERS processes; the project's start-and-stop otherwise."""

    cwd = ROOT  # where ``bench.fastapi_peer`` imports from
    label = "uvicorn"

    def command(self) -> list[str]:
        # uvicorn's defaults (uvloop, httptools), as under BentoML; its backlog is BentoML's.
        return [
            sys.executable,
            "-m",
            "uvicorn",
            self.target,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(WORKERS),
            "--backlog",
            "2048",
            "--no-access-log",
            "--log-level",
            "warning",
        ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("home", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run of a load point")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each load point (figures are their medians)"
    )
    args = parser.parse_args()
    home = args.home.expanduser().resolve()
    # BentoML fixes its store when first imported: point it at HOME's before any import.
    os.environ.update(BENTOML_HOME=str(home / "bentoml"), BENTOML_DO_NOT_TRACK="true")
    bento = json.loads((home / "records" / "flight_delay_bento.json").read_text())
    scratch = Path(tempfile.mkdtemp(prefix="fti-bench-serving-"))
    homes = {name: morning_home(home, scratch / f"{name}-home") for name in ("bentoml", "fastapi")}
    flights = pick_flights(home, 20, homes["bentoml"])
    say(f"bare LightGBM on {bento['model_tag']}")
    # The machine may be shared: the load average at the start says how quiet it was.
    report: dict[str, Any] = {
        "home": str(home),
        "seconds": args.seconds,
        "repeats": args.repeats,
        "workers": WORKERS,
        "loadavg_1m": os.getloadavg()[0],
        "bento": bento["bento"],
        "model_tag": bento["model_tag"],
        "flight": flights[0],
    }
    report["bare_lightgbm"] = bare_lightgbm(home, homes["bentoml"], flights[0], 20_000)
    # The scratch homes have no model store or registry of their own: both servers use HOME's.
    env = {
        "BENTOML_HOME": str(home / "bentoml"),
        "FTI_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
    }
    servers = {
        "bentoml": ServiceProcess(bento["bento"], homes["bentoml"], env=env, log=scratch / "bentoml.log"),
        "fastapi": PeerProcess(
            "bench.fastapi_peer:app", homes["fastapi"], env=env, log=scratch / "fastapi.log"
        ),
        "bare_bentoml": BareBentoProcess(
            "bench.bare_bento:ConstantService", scratch / "bare-home", env=env, log=scratch / "bare.log"
        ),
    }
    for name, server in servers.items():  # one at a time: each gets both cores (with the client)
        say(f"{name}: {server.target}")
        try:
            report[name] = measure(server.start().port, flights, args.seconds, args.repeats)
        except BaseException:
            say(f"{name} failed: server logs and scratch homes kept in {scratch}")
            raise
        finally:
            server.stop()
    shutil.rmtree(scratch)
    report["bare_bentoml"].pop("answers")  # a constant: nothing to compare
    ours, theirs = report["bentoml"].pop("answers"), report["fastapi"].pop("answers")
    report["answers_compared"] = len(ours)
    pairs = list(zip(ours, theirs, strict=True))
    report["same_answers"] = all(a["delay_probability"] == b["delay_probability"] for a, b in pairs)
    report["same_json"] = ours == theirs  # flight_id, version, as_of and unknown too
    report["bare_matches_servers"] = (
        report["bare_lightgbm"]["delay_probability"] == ours[0]["delay_probability"]
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
