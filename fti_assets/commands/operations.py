"""Operator commands behind the CLI: roll back the champion, list model versions and history."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from fti_assets.platform.instance import prepare_dagster_home
from fti_assets.platform.progress import QUIET, step_progress
from fti_assets.settings import Settings


def _definitions(settings: Settings) -> tuple[dg.Definitions, dg.DagsterInstance]:
    home = prepare_dagster_home(settings)
    from fti_assets.definitions import build_definitions

    return build_definitions(settings), dg.DagsterInstance.from_config(str(home))


def rollback(reason: str, settings: Settings | None = None) -> bool:
    """Move the champion back through Dagster, so the Bento follows and the run is recorded.

    ``champion_model`` and ``flight_delay_bento`` each take the change lock, as promotion and
    canary changes do, so a rollback never interleaves with them."""
    settings = settings or Settings.from_env()
    defs, instance = _definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    with step_progress(instance) as run_id:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[dg.AssetKey("champion_model"), dg.AssetKey("flight_delay_bento")],
            run_config={
                **QUIET,
                "ops": {"champion_model": {"config": {"action": "rollback", "reason": reason}}},
            },
            tags={"fti/trigger": "rollback"},
            raise_on_error=False,
            run_id=run_id,
        )
    if result.success:
        record = result.output_for_node("champion_model")
        print(f"champion rolled back from version {record['previous']} to {record['version']}: {reason}")
    return result.success


def _registry(settings: Settings | None):
    defs, _ = _definitions(settings or Settings.from_env())
    return defs.resources["registry"]


def model_table(settings: Settings | None = None) -> str:
    """Every registered version with its metrics, gate verdict and aliases, newest first."""
    registry = _registry(settings)
    versions = registry.versions()
    if not versions:
        return "no model versions yet: run `fti demo`"
    lines = [
        f"{'version':>7}  {'created (UTC)':<19}  {'val AUC':>7}  {'test AUC':>8}  {'gates':<8}  "
        f"{'candidate':<9}  aliases"
    ]
    for mv in versions:
        when = datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        tags = mv.tags or {}
        candidate = "no" if tags.get("candidate") == "no" or tags.get("rolled_back_at") else ""
        lines.append(
            f"{mv.version:>7}  {when:<19}  {tags.get('validation_auc', ''):>7}  {tags.get('test_auc', ''):>8}  "
            f"{tags.get('gates', ''):<8}  {candidate:<9}  {', '.join(sorted(mv.aliases))}"
        )
    history = registry.history()[-5:]
    if history:
        lines.append("\nrecent champion changes and refusals (fti models --history for all):")
        lines += [_event_line(e) for e in history]
    return "\n".join(lines)


def _event_line(event: dict) -> str:
    source = (
        f" from v{event['from_version']}"
        if event["from_version"] is not None and event["action"] != "refuse"
        else ""
    )
    policy = f"  [policy {event['policy_hash'][:12]}]" if event.get("policy_hash") else ""
    return (
        f"  {event['at'][:19]}  {event['action']:<8} v{event['version']}{source}  by {event['actor']}: "
        f"{event['reason']}{policy}"
    )


def history_table(settings: Settings | None = None, reports: bool = False) -> str:
    """The whole model history, oldest first: who, what, when, why (and the gate reports)."""
    import json

    events = _registry(settings).history()
    if not events:
        return "no promotions, rollbacks or refusals yet"
    lines = []
    for event in events:
        lines.append(_event_line(event))
        if reports and event["report"]:
            lines.append("    " + json.dumps(event["report"], default=str))
    return "\n".join(lines)


def champion_bento(settings: Settings | None = None) -> str | None:
    """The exact tag of the champion's Bento, as the registry records it (None if none)."""
    from fti_assets.deployment.packaging import BENTO_TAG
    from fti_assets.resources.registry import CHAMPION

    current = _registry(settings).version_by_alias(CHAMPION)
    return current.tags.get(BENTO_TAG) if current else None


def port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on (something holds it), or None when it is free.

    Bound the way a server binds (address reuse on, so a port left in TIME_WAIT counts as free)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"the port is already in use ({exc.strerror})"
    return None
