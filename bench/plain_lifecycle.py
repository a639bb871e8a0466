"""The plain script's model lifecycle, serving and skew work (``bench/plain.py``): what
``fti demo`` does beyond features, training and drift, called without Dagster.

Registration and evaluation go through the functions the assets call (``register_model``,
``evaluate``), with the same MLflow store kind (SQLite under HOME); promotion is the registry's
``promote``; the Bento is built by ``package_isolated`` as ``flight_delay_bento`` builds it;
the online refresh is ``online_features``' three calls. The last days are served by
``serve_days`` as the demo serves them, and ``serving_skew`` and ``shadow_comparison`` are
invoked directly (their bodies, without a run) over the demo's windows.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import polars as pl

log = logging.getLogger("bench.plain")


def resources_for(home: Path) -> dict[str, Any]:
    """The local profile's resources for HOME, as the demo builds them."""
    from fti_assets.resources.environment import build_resources
    from fti_assets.settings import Settings

    os.environ["FTI_HOME"] = str(home)
    return build_resources(Settings.from_env())


def register(resources: dict[str, Any], fitted: Any, train: pl.DataFrame, validation: pl.DataFrame, params: dict, config: Any,
             dataset_hash: str, window: dict) -> dict:  # fmt: skip
    """``trained_model``'s MLflow run and registration; the record the asset stores."""
    from fti_assets.training.registration import register_model
    from fti_assets.training.reproducibility import code_version

    store = resources["store"]
    tags = {"dataset_hash": dataset_hash, "code_version": code_version(), "seed": str(config.seed), "dagster_run_id": "plain-script",
            "params_from": "config"}  # fmt: skip
    reproduction = {"dataset_window": window, "params": params, "max_rounds": config.max_rounds,
                    "early_stopping_rounds": config.early_stopping_rounds, "extra_features": config.extra_features,
                    "train_from": config.train_from}  # fmt: skip
    version, run_id = register_model(resources["registry"], store, fitted, train, validation, store.scan("training_dataset"), params,
                                     reproduction, tags)  # fmt: skip
    return {"model_name": resources["registry"].model_name, "version": version, "run_id": run_id, "dataset_hash": dataset_hash,
            "validation_auc": fitted.validation_auc, "best_iteration": fitted.best_iteration, "features": fitted.spec.features,
            "trained_at": datetime.now(UTC).isoformat(), "code_version": tags["code_version"], "train_from": config.train_from,
            "params": params}  # fmt: skip


def evaluate_and_promote(resources: dict[str, Any], record: dict, dataset: pl.DataFrame) -> dict:
    """``model_evaluation``'s metrics, plots, page and gates, then the promotion of a passing first model."""
    from fti_assets.training.model import EvaluationConfig
    from fti_assets.training.model_evaluation import evaluate

    registry = resources["registry"]
    evaluation, _ = evaluate(SimpleNamespace(log=log), EvaluationConfig(), record, dataset, registry, resources["reports"],
                             resources["policy"].load())  # fmt: skip
    if evaluation["passed"]:
        registry.promote(record["version"], "passed the gates (plain script)", datetime.now(UTC).isoformat(), "plain script",
                         policy_hash=evaluation.get("policy_hash"))  # fmt: skip
    return evaluation


def package(resources: dict[str, Any], version: int) -> str:
    """``flight_delay_bento``'s build: the champion's model, card documents and SBOM in a Bento."""
    import json

    from fti_assets.deployment.sbom import SBOM_NAME, environment_sbom
    from fti_assets.inference.serving.bento import package_isolated
    from fti_assets.training.model_card import card_documents

    registry, serving = resources["registry"], resources["serving"]
    loaded = registry.load(version)
    labels = {"registry_model": registry.model_name, "registry_version": str(version)}
    documents = {**card_documents(registry, version), SBOM_NAME: json.dumps(environment_sbom(), indent=1)}
    result = package_isolated(Path(serving.bentoml_home), loaded.model_file, loaded.spec, version, labels,
                              bento_version=f"v{version}-{datetime.now(UTC):%Y%m%d%H%M%S}", documents=documents)  # fmt: skip
    registry.tag_version(version, {"bento": result["bento"]})
    return result["bento"]


def refresh_online(resources: dict[str, Any], as_of: datetime) -> dict:
    """``online_features``: the latest values known at ``as_of`` and the published flights' vectors."""
    from fti_assets.domain.timezones import airport_timezones
    from fti_assets.inference.serving.refresh import flight_vectors, snapshot_as_of

    store = resources["store"]
    latest = snapshot_as_of(store, as_of)
    return resources["online"].write_snapshot(latest, airport_timezones(store.read("airports")), as_of, flight_vectors(store, latest, as_of))


def _direct(asset: dg.AssetsDefinition, first: date, last: date, **inputs: Any) -> pl.DataFrame:
    """``asset``'s body over the days ``first..last``, invoked without a run."""
    context = dg.build_asset_context(partition_key_range=dg.PartitionKeyRange(first.isoformat(), last.isoformat()))
    return asset(context=context, **inputs).value


def serve_and_compare(home: Path, resources: dict[str, Any], served: tuple[date, date], monitored: tuple[date, date]) -> dict[str, int]:
    """The demo's serving and skew: ``served`` days served at their prediction times, then
    ``serving_skew`` over them and ``shadow_comparison`` over the ``monitored`` days, stored."""
    from bench.plain_parts import days, partition_column
    from fti_assets.inference.serving.simulate import serve_days
    from fti_assets.monitoring.serving_skew import serving_skew
    from fti_assets.monitoring.shadow_comparison import shadow_comparison

    store, registry, serving = resources["store"], resources["registry"], resources["serving"]
    served_days = days(*served)
    counts = serve_days(home, store, registry, [date.fromisoformat(d) for d in served_days], "daily")
    skew = _direct(serving_skew, *served, flight_schedule=store.read("flight_schedule", served_days),
                   origin_congestion=store.read("origin_congestion", served_days), store=store, registry=registry, serving=serving)  # fmt: skip
    store.write_days("serving_skew", skew, partition_column(serving_skew), served_days)
    shadow = _direct(shadow_comparison, *monitored, store=store, serving=serving)
    store.write_days("shadow_comparison", shadow, partition_column(shadow_comparison), days(*monitored))
    return {"served": counts["served"], "skew_days": skew.height, "shadow_days": shadow.height}


def as_of_after(last: date) -> datetime:
    """The demo's refresh instant: midnight UTC after the window's last day."""
    return datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
