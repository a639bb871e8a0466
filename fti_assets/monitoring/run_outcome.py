"""A run's outcome in one line, as the run tag ``fti/outcome`` (shown in the run's header).

After a run ends, the Dagster UI shows its event log; what a person wants first is the
outcome: the rows written, the model trained and its AUC, the gates' verdict, or, for a
failure, what failed and what to do, before any stack trace. Two run status sensors write it
as a run tag (the Runs list shows it) and as the last event of the run's log (where the run
page opens once the run has ended).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

OUTCOME_TAG = "fti/outcome"
MAX_CHARS = 1000


@dataclass
class RunFacts:
    """What a run's event log says, reduced to what the outcome line needs."""

    rows: dict[str, int] = field(default_factory=dict)
    """Rows written per asset (its last materialization's ``dagster/row_count``)."""
    values: dict[str, dict] = field(default_factory=dict)
    """Per asset, the last materialization's plain metadata values."""
    failed_checks: list[tuple[str, str, str]] = field(default_factory=list)
    """(asset, check, why) of checks that did not pass."""
    failure: tuple[str, str, str] | None = None
    """(step, error class, message) of the first failed step."""


def facts(instance: dg.DagsterInstance, run_id: str) -> RunFacts:
    """Read a run's materializations, check evaluations and step failures."""
    found = RunFacts()
    kinds = {
        dg.DagsterEventType.ASSET_MATERIALIZATION,
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
        dg.DagsterEventType.STEP_FAILURE,
    }
    for kind in kinds:
        for record in instance.get_records_for_run(run_id, of_type=kind, limit=10_000).records:
            event = record.event_log_entry.dagster_event
            data = event.event_specific_data
            if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
                name = data.materialization.asset_key.to_user_string()
                values = {k: v.value for k, v in data.materialization.metadata.items()}
                found.values[name] = values
                if isinstance(values.get("dagster/row_count"), int):
                    found.rows[name] = values["dagster/row_count"]
            elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION and not data.passed:
                why = data.metadata.get("why")
                found.failed_checks.append(
                    (data.asset_key.to_user_string(), data.check_name, str(why.value) if why else "")
                )
            elif kind == dg.DagsterEventType.STEP_FAILURE and found.failure is None:
                user = data.user_failure_data
                error = _cause(data.error)
                message = (
                    user.description
                    if user and user.description
                    else error.message
                    if error
                    else "unknown error"
                )
                found.failure = (_asset_of(event.step_key), error.cls_name if error else "", message.strip())
    return found


def _cause(error):  # SerializableErrorInfo | None
    """The user's own exception inside Dagster's wrappers: its message says what went wrong."""
    while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    return error


def _asset_of(step_key: str | None) -> str:
    """A graph-backed asset's step (``training_dataset.dataset_piece[from_2013_01_01]``) named by its asset."""
    return (step_key or "?").split(".")[0]


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def success_line(f: RunFacts) -> str:
    """``rows written ...; model vN test AUC ...; gates ...; champion vN``, what applies."""
    parts = []
    if f.rows:
        shown = sorted(f.rows.items(), key=lambda kv: -kv[1])
        parts.append(
            "rows written: "
            + ", ".join(f"{name} {n:,}" for name, n in shown[:8])
            + (f" and {len(shown) - 8} more" if len(shown) > 8 else "")
        )
    if trained := f.values.get("trained_model"):
        parts.append(
            f"model v{trained.get('model_version')} (validation AUC {trained.get('validation_auc')})"
        )
    if evaluation := f.values.get("model_evaluation"):
        parts.append(
            f"test AUC {evaluation.get('test_auc')}"
            + (
                f" vs champion {evaluation['champion_test_auc']}"
                if evaluation.get("champion_test_auc")
                else ""
            )
        )
        parts.append("gates passed" if evaluation.get("gates_passed") else "gates refused")
    if champion := f.values.get("champion_model"):
        parts.append(f"champion v{champion.get('champion_version')} ({champion.get('outcome')})")
    if f.failed_checks:
        parts.append("warnings: " + ", ".join(f"{a}.{c}" for a, c, _ in f.failed_checks))
    return ("Succeeded: " + "; ".join(parts) if parts else "Succeeded: nothing was materialized")[:MAX_CHARS]


def failure_line(f: RunFacts) -> str:
    """One plain line: what failed and what to do."""
    gates = [(c, why) for a, c, why in f.failed_checks if a == "model_evaluation"]
    contracts = [(a, c) for a, c, _ in f.failed_checks if c in ("contract", "no_pii", "point_in_time")]
    if gates:
        refused = "; ".join(f"{c}: {why}" if why else c for c, why in gates)
        line = (
            f"Failed: the promotion gates refused the new model ({refused}). The champion stays. "
            "What to do: nothing if this model is worse; otherwise retrain on more data or other parameters."
        )
    elif contracts:
        line = (
            f"Failed: data broke its contract ({', '.join(f'{a}.{c}' for a, c in contracts)}); nothing was "
            "stored and the "
            "last good data stays. What to do: read the check's metadata and the quarantine table, fix the "
            "source, rematerialize."
        )
    elif f.failure:
        step, cls, message = f.failure
        line = (
            f"Failed at {step}: {_first_line(message) or cls}. What to do: fix the cause named here "
            "(the step's log holds the trace), then re-execute from failure."
        )
    else:
        line = "Failed before any step ran. What to do: open the run's event log for the error."
    return line[:MAX_CHARS]


def _record(context: dg.RunStatusSensorContext, line: str) -> None:
    run = context.dagster_run
    context.instance.add_run_tags(run.run_id, {OUTCOME_TAG: line})
    context.instance.report_engine_event(line, run, cls=None)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="run_outcome_on_success",
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Tags each successful run with its outcome (fti/outcome): rows written, model and AUC, gates.",
)
def run_outcome_on_success(context: dg.RunStatusSensorContext) -> None:
    _record(context, success_line(facts(context.instance, context.dagster_run.run_id)))


@dg.run_failure_sensor(
    name="run_outcome_on_failure",
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Tags each failed run with one plain line (fti/outcome): what failed and what to do.",
)
def run_outcome_on_failure(context: dg.RunFailureSensorContext) -> None:
    _record(context, failure_line(facts(context.instance, context.dagster_run.run_id)))
