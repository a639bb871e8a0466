"""The live skew monitor on real flights served in process by the service's own handling."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from fti_assets.inference.refresh import offline_events, write_backstop
from fti_assets.resources.environment import build_resources
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.serving.prediction_log import PredictionLog
from fti_assets.serving.simulate import serve_schedule, serving_model
from fti_assets.serving.sqlite_store import OnlineStoreReader, SqliteWriter
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


def _champion(home: Path):
    registry = build_resources(settings_for(home))["registry"]
    return serving_model(registry.load(int(registry.version_by_alias("champion").version)))


def _serve(source: Path, target: Path, flights: int = 40) -> dict:
    """Serve ``flights`` of DAY at their prediction times from an online store fed by the
    stream's writer, then materialize serving_skew."""
    home = Path(shutil.copytree(source, target))
    store = OfflineStore(home=str(home))
    schedule = store.read("flight_schedule", [DAY.isoformat()]).sample(flights, seed=3)
    start = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) - timedelta(hours=6)
    writer = SqliteWriter(home / "online.sqlite")
    write_backstop(writer, store, store.read("airports"), start)
    events = offline_events(store, start + timedelta(days=2), since=start)
    log = PredictionLog(home / "predictions")
    counts = serve_schedule(
        schedule, events, writer, OnlineStoreReader(home / "online.sqlite"), _champion(home), log
    )
    log.close()
    assert counts["served"] == flights and counts["events"] > 100
    result = materialize(home, ["serving_skew"], DAY, DAY)
    assert result.success
    return store.read("serving_skew", [DAY.isoformat()]).row(0, named=True)


def test_the_stream_serves_exactly_the_offline_vectors(trained: Path, tmp_path: Path) -> None:
    skew = _serve(trained, tmp_path / "stream")
    assert skew["compared_rows"] == 40 and skew["past_flights"] == 0
    assert skew["rows_with_any_mismatch"] == 0
    assert skew["probability_delta_max"] <= 1e-9
    assert skew["served_congestion_share"] == 1.0  # the schedule was published ahead


def _answer_one(home: Path, now: datetime | None) -> dict:
    from fti_assets.serving.handling import answer
    from fti_assets.serving.predictor import ServingState
    from fti_assets.serving.simulate import requests

    store = OfflineStore(home=str(home))
    flight = store.read("flight_schedule", [DAY.isoformat()]).sort("prediction_time").head(1)
    log = PredictionLog(home / "predictions")
    body = answer(
        ServingState(_champion(home)),
        requests(flight),
        OnlineStoreReader(home / "online.sqlite"),
        False,
        log,
        now=now,
    )
    log.close()
    [prediction] = json.loads(body)
    return prediction | {"prediction_time": flight["prediction_time"][0]}


def test_a_flight_the_store_no_longer_holds_history_for_is_flagged_and_left_out(
    trained: Path, tmp_path: Path
) -> None:
    home = Path(shutil.copytree(trained, tmp_path / "past"))
    store = OfflineStore(home=str(home))
    later = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(days=4)
    write_backstop(SqliteWriter(home / "online.sqlite"), store, store.read("airports"), later)  # prunes
    prediction = _answer_one(home, None)
    assert prediction["past_flight"] is True and prediction["early"] is False
    assert materialize(home, ["serving_skew"], DAY, DAY).success
    skew = store.read("serving_skew", [DAY.isoformat()]).row(0, named=True)
    assert skew["past_flights"] == 1 and skew["compared_rows"] == 0


def test_a_flight_asked_for_early_is_read_as_of_the_request_flagged_and_left_out(
    trained: Path, tmp_path: Path
) -> None:
    home = Path(shutil.copytree(trained, tmp_path / "early"))
    store = OfflineStore(home=str(home))
    start = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC)
    write_backstop(SqliteWriter(home / "online.sqlite"), store, store.read("airports"), start)
    first = store.read("flight_schedule", [DAY.isoformat()])["prediction_time"].min()
    asked = first - timedelta(hours=3)
    prediction = _answer_one(home, asked)
    assert prediction["early"] is True and prediction["past_flight"] is False
    assert datetime.fromisoformat(prediction["features_as_of"]) == asked
    assert materialize(home, ["serving_skew"], DAY, DAY).success
    skew = store.read("serving_skew", [DAY.isoformat()]).row(0, named=True)
    assert skew["early_flights"] == 1 and skew["compared_rows"] == 0


def test_flights_past_what_the_offline_tables_hold_are_counted_apart_not_compared() -> None:
    import polars as pl

    from fti_assets.monitoring.skew import skew_summary

    late = datetime(2013, 1, 14, 1, tzinfo=UTC)
    served = pl.DataFrame(
        {
            "flight_id": ["a", "b"],
            "prediction_time": [datetime(2013, 1, 13, 20, tzinfo=UTC), late],
            "features_as_of": [datetime(2013, 1, 13, 20, tzinfo=UTC), late],
            "store_newest_event_at": [datetime(2013, 1, 13, 20, tzinfo=UTC), late],
            "served_probability": [0.2, 0.3],
            "past_flight": [False, False],
            "early": [False, False],
            "congestion_known": [True, True],
            "served__x": [1.0, 5.0],
        }
    )
    offline = pl.DataFrame({"flight_id": ["a", "b"], "x": [1.0, 4.0], "offline_probability": [0.2, 0.25]})
    whole = skew_summary(served, offline, ["x"], [])
    assert whole["compared_rows"] == 2 and whole["rows_with_any_mismatch"] == 1
    cut = skew_summary(served, offline, ["x"], [], complete_until=datetime(2013, 1, 14, tzinfo=UTC))
    assert (
        cut["awaiting_offline_flights"] == 1
        and cut["compared_rows"] == 1
        and cut["rows_with_any_mismatch"] == 0
    )
