"""Orchestration costs: code-location import, the full-year demo, and one new day.

``python -m bench.orchestration import REPEATS``: seconds to import the code location
(``fti_assets.definitions``) and, as its peer, ``dagster`` alone, each in a fresh interpreter.

``python -m bench.orchestration demo HOME [START END]``: ``fti demo`` in a fresh HOME, its wall
time, and every step's duration from the Dagster instance's STEP_SUCCESS events.

``python -m bench.orchestration day HOME DAY REPEATS``: the daily pipeline (features, online
refresh, batch predictions, monitoring) for one day in an existing HOME, timed around the run.

Each prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

BIN = Path(sys.executable).parent


def environment(home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FTI_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster"),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "BENTOML_DO_NOT_TRACK": "true",
    }


def import_seconds(module: str, repeats: int) -> list[float]:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return [
        round(float(subprocess.check_output([sys.executable, "-c", code], text=True)), 3)
        for _ in range(repeats)
    ]


def step_durations(home: Path) -> dict[str, float]:
    """Seconds per step (asset), summed over every run of the instance."""
    import dagster as dg

    seconds: dict[str, float] = defaultdict(float)
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        for run in instance.get_run_records():
            for record in instance.get_records_for_run(
                run.dagster_run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS
            ).records:
                event = record.event_log_entry.dagster_event
                seconds[event.step_key] += event.event_specific_data.duration_ms / 1000
    return {k: round(v, 3) for k, v in sorted(seconds.items(), key=lambda kv: -kv[1])}


def demo(home: Path, start: str, end: str) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    subprocess.run(
        [str(BIN / "fti"), "demo", "--start", start, "--end", end],
        env=environment(home),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - began
    steps = step_durations(home)
    return {
        "window": [start, end],
        "wall": round(wall, 2),
        "steps_total": round(sum(steps.values()), 2),
        "steps": steps,
    }


def day_cost(home: Path, day: date, repeats: int) -> dict:
    """The daily pipeline for ``day``, ``repeats`` times, as the replay runs it (no sensor ticks)."""
    os.environ.update(environment(home))
    from fti_assets.commands.replay import Replay
    from fti_assets.settings import Settings

    replay = Replay(Settings.from_env())
    config = {
        "ops": {
            name: {"config": {"html": "last"}} for name in ("feature_drift_report", "prediction_drift_report")
        }
    }
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        result = replay.run_job("daily_pipeline", config, {"fti/trigger": "bench"}, partition=day.isoformat())
        seconds.append(round(time.perf_counter() - began, 3))
        if not result.success:
            raise RuntimeError(f"the daily pipeline failed for {day}")
        skipped = sorted({e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"})
        if skipped:  # a day without inference or monitoring (no champion yet) is not a day's cost
            raise RuntimeError(
                f"the daily pipeline for {day} skipped {skipped}: a store without a champion skips "
                "inference and monitoring"
            )
    partitions = len(replay.store.partitions("flight_schedule"))
    return {"day": day.isoformat(), "store_days": partitions, "seconds": seconds}


def main() -> None:
    what, args = sys.argv[1], sys.argv[2:]
    if what == "import":
        n = int(args[0])
        out = {
            "definitions": import_seconds("fti_assets.definitions", n),
            "dagster": import_seconds("dagster", n),
        }
    elif what == "demo":
        out = demo(Path(args[0]), *(args[1:3] or ["2013-01-01", "2013-12-31"]))
    else:
        out = day_cost(Path(args[0]), date.fromisoformat(args[1]), int(args[2]))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
