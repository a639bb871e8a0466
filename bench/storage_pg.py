"""The production profile's instance storage: dagster-postgres's stock storage against the
storage accelerator's pooled one, on a real PostgreSQL (127.0.0.1:5432).

``python -m bench.storage_pg START END ROUNDS``: the raw and feature assets of the test's
selection over START..END in one in-process run, on a new database each time, the two storages
alternating ROUNDS times: wall seconds and the connections the run opened. Prints one JSON line.
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


def one_run(start: str, end: str, accelerated: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp, new_database() as dagster_db, new_database() as mlflow_db:
        with new_redis_prefix() as prefix:
            env = {**os.environ, **production_env(Path(tmp) / "fti", dagster_db, mlflow_db, prefix)}
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
            return {"wall": round(wall, 2), "connections": sessions_opened(dagster_db)}


def main() -> None:
    start, end, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out: dict[str, list[dict]] = {"accelerated": [], "stock": []}
    for _ in range(rounds):
        for name in out:
            out[name].append(one_run(start, end, accelerated=name == "accelerated"))
    print(json.dumps({"window": [start, end], **out}))


if __name__ == "__main__":
    main()
