"""The challenger in production: shadow (scored and logged) or canary (a share of traffic)."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from fti_assets.resources.locks import LIFECYCLE_POOL, ChangeLock
from fti_assets.resources.registry import CHALLENGER, CHAMPION, ModelRegistry
from fti_assets.resources.serving import ServingResource
from fti_assets.serving.model_store import MODE_TAG, SHARE_TAG


class ChallengerConfig(dg.Config):
    mode: str = "shadow"
    """`shadow`: scored and logged, never returned. `canary`: returned for `share` of flights
    (needs the offline gates passed). `retire`: back to the champion alone."""
    share: float = 0.1
    reason: str = ""


@dg.asset(
    group_name="deployment",
    io_manager_key="record_io_manager",
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=LIFECYCLE_POOL,
)
def challenger_model(
    context: dg.AssetExecutionContext,
    config: ChallengerConfig,
    model_evaluation: dict,
    registry: ModelRegistry,
    serving: ServingResource,
    lock: ChangeLock,
) -> dg.Output:
    """The evaluated challenger deployed beside the champion: the registry alias `challenger`,
    with its mode and share as tags of that version, which running services follow."""
    from fti_assets.serving.bento import package_isolated

    now = datetime.now(UTC).isoformat()
    if config.mode not in ("shadow", "canary", "retire"):
        raise dg.Failure(f"unknown mode {config.mode!r}: use shadow, canary or retire")
    with lock.hold("champion", f"dagster run {context.run.run_id}", context.log.info):
        champion, running = registry.version_by_alias(CHAMPION), registry.version_by_alias(CHALLENGER)
        if config.mode == "retire":
            if running is not None:
                registry.client().delete_registered_model_alias(registry.model_name, CHALLENGER)
                registry.tag_version(
                    int(running.version),
                    {MODE_TAG: "retired", "retired_at": now, "retire_reason": config.reason},
                )
            record = {
                "mode": "retire",
                "version": int(running.version) if running else None,
                "at": now,
                "reason": config.reason,
            }
            return dg.Output(record, metadata={"mode": "retire", "reason": config.reason or "retired"})
        if champion is None:
            raise dg.Failure("no champion is deployed yet: materialize champion_model first")
        version = model_evaluation["version"]
        if version == int(champion.version):
            raise dg.Failure(f"version {version} is the champion: it cannot also be its challenger")
        if config.mode == "canary" and not model_evaluation["passed"]:
            raise dg.Failure(
                f"version {version} did not pass the offline gates: it may run in shadow, not as a canary"
            )
        if not 0 < config.share <= 0.5:
            raise dg.Failure(f"share must be in (0, 0.5], got {config.share}")
        loaded = registry.load(version)
        package_isolated(
            Path(serving.bentoml_home),
            loaded.model_file,
            loaded.spec,
            version,
            {"registry_model": registry.model_name, "registry_version": str(version)},
            bento_version=None,
        )
        share = config.share if config.mode == "canary" else 0.0
        # Tags first, alias last: a service never sees the alias with another run's mode.
        registry.tag_version(version, {MODE_TAG: config.mode, SHARE_TAG: str(share), "challenger_since": now})
        registry.client().set_registered_model_alias(registry.model_name, CHALLENGER, str(version))
    context.log.info(f"version {version} deployed as {config.mode} beside champion {champion.version}")
    record = {
        "mode": config.mode,
        "version": version,
        "champion_version": int(champion.version),
        "share": share,
        "at": now,
        "reason": config.reason,
    }
    return dg.Output(record, metadata={"mode": config.mode, "challenger_version": version, "share": share})
