"""Monitoring's definitions: reports on the served model, and the sensors that act on them."""

import dagster as dg

from fti_assets.monitoring.drift_reports import feature_drift_report, prediction_drift_report
from fti_assets.monitoring.model_performance import model_performance
from fti_assets.monitoring.replay_report import replay_report
from fti_assets.monitoring.run_outcome import run_outcome_on_failure, run_outcome_on_success
from fti_assets.monitoring.sensors import canary_guard_sensor, champion_guard_sensor, retraining_sensor
from fti_assets.monitoring.serving_skew import serving_skew
from fti_assets.monitoring.shadow_comparison import shadow_comparison

defs = dg.Definitions(
    assets=[
        model_performance,
        feature_drift_report,
        prediction_drift_report,
        shadow_comparison,
        serving_skew,
        replay_report,
    ],
    sensors=[
        retraining_sensor,
        canary_guard_sensor,
        champion_guard_sensor,
        run_outcome_on_success,
        run_outcome_on_failure,
    ],
)
