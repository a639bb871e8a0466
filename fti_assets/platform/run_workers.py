"""Runs whose worker process died (kill -9, an OOM kill) are marked failed, not left STARTED.

Dagster's default run launcher starts each run's worker as a process of the code server. A
worker killed alone is reported by that code server; killed together with it (a crash of
``dagster dev``, an OOM kill of both), nobody is left to tell, and Dagster's run monitoring
cannot ask the default launcher whether the worker lives. This sensor asks the operating system
(``psutil``, portable to macOS and Windows): each run worker records its pid in the run's event
log when it starts (an engine event outside any step, as Dagster writes it), and a STARTED run
whose process is gone is reported failed. It sees the processes of this machine, which is where
the default launcher starts them; the local profile's definitions include it.
"""

from __future__ import annotations

import dagster as dg

#: How often the sensor looks (seconds); Dagster's run monitoring polls every 30 s in ``dagster.yaml``.
INTERVAL_SECONDS = 30


def worker_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The pid of the run's worker and when it recorded it, from the first engine event outside
    any step that carries a ``pid`` (a run worker's own process), or None before it starts."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    for record in records:
        event = record.event_log_entry.dagster_event
        metadata = event.engine_event_data.metadata if event and event.engine_event_data else {}
        if event and event.step_key is None and "pid" in metadata:
            return int(metadata["pid"].value), record.event_log_entry.timestamp
    return None


def worker_alive(pid: int, since: float | None = None) -> bool:
    """Whether process ``pid`` runs (a zombie, killed and not yet reaped, does not), and, given
    ``since``, whether it is the process that existed then (a pid can be reused)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return since is None or process.create_time() <= since + 1
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Report failed every STARTED run whose worker process is gone; their ids."""
    failed = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        worker = worker_pid(instance, run.run_id)
        if worker is None or worker_alive(*worker):
            continue
        # A worker writes its run's end before it exits: a dead worker's run that is still
        # STARTED stays so for good, and this is no race with it.
        current = instance.get_run_by_id(run.run_id)
        if current is not None and current.status == dg.DagsterRunStatus.STARTED:
            instance.report_run_failed(current, f"run worker process {worker[0]} is gone (killed?)")
            failed.append(run.run_id)
    return failed


@dg.sensor(
    name="dead_run_worker_sensor",
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed a STARTED run whose worker process is gone (kill -9, OOM), "
    "which the default run launcher cannot report when its code server died too.",
)
def dead_run_worker_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    failed = fail_dead_runs(context.instance)
    for run_id in failed:
        context.log.warning(f"run {run_id}: its worker process is gone; marked failed")
    return dg.SkipReason(
        f"marked failed: {', '.join(failed)}" if failed else "every started run's worker is alive"
    )
