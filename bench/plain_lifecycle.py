"""The plain script's model lifecycle, serving and skew work (``bench/plain.py``): what
``fti demo`` does beyond features, training and drift, called without Dagster.

Registration, evaluation, the Bento and the online refresh go through the functions the
assets call (``register_model``, ``evaluate``, ``package_version``, ``write_refresh``), with
the same MLflow store kind (SQLite under HOME); promotion is the registry's ``promote``. The
last days are served by
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


def register(
    resources: dict[str, Any],
    fitted: Any,
    train: pl.DataFrame,
    validation: pl.DataFrame,
    params: dict,
    config: Any,
    dataset_hash: str,
    window: dict,
) -> dict:
    """``trained_model``'s MLflow run and registration; the record the asset stores."""
    from fti_assets.training.registration import register_model
    from fti_assets.training.reproducibility import library_versions

    store = resources["store"]
    return register_model(
        resources["registry"],
        store,
        fitted,
        train,
        validation,
        store.scan("training_dataset"),
        params,
        config,
        dataset_hash,
        "plain-script",
        window,
        library_versions(),
    )


def evaluate_and_promote(resources: dict[str, Any], record: dict, dataset: pl.DataFrame) -> dict:
    """``model_evaluation``'s metrics, plots, page and gates, then the promotion of a passing first model."""
    from fti_assets.training.model_evaluation import EvaluationConfig, evaluate

    registry = resources["registry"]
    evaluation, _ = evaluate(
        SimpleNamespace(log=log),
        EvaluationConfig(),
        record,
        dataset,
        registry,
        resources["reports"],
        resources["policy"].load(),
    )
    if evaluation["passed"]:
        registry.promote(
            record["version"],
            "passed the gates (plain script)",
            datetime.now(UTC).isoformat(),
            "plain script",
            policy_hash=evaluation.get("policy_hash"),
        )
    return evaluation


def package(resources: dict[str, Any], version: int) -> str:
    """``flight_delay_bento``'s build: the champion's model, card documents and SBOM in a Bento."""
    from fti_assets.deployment.packaging import package_version

    return package_version(resources["registry"], resources["serving"], version, log.warning)["bento"]


def refresh_online(resources: dict[str, Any], as_of: datetime) -> dict:
    """``online_features``: the offline events known at ``as_of`` applied as the stream applies them."""
    from fti_assets.inference.refresh import write_backstop

    store, writer = resources["store"], resources["online"].writer()
    try:
        return write_backstop(writer, store, store.read("airports"), as_of)
    finally:
        writer.close()


def _direct(asset: dg.AssetsDefinition, first: date, last: date, **inputs: Any) -> pl.DataFrame:
    """``asset``'s body over the days ``first..last``, invoked without a run."""
    context = dg.build_asset_context(
        partition_key_range=dg.PartitionKeyRange(first.isoformat(), last.isoformat())
    )
    return asset(context=context, **inputs).value


def serve_and_compare(
    home: Path, resources: dict[str, Any], served: tuple[date, date], monitored: tuple[date, date]
) -> dict[str, int]:
    """The demo's serving and skew: ``served`` days served at their prediction times, then
    ``serving_skew`` over them and ``shadow_comparison`` over the ``monitored`` days, stored."""
    from bench.plain_parts import days, partition_column
    from fti_assets.monitoring.serving_skew import serving_skew
    from fti_assets.monitoring.shadow_comparison import shadow_comparison
    from fti_assets.serving.simulate import serve_days

    store, registry, serving = resources["store"], resources["registry"], resources["serving"]
    served_days = days(*served)
    counts = serve_days(home, store, registry, [date.fromisoformat(d) for d in served_days])
    skew = _direct(
        serving_skew,
        *served,
        flight_schedule=store.read("flight_schedule", served_days),
        origin_congestion=store.read("origin_congestion", served_days),
        store=store,
        registry=registry,
        serving=serving,
    )
    store.write_days("serving_skew", skew, partition_column(serving_skew), served_days)
    shadow = _direct(shadow_comparison, *monitored, store=store, serving=serving)
    store.write_days("shadow_comparison", shadow, partition_column(shadow_comparison), days(*monitored))
    return {"served": counts["served"], "skew_days": skew.height, "shadow_days": shadow.height}


def as_of_after(last: date) -> datetime:
    """The demo's refresh instant: midnight UTC after the window's last day."""
    return datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
