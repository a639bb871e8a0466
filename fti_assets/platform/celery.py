"""Steps on Celery workers: Dagster's Celery executor (dagster-celery) on a RabbitMQ broker.

With ``FTI_EXECUTOR=celery`` every run of the code location sends each step to the broker as
a task, and ``fti worker`` processes, on this host or others, execute them. Workers share what
a cluster shares: the PostgreSQL instance, MLflow, Redis and ``FTI_HOME`` (a shared volume).

Two guards around dagster-celery's task, both on the worker:

- **Same deployment.** The run stamps each task with a digest of the settings that decide
  where data is read and written (``deployment``); a worker whose own settings differ (another
  ``FTI_HOME``, source, MLflow or Redis) refuses the step, naming the settings, instead of
  writing elsewhere.
- **A lost worker costs one retry.** Tasks are acknowledged after the step (``task_acks_late``),
  so when a worker dies mid-step (kill -9, out of memory, a lost host) the broker hands the step
  to another worker. A step whose workers died ``MAX_LOST_STARTS`` times is refused with that
  reason, so a step that kills every worker fails the run instead of going round forever.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import dagster as dg

from fti_assets.settings import Settings

if TYPE_CHECKING:
    from celery import Celery

TASK = "execute_plan"
"""dagster-celery's task that executes one step."""
HEADER = "fti_deployment"
"""The task header that carries the sending run's ``deployment`` digest."""
MAX_LOST_STARTS = 2
"""A step is started at most this many times on workers that die before finishing it."""


class WorkerRefusal(RuntimeError):
    """A worker would not execute a step: the message says why and what to do."""


def require_production(settings: Settings) -> None:
    if not settings.production:
        raise ValueError(
            "FTI_EXECUTOR=celery needs FTI_ENV=production: workers on other hosts share the run's "
            "PostgreSQL instance, MLflow and Redis, not the local profile's SQLite files"
        )


def deployment(settings: Settings) -> dict[str, str]:
    """Each setting a worker must share with the run that sent it a step, as a short digest
    (URLs may hold passwords, and a task header is readable on the broker)."""
    values = {
        "FTI_HOME": str(settings.home),
        "FTI_SOURCE": settings.source,
        "FTI_ENV": settings.env,
        "FTI_FIRST_DAY": settings.first_day.isoformat(),
        "FTI_LAST_DAY": settings.last_day.isoformat(),
        "FTI_SCHEDULE_LEAD_DAYS": str(settings.schedule_lead_days),
        "FTI_MLFLOW_TRACKING_URI": settings.tracking_uri,
        "FTI_MLFLOW_ARTIFACTS": settings.artifact_root,
        "FTI_HISTORY_URL": settings.model_history_url,
        "FTI_REDIS_URL": settings.redis_url,
        "FTI_REDIS_PREFIX": settings.redis_prefix,
        # The policy's content: its path depends on where each host installed the project.
        "FTI_POLICY": hashlib.sha256(settings.policy.read_bytes()).hexdigest(),
    }
    return {name: hashlib.sha256(value.encode()).hexdigest()[:16] for name, value in values.items()}


def celery_config(settings: Settings) -> dict[str, Any]:
    """dagster-celery's executor config, shared by the runs and ``fti worker``."""
    return {
        "broker": settings.celery_broker,
        "backend": settings.celery_backend,
        "config_source": {
            # Acknowledged when the step ends, and given back to the broker if the worker's
            # process dies: a killed worker's step goes to another worker.
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            # A worker holds one step beyond those it executes, never a queue of them.
            "worker_prefetch_multiplier": 1,
            "broker_connection_retry_on_startup": True,
        },
    }


def executor_for(settings: Settings) -> dg.ExecutorDefinition:
    """Dagster's Celery executor for ``settings``; each task it sends carries the deployment digest."""
    from celery.signals import before_task_publish
    from dagster_celery import celery_executor as executor

    require_production(settings)
    stamp = json.dumps(deployment(settings))

    def add_stamp(sender: str | None = None, headers: dict | None = None, **_: Any) -> None:
        if sender == TASK and headers is not None:
            headers[HEADER] = stamp

    # One receiver per process, the latest settings' (the definitions may be built again).
    before_task_publish.connect(add_stamp, weak=False, dispatch_uid=HEADER)
    return executor.configured(celery_config(settings), name="celery")


