"""The three pipelines of the FTI architecture as Dagster jobs over the one asset graph.

Partitioned jobs take their partitions from the assets they select (``partitions.bind_partitions``)."""

from __future__ import annotations

from typing import Protocol

import dagster as dg

from fti_assets.settings import Settings


class AssetJob(Protocol):
    """A job ``dg.define_asset_job`` returns, as this code uses it (Dagster exports its class
    only from a private module): a name that ``Definitions`` resolves to a job."""

    @property
    def name(self) -> str: ...


#: The schedule feed runs ahead of the outcomes: a day's schedule is known before the day.
SCHEDULE_FEED = ("schedules", "flight_schedule", "origin_congestion")

schedule_feed = dg.define_asset_job(
    "schedule_feed",
    selection=dg.AssetSelection.assets(*SCHEDULE_FEED),
    description="Feature pipeline, schedule feed: a day's published schedule and its origin congestion, "
    "run `schedule_lead_days` before the day so serving knows tomorrow's flights.",
)
feature_pipeline = dg.define_asset_job(
    "feature_pipeline",
    selection=dg.AssetSelection.groups("raw", "features"),
    description=(
        "FTI feature pipeline: raw tables, contracts and every feature group into the offline store, for "
        "a range of days."
    ),
)
TRAINING_PIPELINE = "training_pipeline"


def training_pipeline(settings: Settings) -> AssetJob:
    """The training pipeline, with at most ``settings.dataset_pieces`` monthly steps of
    ``training_dataset`` side by side under the multiprocess executor (a default: the
    launchpad can change it, or pick the in-process executor)."""
    limit = {"key": "fti/step", "value": "training_dataset_piece", "limit": settings.dataset_pieces}
    return dg.define_asset_job(
        TRAINING_PIPELINE,
        selection=dg.AssetSelection.assets(
            "training_dataset",
            "trained_model",
            "model_evaluation",
            "model_card",
            "champion_model",
            "flight_delay_bento",
        ),
        config={"execution": {"config": {"multiprocess": {"tag_concurrency_limits": [limit]}}}},
        description=(
            "FTI training pipeline: point-in-time training dataset, LightGBM model (MLflow), evaluation "
            "against the champion, model card, promotion gates, Bento."
        ),
    )


inference_pipeline = dg.define_asset_job(
    "inference_pipeline",
    selection=dg.AssetSelection.groups("inference") | dg.AssetSelection.assets("online_features"),
    description="FTI inference pipeline: online store refresh and batch predictions with the current champion.",
)
online_refresh = dg.define_asset_job(
    "online_refresh",
    selection=dg.AssetSelection.assets("online_features"),
    description=(
        "Inference pipeline, online store refresh alone: each entity's latest features as of the given "
        "instant."
    ),
)
daily_pipeline = dg.define_asset_job(
    "daily_pipeline",
    selection=(
        dg.AssetSelection.groups("raw", "features", "inference", "monitoring")
        | dg.AssetSelection.assets("online_features")
    )
    - dg.AssetSelection.assets("replay_report", *SCHEDULE_FEED),
    description=(
        "The FTI feature and inference pipelines and monitoring for one finished day: outcomes and "
        "features, online refresh, batch predictions, drift and performance. The day's schedule came "
        "earlier, through `schedule_feed`."
    ),
)
challenger_rollout = dg.define_asset_job(
    "challenger_rollout",
    selection=dg.AssetSelection.assets("challenger_model"),
    description=(
        "Deployment step of the FTI training pipeline: put the evaluated challenger in shadow or canary "
        "beside the champion, or retire it."
    ),
)
monitoring_pipeline = dg.define_asset_job(
    "monitoring_pipeline",
    selection=dg.AssetSelection.assets(
        "model_performance",
        "feature_drift_report",
        "prediction_drift_report",
        "shadow_comparison",
        "serving_skew",
    ),
    description=(
        "Monitoring, closing the FTI loop: performance on known outcomes, feature and prediction drift, "
        "shadow evidence (the retraining sensor reads them)."
    ),
)
replay_report_job = dg.define_asset_job(
    "replay_report_job",
    selection=dg.AssetSelection.assets("replay_report"),
    description=(
        "Monitoring: the timeline of the last `fti replay` (drift alarms, retrains, promotions, AUC per "
        "month)."
    ),
)
champion_change = dg.define_asset_job(
    "champion_change",
    selection=dg.AssetSelection.assets("champion_model", "flight_delay_bento"),
    description=(
        "FTI training pipeline, deployment: move the champion (promote the evaluated challenger, or roll "
        "back) and package it."
    ),
)
JOBS = [
    schedule_feed,
    online_refresh,
    feature_pipeline,
    inference_pipeline,
    monitoring_pipeline,
    daily_pipeline,
    challenger_rollout,
    champion_change,
    replay_report_job,
]


def build_jobs(settings: Settings) -> list[AssetJob]:
    return [*JOBS, training_pipeline(settings)]
