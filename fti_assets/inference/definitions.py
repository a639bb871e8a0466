"""The inference pipeline's definitions: the online store refresh and batch predictions."""

import dagster as dg

from fti_assets.inference.batch_predictions import batch_predictions
from fti_assets.inference.online_features import online_features
from fti_assets.inference.online_store_sensor import online_store_rebuild_sensor

defs = dg.Definitions(assets=[online_features, batch_predictions], sensors=[online_store_rebuild_sensor])
