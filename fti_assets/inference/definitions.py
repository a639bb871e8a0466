"""The inference pipeline's definitions: the online store's backstop, its stream check, batch predictions."""

import dagster as dg

from fti_assets.inference.batch_predictions import batch_predictions
from fti_assets.inference.online_features import online_features
from fti_assets.inference.online_store_sensor import online_store_rebuild_sensor
from fti_assets.inference.stream_health import feature_stream_sensor, stream_fresh

defs = dg.Definitions(
    assets=[online_features, batch_predictions],
    asset_checks=[stream_fresh],
    sensors=[feature_stream_sensor, online_store_rebuild_sensor],
)
