"""The three pipelines of the FTI architecture as Dagster jobs over the one asset graph."""

import dagster as dg

feature_pipeline = dg.define_asset_job(
    "feature_pipeline",
    selection=dg.AssetSelection.groups("raw", "features"),
    description="Raw tables and every feature group, for a range of days.",
)
training_pipeline = dg.define_asset_job(
    "training_pipeline",
    selection=dg.AssetSelection.assets("training_dataset", "trained_model", "model_evaluation", "champion_model", "flight_delay_bento"),
    description="Training dataset, model, evaluation and gates, promotion, Bento.",
)
inference_pipeline = dg.define_asset_job(
    "inference_pipeline",
    selection=dg.AssetSelection.groups("inference") | dg.AssetSelection.assets("online_features"),
    description="Online store refresh and batch predictions with the current champion.",
)
JOBS = [feature_pipeline, training_pipeline, inference_pipeline]
