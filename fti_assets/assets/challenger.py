"""The challenger in production: shadow (scored and logged) or canary (a share of traffic)."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from fti_assets.assets.deployment import ServingResource
from fti_assets.registry import CHALLENGER, ModelRegistry


class ChallengerConfig(dg.Config):
    mode: str = "shadow"
    """`shadow`: scored and logged, never returned. `canary`: returned for `share` of flights
    (needs the offline gates passed). `retire`: back to the champion alone."""
    share: float = 0.1
    reason: str = ""


@dg.asset(group_name="deployment", io_manager_key="record_io_manager", backfill_policy=dg.BackfillPolicy.single_run())
def challenger_model(context: dg.AssetExecutionContext, config: ChallengerConfig, model_evaluation: dict,
                     registry: ModelRegistry, serving: ServingResource) -> dg.Output:  # fmt: skip
    """The evaluated challenger deployed beside the champion (registry alias `challenger`), as
    shadow or canary; the running service picks it up from the champion pointer."""
    from fti_assets.serving.bento import package_isolated
    from fti_assets.serving.model_store import read_pointer, write_pointer

    home, now = Path(serving.home), datetime.now(UTC).isoformat()
    pointer = read_pointer(home)
    if pointer is None:
        raise dg.Failure("no champion is deployed yet: materialize flight_delay_bento first")
    version = model_evaluation["version"]
    if config.mode == "retire":
        retired = pointer.pop("challenger", None)
        registry.client().delete_registered_model_alias(registry.model_name, CHALLENGER)
        write_pointer(home, pointer)
        record = {"mode": "retire", "version": retired["registry_version"] if retired else None, "at": now, "reason": config.reason}
        return dg.Output(record, metadata={"mode": "retire", "reason": config.reason or "retired"})
    if config.mode not in ("shadow", "canary"):
        raise dg.Failure(f"unknown mode {config.mode!r}: use shadow, canary or retire")
    if config.mode == "canary" and not model_evaluation["passed"]:
        raise dg.Failure(f"version {version} did not pass the offline gates: it may run in shadow, not as a canary")
    if not 0 < config.share <= 0.5:
        raise dg.Failure(f"share must be in (0, 0.5], got {config.share}")
    loaded = registry.load(version)
    built = package_isolated(Path(serving.bentoml_home), loaded.model_file, loaded.spec, version,
                             {"registry_model": registry.model_name, "registry_version": str(version)}, bento_version=None)  # fmt: skip
    registry.client().set_registered_model_alias(registry.model_name, CHALLENGER, str(version))
    pointer["challenger"] = {"model_tag": built["model_tag"], "registry_version": version, "mode": config.mode,
                             "share": config.share if config.mode == "canary" else 0.0, "since": now}  # fmt: skip
    write_pointer(home, pointer)
    context.log.info(f"version {version} deployed as {config.mode} beside champion {pointer['registry_version']}")
    record = {"mode": config.mode, "version": version, "champion_version": pointer["registry_version"], "share": pointer["challenger"]["share"],
              "at": now, "reason": config.reason}  # fmt: skip
    return dg.Output(record, metadata={"mode": config.mode, "challenger_version": version, "share": record["share"]})


CHALLENGER_ASSETS = [challenger_model]
