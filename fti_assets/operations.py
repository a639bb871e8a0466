"""Operator commands behind the CLI: roll back the champion, list model versions."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from fti_assets.instance import prepare_dagster_home
from fti_assets.settings import Settings


def _definitions(settings: Settings) -> tuple[dg.Definitions, dg.DagsterInstance]:
    home = prepare_dagster_home(settings)
    from fti_assets.definitions import build_definitions

    return build_definitions(settings), dg.DagsterInstance.from_config(str(home))


def rollback(reason: str, settings: Settings | None = None) -> bool:
    """Move the champion back through Dagster, so the Bento follows and the run is recorded."""
    settings = settings or Settings.from_env()
    defs, instance = _definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey("champion_model"), dg.AssetKey("flight_delay_bento")],
        run_config={"loggers": {"progress_logger": {}},
                    "ops": {"champion_model": {"config": {"action": "rollback", "reason": reason}}}},
        tags={"fti/trigger": "rollback"},
        raise_on_error=False,
    )  # fmt: skip
    if result.success:
        record = result.output_for_node("champion_model")
        print(f"champion rolled back from version {record['previous']} to {record['version']}: {reason}")
    return result.success


def model_table(settings: Settings | None = None) -> str:
    """Every registered version with its metrics, gate verdict and aliases, newest first."""
    settings = settings or Settings.from_env()
    defs, _ = _definitions(settings)
    registry = defs.resources["registry"]
    versions = registry.versions()
    if not versions:
        return "no model versions yet: run `fti demo`"
    lines = [f"{'version':>7}  {'created (UTC)':<19}  {'val AUC':>7}  {'test AUC':>8}  {'gates':<8}  aliases"]
    for mv in versions:
        when = datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
        tags = mv.tags or {}
        lines.append(f"{mv.version:>7}  {when:<19}  {tags.get('validation_auc', ''):>7}  {tags.get('test_auc', ''):>8}  "
                     f"{tags.get('gates', ''):<8}  {', '.join(sorted(mv.aliases))}")  # fmt: skip
    history = registry.history()[-5:]
    if history:
        lines.append("\nrecent champion changes:")
        lines += [f"  {e['at'][:19]}  {e['action']:<8} -> v{e['version']}  {e['reason']}" for e in history]
    return "\n".join(lines)
