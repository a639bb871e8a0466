"""Deployment: the champion (registry alias behind the gates), its Bento, the online store."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from fti_assets.domain.feature_groups import FEATURE_GROUPS
from fti_assets.registry import ModelRegistry
from fti_assets.serving.online_store_resource import OnlineStore

_SINGLE_RUN = dg.BackfillPolicy.single_run()


class PromotionConfig(dg.Config):
    action: str = "promote"
    """`promote` the evaluated challenger (only if it passed every gate) or `rollback`."""
    reason: str = ""


@dg.asset(group_name="deployment", io_manager_key="record_io_manager", backfill_policy=_SINGLE_RUN)
def champion_model(context: dg.AssetExecutionContext, config: PromotionConfig, model_evaluation: dict, registry: ModelRegistry) -> dg.Output:
    """The model serving traffic: the registry alias `champion`. It moves only to a challenger
    that passed every gate (or back, on rollback); `previous` and tags record the history."""
    now, by = datetime.now(UTC).isoformat(), f"dagster run {context.run.run_id}"
    if config.action == "rollback":
        try:
            demoted, version = registry.rollback(config.reason or "manual rollback", now, by)
        except ValueError as exc:
            raise dg.Failure(str(exc)) from exc
        record = {"version": version, "previous": demoted, "action": "rollback", "at": now, "reason": config.reason or "manual rollback"}
    elif config.action == "promote":
        version = model_evaluation["version"]
        if not model_evaluation["passed"]:
            refused = {k: g["message"] for k, g in model_evaluation["gates"].items() if not g["passed"]}
            raise dg.Failure(f"version {version} was refused by the gates; the champion stays: {refused}", metadata={"refused": dg.MetadataValue.json(refused)})
        auc = model_evaluation["metrics"]["challenger"]["auc"]
        champion_auc = (model_evaluation["metrics"]["champion"] or {}).get("auc")
        reason = config.reason or (f"passed the gates: test AUC {auc:.4f}" + (f" vs {champion_auc:.4f}" if champion_auc else " (first champion)"))
        replaced = registry.promote(version, reason, now, by)
        record = {"version": version, "previous": replaced, "action": "promote", "at": now, "reason": reason, "test_auc": auc}
    else:
        raise dg.Failure(f"unknown action {config.action!r}: use 'promote' or 'rollback'")
    context.log.info(f"champion is now version {record['version']} ({record['action']}: {record['reason']})")
    return dg.Output(record, metadata={"champion_version": record["version"], "previous_version": record["previous"],
                                       "action": record["action"], "reason": record["reason"]})  # fmt: skip


class ServingResource(dg.ConfigurableResource):
    """Where the serving side lives: the champion pointer under ``home`` and the BentoML store."""

    home: str
    bentoml_home: str


@dg.asset(group_name="deployment", io_manager_key="record_io_manager", backfill_policy=_SINGLE_RUN)
def flight_delay_bento(context: dg.AssetExecutionContext, champion_model: dict, registry: ModelRegistry, serving: ServingResource) -> dg.Output:
    """The champion packaged for `bentoml serve`: its LightGBM text model and feature spec in the
    BentoML model store, the service Bento built around it, and the pointer a running
    service watches to swap models without a restart."""
    from pathlib import Path

    from fti_assets.serving.bento import package_isolated
    from fti_assets.serving.model_store import write_pointer

    version = champion_model["version"]
    loaded = registry.load(version)
    labels = {"registry_model": registry.model_name, "registry_version": str(version)}
    built = package_isolated(Path(serving.bentoml_home), loaded.model_file, loaded.spec, version, labels,
                             bento_version=f"v{version}-{datetime.now(UTC):%Y%m%d%H%M%S}")  # fmt: skip
    model_tag, bento_tag = built["model_tag"], built["bento"]
    pointer = {"model_tag": model_tag, "registry_version": version, "bento": bento_tag, "published_at": datetime.now(UTC).isoformat()}
    write_pointer(Path(serving.home), pointer)
    context.log.info(f"built {bento_tag} around {model_tag}")
    return dg.Output(pointer, metadata={"bento": bento_tag, "model_tag": model_tag, "serve": f"bentoml serve {bento_tag}"})


class OnlineRefreshConfig(dg.Config):
    as_of: str = ""
    """The refresh instant (ISO 8601). Empty: now. Values known after it are left out."""


@dg.asset(group_name="deployment", ins={**{g.name: dg.AssetIn() for g in FEATURE_GROUPS}, "airports": dg.AssetIn()}, backfill_policy=_SINGLE_RUN)
def online_features(context: dg.AssetExecutionContext, config: OnlineRefreshConfig, online: OnlineStore, airports: pl.DataFrame, **feature_tables: pl.DataFrame):
    """The online feature store: each entity's latest feature values known at the refresh time,
    computed by the same retrieval code as the training dataset, in SQLite (WAL)."""
    from fti_assets.domain.retrieval import latest_per_entity
    from fti_assets.domain.timezones import airport_timezones

    as_of = datetime.fromisoformat(config.as_of).astimezone(UTC) if config.as_of else datetime.now(UTC)
    latest = {g.name: latest_per_entity(feature_tables[g.name], g, as_of) for g in FEATURE_GROUPS}
    counts = online.write_snapshot(latest, airport_timezones(airports), as_of)
    context.log.info(f"online store refreshed as of {as_of.isoformat()}: {counts}")
    return dg.MaterializeResult(metadata={"as_of": as_of.isoformat(), "entities": dg.MetadataValue.json(counts),
                                          "path": dg.MetadataValue.path(online.path)})  # fmt: skip


DEPLOYMENT_ASSETS = [champion_model, flight_delay_bento, online_features]
