"""Deployment: the champion (registry alias behind the gates), its Bento, the online store."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from fti_assets.domain.feature_groups import FEATURE_GROUPS
from fti_assets.registry import ModelRegistry
from fti_assets.serving.online_store_resource import OnlineStore
from fti_assets.storage.offline_store import OfflineStore

_SINGLE_RUN = dg.BackfillPolicy.single_run()


class PromotionConfig(dg.Config):
    action: str = "promote"
    """`promote` the evaluated challenger (only if it passed every gate) or `rollback`."""
    reason: str = ""
    require_shadow_evidence: bool = False
    """Also require the challenger to have matched the champion in shadow or canary."""
    min_evidence_rows: int = 1000


def shadow_evidence_problem(store: OfflineStore, version: int, min_rows: int) -> str | None:
    """Why shadow/canary evidence does not support promoting ``version`` (None if it does)."""
    try:
        evidence = store.read("shadow_comparison").filter(pl.col("challenger_version") == version).sort("day")
    except FileNotFoundError:
        evidence = pl.DataFrame()
    if evidence.height == 0:
        return f"no shadow or canary evidence for version {version}"
    last = evidence.row(-1, named=True)
    if last["rows_total"] < min_rows:
        return f"only {last['rows_total']} flights with outcomes in shadow/canary; {min_rows} needed"
    if last["challenger_auc"] < last["champion_auc"]:
        return f"in shadow/canary the challenger's AUC {last['challenger_auc']:.4f} trails the champion's {last['champion_auc']:.4f}"
    return None


@dg.asset(group_name="deployment", io_manager_key="record_io_manager", backfill_policy=_SINGLE_RUN)
def champion_model(
    context: dg.AssetExecutionContext, config: PromotionConfig, model_evaluation: dict, registry: ModelRegistry, store: OfflineStore
) -> dg.Output:
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
        if config.require_shadow_evidence and (problem := shadow_evidence_problem(store, version, config.min_evidence_rows)):
            raise dg.Failure(f"version {version} is not promoted; the champion stays: {problem}")
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
    from fti_assets.serving.model_store import read_pointer, write_pointer

    version = champion_model["version"]
    loaded = registry.load(version)
    labels = {"registry_model": registry.model_name, "registry_version": str(version)}
    built = package_isolated(Path(serving.bentoml_home), loaded.model_file, loaded.spec, version, labels,
                             bento_version=f"v{version}-{datetime.now(UTC):%Y%m%d%H%M%S}")  # fmt: skip
    model_tag, bento_tag = built["model_tag"], built["bento"]
    pointer = {"model_tag": model_tag, "registry_version": version, "bento": bento_tag, "published_at": datetime.now(UTC).isoformat()}
    challenger = (read_pointer(Path(serving.home)) or {}).get("challenger")
    if challenger and challenger["registry_version"] != version:  # a running experiment continues
        pointer["challenger"] = challenger
    write_pointer(Path(serving.home), pointer)
    context.log.info(f"built {bento_tag} around {model_tag}")
    return dg.Output(pointer, metadata={"bento": bento_tag, "model_tag": model_tag, "serve": f"bentoml serve {bento_tag}"})


class OnlineRefreshConfig(dg.Config):
    as_of: str = ""
    """The refresh instant (ISO 8601). Empty: the end of the run's last partition day, or now
    outside partitioned runs. Values known after it are left out."""


def refresh_time(as_of: str, tags: dict[str, str]) -> datetime:
    from datetime import date, time, timedelta

    if as_of:
        return datetime.fromisoformat(as_of).astimezone(UTC)
    day = tags.get("dagster/asset_partition_range_end") or tags.get("dagster/partition")
    if day:  # a daily run refreshes the store as it stands when that day ends
        return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(), tzinfo=UTC)
    return datetime.now(UTC)


@dg.asset(group_name="deployment", deps=[g.name for g in FEATURE_GROUPS], backfill_policy=_SINGLE_RUN)
def online_features(context: dg.AssetExecutionContext, config: OnlineRefreshConfig, online: OnlineStore, store: OfflineStore, airports: pl.DataFrame):
    """The online feature store: each entity's latest feature values known at the refresh time,
    computed by the same retrieval code as the training dataset, in SQLite (WAL) or, in
    production, Redis (a new snapshot per refresh, switched atomically)."""
    from fti_assets.domain.retrieval import latest_per_entity
    from fti_assets.domain.timezones import airport_timezones

    as_of = refresh_time(config.as_of, context.run.tags)
    day = as_of.date()
    latest = {g.name: latest_per_entity(store.read_history(g, day, day), g, as_of) for g in FEATURE_GROUPS}
    counts = online.write_snapshot(latest, airport_timezones(airports), as_of)
    context.log.info(f"online store refreshed as of {as_of.isoformat()}: {counts}")
    return dg.MaterializeResult(metadata={"as_of": as_of.isoformat(), "entities": dg.MetadataValue.json(counts),
                                          "store": online.location})  # fmt: skip


DEPLOYMENT_ASSETS = [champion_model, flight_delay_bento, online_features]
