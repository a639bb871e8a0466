"""The instance's storage under one partitioned run: Dagster's stock storage against the storage
accelerator, on the local profile's SQLite files or the production profile's PostgreSQL
(127.0.0.1:5432).

``python -m bench.storage_runs sqlite|postgres START END ROUNDS``: raw and feature assets
(flights, schedules, weather and the feature groups built from them) over START..END in one
in-process run, on a new instance each time (a new database on PostgreSQL), the two storages
alternating ROUNDS times: wall seconds and, on PostgreSQL, the connections the run opened.
Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fti_assets_tests.servers import new_database, new_redis_prefix, production_env, sessions_opened

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SELECT = "flights,schedules,weather,airports,flight_schedule,origin_weather"


def one_run(profile: str, start: str, end: str, accelerated: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp, new_database() as dagster_db, new_database() as mlflow_db:
        with new_redis_prefix() as prefix:
            home = Path(tmp) / "fti"
            if profile == "postgres":
                env = {**os.environ, **production_env(home, dagster_db, mlflow_db, prefix)}
            else:
                env = {
                    **os.environ,
                    "FTI_ENV": "local",
                    "FTI_HOME": str(home),
                    "DAGSTER_HOME": str(home / "dagster"),
                }
            env["FTI_STORAGE_ACCELERATOR"] = "1" if accelerated else "0"
            env.pop("DAGSTER_EVENT_BATCH_SIZE", None)  # as the instance file's writer leaves it
            # The instance file as `fti` writes it, and the variables it sets (batched writes).
            exported = subprocess.run(
                [sys.executable, "-m", "fti_assets.platform.instance", env["DAGSTER_HOME"]],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
            env.update(dict(line.split("=", 1) for line in exported))
            began = time.perf_counter()
            done = subprocess.run(
                [
                    str(BIN / "dagster"),
                    "asset",
                    "materialize",
                    "-m",
                    "fti_assets.definitions",
                    "--select",
                    SELECT,
                    "--partition-range",
                    f"{start}...{end}",
                    "--config-json",
                    '{"execution": {"config": {"in_process": {}}}}',
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - began
            if done.returncode != 0:
                raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
            if profile == "postgres":
                return {"wall": round(wall, 2), "connections": sessions_opened(dagster_db)}
            return {"wall": round(wall, 2)}


def main() -> None:
    profile, start, end, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    out: dict[str, list[dict]] = {"accelerated": [], "stock": []}
    for _ in range(rounds):
        for name in out:
            out[name].append(one_run(profile, start, end, accelerated=name == "accelerated"))
    print(json.dumps({"profile": profile, "window": [start, end], **out}))


if __name__ == "__main__":
    main()
