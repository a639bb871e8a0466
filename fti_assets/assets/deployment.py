"""Deployment: the champion's Bento and the online store (the champion itself: ``promotion``)."""

import json
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from fti_assets.assets.promotion import champion_model
from fti_assets.domain.feature_groups import FEATURE_GROUPS
from fti_assets.locks import LIFECYCLE_POOL, ChangeLock
from fti_assets.registry import CHAMPION, ModelRegistry
from fti_assets.serving.online_store_resource import OnlineStore
from fti_assets.storage.offline_store import OfflineStore

_SINGLE_RUN = dg.BackfillPolicy.single_run()


class ServingResource(dg.ConfigurableResource):
    """Where the serving side lives: FTI_HOME (online store, prediction log) and the BentoML store."""

    home: str
    bentoml_home: str


BENTO_TAG = "bento"
"""Registry version tag naming the Bento built around that version."""


@dg.asset(group_name="deployment", io_manager_key="record_io_manager", backfill_policy=_SINGLE_RUN, pool=LIFECYCLE_POOL,
          deps=["champion_model", "model_card"], output_required=False)  # fmt: skip
def flight_delay_bento(context: dg.AssetExecutionContext, registry: ModelRegistry, serving: ServingResource, lock: ChangeLock):
    """The champion packaged for `bentoml serve`: the version the registry alias `champion`
    names (read under the change lock, never from a local record), its LightGBM text model
    and feature spec in the BentoML model store, and the service Bento built from, and
    bundling, exactly that model, with the version's model card and a CycloneDX SBOM of the
    environment under `governance/`. The registry version is tagged with the Bento's tag."""
    from pathlib import Path

    from fti_assets.assets.card import card_documents
    from fti_assets.sbom import SBOM_NAME, environment_sbom
    from fti_assets.serving.bento import package_isolated

    with lock.hold("champion", f"dagster run {context.run.run_id}", context.log.info):
        current = registry.version_by_alias(CHAMPION)
        if current is None:
            context.log.info("skipped: there is no champion to package (no model has passed the gates yet)")
            return
        version, existing = int(current.version), current.tags.get(BENTO_TAG)
        name, _, tag_version = (existing or "").partition(":")
        if existing and (Path(serving.bentoml_home) / "bentos" / name / tag_version / "bento.yaml").exists():
            bento_tag, model_tag, built = existing, f"flight_delay_model:v{version}", False
        else:
            loaded = registry.load(version)
            labels = {"registry_model": registry.model_name, "registry_version": str(version)}
            documents = {**card_documents(registry, version), SBOM_NAME: json.dumps(environment_sbom(), indent=1)}
            if "model_card.md" not in documents:  # a version evaluated before model cards existed
                context.log.warning(f"v{version} has no model card in MLflow: its Bento carries only the SBOM")
            result = package_isolated(Path(serving.bentoml_home), loaded.model_file, loaded.spec, version, labels,
                                      bento_version=f"v{version}-{datetime.now(UTC):%Y%m%d%H%M%S}", documents=documents)  # fmt: skip
            bento_tag, model_tag, built = result["bento"], result["model_tag"], True
            registry.tag_version(version, {BENTO_TAG: bento_tag})
    context.log.info(f"{'built' if built else 'kept'} {bento_tag} around {model_tag}")
    record = {"model_tag": model_tag, "registry_version": version, "bento": bento_tag, "built": built, "at": datetime.now(UTC).isoformat()}
    yield dg.Output(record, metadata={"bento": bento_tag, "model_tag": model_tag, "built": built,
                                      "serve": f"bentoml serve {bento_tag}"})  # fmt: skip


class OnlineRefreshConfig(dg.Config):
    as_of: str = ""
    """The refresh instant (ISO 8601). Empty: the end of the run's last partition day, or now
    outside partitioned runs. Values known after it are left out."""
    force: bool = False
    """Refresh even when the store already serves a later snapshot (rolls features back)."""


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
    production, Redis (a new snapshot per refresh, switched atomically). A refresh older than
    the one served is refused unless forced: backfills never roll features back. Each published
    flight still to be predicted gets its whole vector precomputed from the same snapshot
    (`flight_vectors`), so the service answers it with one lookup."""
    from fti_assets.domain.timezones import airport_timezones
    from fti_assets.serving.refresh import StaleRefreshError, check_refresh_order, flight_vectors, snapshot_as_of

    as_of = refresh_time(config.as_of, context.run.tags)
    try:
        check_refresh_order(online.current_as_of(), as_of, config.force)
    except StaleRefreshError as exc:
        raise dg.Failure(description=str(exc)) from exc
    latest = snapshot_as_of(store, as_of)
    counts = online.write_snapshot(latest, airport_timezones(airports), as_of, flight_vectors(store, latest, as_of))
    context.log.info(f"online store refreshed as of {as_of.isoformat()}: {counts}")
    return dg.MaterializeResult(metadata={"as_of": as_of.isoformat(), "entities": dg.MetadataValue.json(counts),
                                          "store": online.location})  # fmt: skip


DEPLOYMENT_ASSETS = [champion_model, flight_delay_bento, online_features]
