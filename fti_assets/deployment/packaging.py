"""Packaging: the champion as a Bento that `bentoml serve` runs."""

import json
from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg

from fti_assets.resources.locks import LIFECYCLE_POOL, ChangeLock
from fti_assets.resources.registry import CHAMPION, ModelRegistry
from fti_assets.resources.serving import ServingResource

_SINGLE_RUN = dg.BackfillPolicy.single_run()


BENTO_TAG = "bento"
"""Registry version tag naming the Bento built around that version."""


@dg.asset(
    group_name="deployment",
    io_manager_key="record_io_manager",
    backfill_policy=_SINGLE_RUN,
    pool=LIFECYCLE_POOL,
    deps=["champion_model", "model_card"],
    output_required=False,
)
def flight_delay_bento(
    context: dg.AssetExecutionContext, registry: ModelRegistry, serving: ServingResource, lock: ChangeLock
):
    """The champion packaged for `bentoml serve`: the version the registry alias `champion`
    names (read under the change lock, never from a local record), its LightGBM text model
    and feature spec in the BentoML model store, and the service Bento built from, and
    bundling, exactly that model, with the version's model card and a CycloneDX SBOM of the
    environment under `governance/`. The registry version is tagged with the Bento's tag."""
    from pathlib import Path

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
            result = package_version(registry, serving, version, context.log.warning)
            bento_tag, model_tag, built = result["bento"], result["model_tag"], True
    context.log.info(f"{'built' if built else 'kept'} {bento_tag} around {model_tag}")
    record = {
        "model_tag": model_tag,
        "registry_version": version,
        "bento": bento_tag,
        "built": built,
        "at": datetime.now(UTC).isoformat(),
    }
    yield dg.Output(
        record,
        metadata={
            "bento": bento_tag,
            "model_tag": model_tag,
            "built": built,
            "serve": f"bentoml serve {bento_tag}",
        },
    )


def package_version(
    registry: ModelRegistry, serving: ServingResource, version: int, warn: Callable[[str], None]
) -> dict:
    """Version ``version`` of the registry in the BentoML model store and a Bento built around
    it, with its model card and an SBOM under ``governance/``; the version is tagged with the
    Bento's tag. Returns ``package_isolated``'s record (``bento``, ``model_tag``)."""
    from pathlib import Path

    from fti_assets.deployment.sbom import SBOM_NAME, environment_sbom
    from fti_assets.serving.bento import package_isolated
    from fti_assets.training.model_card import card_documents

    loaded = registry.load(version)
    labels = {"registry_model": registry.model_name, "registry_version": str(version)}
    documents = {**card_documents(registry, version), SBOM_NAME: json.dumps(environment_sbom(), indent=1)}
    if "model_card.md" not in documents:  # a version evaluated before model cards existed
        warn(f"v{version} has no model card in MLflow: its Bento carries only the SBOM")
    airports = _airports(serving.home)
    if not airports:
        warn("no airports table is stored: the Bento cannot check requests' routes (materialize airports)")
    result = package_isolated(
        Path(serving.bentoml_home),
        loaded.model_file,
        loaded.spec,
        version,
        labels,
        bento_version=f"v{version}-{datetime.now(UTC):%Y%m%d%H%M%S}",
        documents=documents,
        airports=airports,
    )
    registry.tag_version(version, {BENTO_TAG: result["bento"]})
    return result


def _airports(home: str) -> dict[str, tuple[float, float]]:
    """The stored airports' coordinates (with the known gaps filled in), or none when not stored."""
    from fti_assets.domain.routes import airport_coordinates
    from fti_assets.resources.offline_store import OfflineStore

    try:
        return airport_coordinates(OfflineStore(home=home).read("airports"))
    except FileNotFoundError:
        return {}
