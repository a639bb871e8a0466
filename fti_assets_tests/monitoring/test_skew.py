"""The live skew monitor on real flights served in process by the service's own handling."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from fti_assets.domain.timezones import airport_timezones
from fti_assets.resources.environment import build_resources
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.serving.prediction_log import PredictionLog
from fti_assets.serving.simulate import serve_schedule, serving_model
from fti_assets_tests.conftest import materialize, settings_for

DAY = date(2013, 1, 13)
LOW_FLOORS = {"model_evaluation": {"config": {"floor_auc": 0.5, "floor_max_brier": 0.25}}}


@pytest.fixture(scope="module")
def trained(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = Path(shutil.copytree(feature_home, tmp_path_factory.mktemp("skew") / "home"))
    assert materialize(
        home,
        ["trained_model", "model_evaluation", "champion_model"],
        None,
        None,
        run_config={"ops": LOW_FLOORS},
    ).success
    return home


def _serve(source: Path, target: Path, cadence: str, flights: int = 40) -> dict:
    """Serve ``flights`` of DAY at their prediction times, then materialize serving_skew."""
    home = Path(shutil.copytree(source, target))
    store = OfflineStore(home=str(home))
    registry = build_resources(settings_for(home))["registry"]
    model = serving_model(registry.load(int(registry.version_by_alias("champion").version)))
    schedule = store.read("flight_schedule", [DAY.isoformat()]).sample(flights, seed=3)
    log = PredictionLog(home / "predictions")
    counts = serve_schedule(
        schedule,
        store,
        airport_timezones(store.read("airports")),
        model,
        cadence,
        home / "scratch.sqlite",
        log,
    )
    log.close()
    assert counts["served"] == flights
    result = materialize(home, ["serving_skew"], DAY, DAY)
    assert result.success
    return store.read("serving_skew", [DAY.isoformat()]).row(0, named=True)


def test_a_store_refreshed_at_each_prediction_time_serves_exactly_the_offline_vectors(
    trained: Path, tmp_path: Path
) -> None:
    skew = _serve(trained, tmp_path / "exact", "exact")
    assert skew["compared_rows"] == 40 and skew["past_flights"] == 0
    assert skew["rows_with_any_mismatch"] == 0
    assert skew["probability_delta_max"] <= 1e-9
    assert skew["staleness_hours_max"] == 0
    assert skew["served_congestion_share"] == 1.0  # the schedule was published ahead


def test_a_daily_refresh_serves_stale_values_and_the_monitor_says_so(trained: Path, tmp_path: Path) -> None:
    skew = _serve(trained, tmp_path / "daily", "daily")
    assert skew["compared_rows"] == 40
    assert skew["rows_with_any_mismatch"] > 0 and skew["probability_delta_max"] > 0
    shares = __import__("json").loads(skew["mismatch_share"])
    assert shares["temp"] > 0.5  # weather moves within a day
    assert shares["dep_hour"] == 0 and shares["distance"] == 0 and shares["origin_departures_in_hour"] == 0
    assert 6 < skew["staleness_hours_p50"] < 30


def test_a_flight_asked_for_after_its_prediction_time_is_flagged_and_left_out(
    trained: Path, tmp_path: Path
) -> None:
    from fti_assets.inference.refresh import snapshot_as_of
    from fti_assets.serving.handling import answer
    from fti_assets.serving.predictor import ServingState
    from fti_assets.serving.simulate import requests
    from fti_assets.serving.sqlite_store import OnlineStoreReader, write_snapshot

    home = Path(shutil.copytree(trained, tmp_path / "past"))
    store = OfflineStore(home=str(home))
    registry = build_resources(settings_for(home))["registry"]
    model = serving_model(registry.load(int(registry.version_by_alias("champion").version)))
    flight = store.read("flight_schedule", [DAY.isoformat()]).sort("prediction_time").head(1)
    later = flight["prediction_time"][0] + timedelta(
        hours=5
    )  # a March flight scored with April features, in small
    write_snapshot(
        home / "online.sqlite", snapshot_as_of(store, later), airport_timezones(store.read("airports")), later
    )
    reader = OnlineStoreReader(home / "online.sqlite")
    log = PredictionLog(home / "predictions")
    body = answer(ServingState(model), requests(flight), reader, reader.as_of(), False, log)
    log.close()
    [prediction] = __import__("json").loads(body)
    assert prediction["past_flight"] is True
    assert materialize(home, ["serving_skew"], DAY, DAY).success
    skew = store.read("serving_skew", [DAY.isoformat()]).row(0, named=True)
    assert skew["past_flights"] == 1 and skew["compared_rows"] == 0
    assert datetime.fromisoformat(prediction["features_as_of"]) == later.astimezone(UTC)
