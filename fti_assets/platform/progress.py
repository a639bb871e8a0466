"""A Dagster logger that prints one line per step, for headless runs such as ``fti demo``."""

from __future__ import annotations

import logging
import sys
import time

import dagster as dg

_SHOWN = {"STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "ASSET_CHECK_EVALUATION"}


class _ProgressHandler(logging.Handler):
    def __init__(self, failures_only: bool = False) -> None:
        super().__init__()
        self.started: dict[str, float] = {}
        self.failures_only = failures_only

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", {}) or {}
        event = meta.get("dagster_event")
        step = meta.get("step_key") or ""
        clock = time.strftime("%H:%M:%S")
        if self.failures_only and (event is None or event.event_type_value != "STEP_FAILURE"):
            return
        if event is None:
            if record.levelno >= logging.INFO and step:
                print(f"{clock}   {step}: {meta.get('orig_message', record.getMessage())}", file=sys.stderr)
            return
        kind = event.event_type_value
        if kind not in _SHOWN:
            return
        if kind == "STEP_START":
            self.started[step] = time.monotonic()
            print(f"{clock} ▶ {step}", file=sys.stderr)
        elif kind == "STEP_SUCCESS":
            took = time.monotonic() - self.started.get(step, time.monotonic())
            print(f"{clock} ✔ {step} ({took:.1f}s)", file=sys.stderr)
        elif kind == "STEP_FAILURE":
            data = event.step_failure_data
            if data.user_failure_data is not None:
                text = data.user_failure_data.description
            else:  # the user's exception, not Dagster's wrapper around it
                error = data.error
                while error.cause is not None:
                    error = error.cause
                text = error.message.strip()
            print(f"{clock} ✘ {step}: {text}", file=sys.stderr)
        elif not event.event_specific_data.passed:
            check = event.event_specific_data.check_name
            print(f"{clock} ! {step}: check '{check}' did not pass", file=sys.stderr)


@dg.logger(
    config_schema={
        "failures_only": dg.Field(bool, default_value=False, description="Print failed steps only.")
    },
    description="One line per step on stderr, with timings: progress for headless runs.",
)
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("fti.progress", level=logging.DEBUG)
    logger.addHandler(_ProgressHandler(init_context.logger_config["failures_only"]))
    return logger
