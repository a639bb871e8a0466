"""Progress of headless runs such as ``fti demo``: one line per step on stderr, with timings.

The lines come from the run's event log, read through the instance while the run goes on: the
same record the UI shows, and the steps of every process of the run (the multiprocess
executor's too). The run itself logs to ``quiet_logger``, so Dagster's console logger does not
print each of its events as well.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

#: How often the event log is read while the run goes on.
POLL_SECONDS = 0.5


@dg.logger(
    description="Drops every record: a run's progress is read from its event log (fti_assets/platform/progress.py)."
)
def quiet_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("fti.quiet", level=logging.CRITICAL)
    logger.addHandler(logging.NullHandler())
    return logger


#: The run config that selects ``quiet_logger`` (a run config naming no logger gets Dagster's console logger).
QUIET = {"loggers": {"quiet_logger": {}}}


def step_line(entry: dg.EventLogEntry, failures_only: bool = False) -> str | None:
    """The progress line of one event-log entry, or None: a step's start, success (with its
    duration) or failure (the user's own error), a check that did not pass, and a step's own
    log messages at INFO or above."""
    clock = time.strftime("%H:%M:%S", time.localtime(entry.timestamp))
    step = entry.step_key or ""
    event = entry.dagster_event
    if event is None:
        if failures_only or entry.level < logging.INFO or not step:
            return None
        return f"{clock}   {step}: {entry.user_message}"
    kind = event.event_type
    if kind == dg.DagsterEventType.STEP_FAILURE:
        data = event.step_failure_data
        if data.user_failure_data is not None:
            text = data.user_failure_data.description
        else:  # the user's exception, not Dagster's wrapper around it
            error = data.error
            while error.cause is not None:
                error = error.cause
            text = error.message.strip()
        return f"{clock} ✘ {step}: {text}"
    if failures_only:
        return None
    if kind == dg.DagsterEventType.STEP_START:
        return f"{clock} ▶ {step}"
    if kind == dg.DagsterEventType.STEP_SUCCESS:
        return f"{clock} ✔ {step} ({event.event_specific_data.duration_ms / 1000:.1f}s)"
    if kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION and not event.event_specific_data.passed:
        return f"{clock} ! {step}: check '{event.event_specific_data.check_name}' did not pass"
    return None


class _Follower:
    def __init__(self, instance: dg.DagsterInstance, run_id: str, failures_only: bool) -> None:
        self.instance, self.run_id, self.failures_only = instance, run_id, failures_only
        self.cursor: str | None = None

    def poll(self) -> None:
        if self.instance.get_run_by_id(self.run_id) is None:  # not created yet: no file to read
            return
        records = self.instance.get_records_for_run(self.run_id, cursor=self.cursor)
        self.cursor = records.cursor or self.cursor
        for record in records.records:
            if line := step_line(record.event_log_entry, self.failures_only):
                print(line, file=sys.stderr, flush=True)

    def follow(self, done: threading.Event) -> None:
        while not done.wait(POLL_SECONDS):
            self.poll()
        self.poll()  # the run's last events


@contextmanager
def step_progress(instance: dg.DagsterInstance, failures_only: bool = False) -> Iterator[str]:
    """A new run id to execute a run under, and its progress lines on stderr while it runs (its
    failed steps only, with ``failures_only``)."""
    run_id = str(uuid.uuid4())
    done = threading.Event()
    follower = threading.Thread(
        target=_Follower(instance, run_id, failures_only).follow,
        args=(done,),
        name="fti-progress",
        daemon=True,
    )
    follower.start()
    try:
        yield run_id
    finally:
        done.set()
        follower.join()
