"""Dagster's default run launcher, plus the health check its run monitoring needs on one machine.

The default launcher cannot tell run monitoring whether a run's worker is alive, so a run
killed with kill -9 stays ``STARTED`` forever. Every run worker records its pid in the event
log when it starts; this launcher reports the run failed once that process is gone. It only
sees processes of this machine, which is where the default launcher starts them.
"""

from __future__ import annotations

from pathlib import Path

from dagster import DagsterEventType, DagsterRun
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus


class LocalRunLauncher(DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        pid = self._worker_pid(run.run_id)
        if pid is None:  # the worker has not reported yet: nothing to judge
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker not started yet")
        if worker_alive(pid):
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
        return CheckRunHealthResult(
            WorkerStatus.FAILED, f"run worker process {pid} is gone (killed?)", run_worker_id=str(pid)
        )

    def _worker_pid(self, run_id: str) -> int | None:
        for entry in self._instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
            event = entry.dagster_event
            if event and entry.message.startswith("Started process for run"):
                pid = event.engine_event_data.metadata.get("pid")
                return int(pid.value) if pid is not None else None
        return None


def worker_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a killed worker its parent has not reaped yet is a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"