def _step_args(packed_args: dict) -> Any:
    """dagster-celery's packed ExecuteStepArgs (run id, step keys, instance) read back."""
    return dg.deserialize_value(json.dumps(packed_args))


def _lost_starts(args: Any) -> int:
    """How many times the step started in its run without finishing nor being retried."""
    counted = {
        dg.DagsterEventType.STEP_START: 1,
        dg.DagsterEventType.STEP_UP_FOR_RETRY: -1,
        dg.DagsterEventType.STEP_SUCCESS: -1,
        dg.DagsterEventType.STEP_FAILURE: -1,
    }
    step_key = args.step_keys_to_execute[0]
    with dg.DagsterInstance.from_ref(args.instance_ref) as instance:
        entries = instance.all_logs(args.run_id, of_type=set(counted))
    return sum(
        counted[entry.dagster_event.event_type]
        for entry in entries
        if entry.dagster_event is not None and entry.dagster_event.step_key == step_key
    )


def _refuse(args: Any, reason: str) -> WorkerRefusal:
    """The refusal, after freeing the step's pool slot: the run fails without a failure event for
    the step, so its executor would never free it, and the pool would stay taken."""
    try:
        with dg.DagsterInstance.from_ref(args.instance_ref) as instance:
            instance.event_log_storage.free_concurrency_slot_for_step(
                args.run_id, args.step_keys_to_execute[0]
            )
    except Exception as exc:  # the refusal is what the run must report; the slot is secondary
        reason += f" (the step's pool slot could not be freed: {exc})"
    return WorkerRefusal(reason)


def worker_app(settings: Settings) -> Celery:
    """The Celery app of ``fti worker``: dagster-celery's, with the guards of this module."""
    from celery import Task
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    require_production(settings)
    own = deployment(settings)

    class GuardedTask(Task):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            sent = self.request.get(HEADER)
            if sent is None:
                raise WorkerRefusal(
                    "the step came without the sending run's settings: it was not sent by "
                    "fti_assets' Celery executor (FTI_EXECUTOR=celery)"
                )
            differ = sorted(name for name, digest in json.loads(sent).items() if own.get(name) != digest)
            if differ:
                raise _refuse(
                    _step_args(kwargs["execute_step_args_packed"]),
                    f"worker {self.request.hostname} has other settings than the run that sent the step: "
                    f"{', '.join(differ)}. Start workers with the run's FTI_* environment.",
                )
            if (self.request.delivery_info or {}).get("redelivered"):
                step = _step_args(kwargs["execute_step_args_packed"])
                lost = _lost_starts(step)
                if lost >= MAX_LOST_STARTS:
                    raise _refuse(
                        step,
                        f"step {step.step_keys_to_execute[0]} of run {step.run_id} was started {lost} times "
                        "on workers that died before finishing it (killed, or out of memory?); it is not "
                        "started again. Find the cause, then re-execute the run from failure.",
                    )
            return super().__call__(*args, **kwargs)

    app = make_app(CeleryExecutor.for_cli(**celery_config(settings)).app_args())
    create_task(app, base=GuardedTask)
    return app


def run_worker(settings: Settings, name: str, concurrency: int, loglevel: str = "INFO") -> None:
    """Take steps from the broker until stopped: ``concurrency`` at a time, each in a process
    of the worker's pool (kept between steps, so the code location is imported once)."""
    app = worker_app(settings)
    app.worker_main(
        [
            "worker",
            f"--hostname={name}@%h",
            f"--concurrency={concurrency}",
            "--prefetch-multiplier=1",
            f"--loglevel={loglevel}",
            "--without-mingle",
            "--without-gossip",
        ]
    )
