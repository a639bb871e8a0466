"""Precomputed vectors of published flights equal what the request path computes from the same
refresh, and a later refresh replaces them (real offline store, real SQLite online store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from fti_assets.domain.catalog import feature_names
from fti_assets.domain.encoding import FeatureSpec
from fti_assets.domain.timezones import airport_timezones
from fti_assets.inference.refresh import flight_vectors, snapshot_as_of
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.serving.handling import feature_vectors
from fti_assets.serving.predictor import ServingModel, ServingState, feature_rows, spine
from fti_assets.serving.sqlite_store import OnlineStoreReader, write_snapshot

AS_OF = datetime(2013, 1, 12, 6, tzinfo=UTC)
STATE = ServingState(ServingModel("test", None, FeatureSpec(features=feature_names(), categories={})))


def refreshed(home: Path, path: Path, as_of: datetime) -> OnlineStoreReader:
    """The store as ``online_features`` writes it for ``as_of``: group rows and vectors."""
    store = OfflineStore(home=str(home))
    latest = snapshot_as_of(store, as_of)
    write_snapshot(
        path, latest, airport_timezones(store.read("airports")), as_of, flight_vectors(store, latest, as_of)
    )
    return OnlineStoreReader(path)


def requests(schedule: pl.DataFrame) -> list[dict]:
    """Schedule rows as the service's validated requests (departure in the origin's offset)."""
    return [
        {
            "carrier": r["carrier"],
            "flight": r["flight"],
            "tailnum": r["tailnum"],
            "origin": r["origin"],
            "dest": r["dest"],
            "distance": float(r["distance"]),
            "scheduled_departure": r["scheduled_departure"].astimezone(ZoneInfo(r["origin_tz"])),
            "scheduled_arrival": r["scheduled_arrival"],
        }
        for r in schedule.iter_rows(named=True)
    ]


def computed(flights: list[dict], reader: OnlineStoreReader) -> tuple[list[str], list[dict], list[list[str]]]:
    """The request path alone: group lookups plus the request features."""
    frame = spine(flights, reader)
    rows, unknown = feature_rows(frame, reader)
    return frame["flight_id"].to_list(), rows, unknown


def assert_same_vectors(got: list[dict], want: list[dict]) -> None:
    for a, b in zip(got, want, strict=True):
        for name in feature_names():
            assert a[name] == b[name] or abs(a[name] - b[name]) <= 1e-12, name


def test_a_published_flight_is_served_its_precomputed_vector_equal_to_the_computed_one(
    feature_home: Path, tmp_path: Path
) -> None:
    reader = refreshed(feature_home, tmp_path / "online.sqlite", AS_OF)
    schedule = OfflineStore(home=str(feature_home)).read("flight_schedule")
    published = schedule.filter(
        (pl.col("published_at") <= AS_OF) & (pl.col("prediction_time") >= AS_OF)
    ).sample(80, seed=3)
    later = schedule.filter(pl.col("published_at") > AS_OF).sample(20, seed=3)
    flights = requests(pl.concat([published, later]))
    ids, rows, unknown, paths = feature_vectors(STATE, flights, reader)
    assert paths == ["precomputed"] * 80 + ["computed"] * 20
    want_ids, want_rows, want_unknown = computed(flights, reader)
    assert ids == want_ids and unknown == want_unknown
    assert_same_vectors(rows, want_rows)
    assert any(u for u in unknown[:80])  # some published flights did take defaults, and the vector says which


def test_a_request_that_differs_from_the_published_flight_takes_the_request_path(
    feature_home: Path, tmp_path: Path
) -> None:
    reader = refreshed(feature_home, tmp_path / "online.sqlite", AS_OF)
    schedule = OfflineStore(home=str(feature_home)).read("flight_schedule")
    [flight] = requests(
        schedule.filter((pl.col("published_at") <= AS_OF) & (pl.col("prediction_time") >= AS_OF)).head(1)
    )
    changed = [
        {**flight, "tailnum": "N00NEW"},
        {**flight, "distance": flight["distance"] + 1},
        {**flight, "scheduled_arrival": flight["scheduled_arrival"] + timedelta(minutes=5)},
    ]
    _, rows, _, paths = feature_vectors(STATE, [flight, *changed], reader)
    assert paths == ["precomputed", "computed", "computed", "computed"]
    assert rows[1]["plane_known"] == 0 and rows[2]["distance"] == flight["distance"] + 1
    assert_same_vectors(rows[1:], computed(changed, reader)[1])


def test_a_later_refresh_recomputes_the_vectors_from_its_own_snapshot(
    feature_home: Path, tmp_path: Path
) -> None:
    """Hourly weather moves between refreshes: a flight's vector is always the one of the
    snapshot served beside it, and a flight whose prediction time has passed is no longer precomputed."""
    path = tmp_path / "online.sqlite"
    schedule = OfflineStore(home=str(feature_home)).read("flight_schedule")
    later = AS_OF + timedelta(hours=6)
    flights = requests(
        schedule.filter((pl.col("published_at") <= AS_OF) & (pl.col("prediction_time") >= later)).sample(
            40, seed=5
        )
    )
    passed = requests(
        schedule.filter(pl.col("prediction_time").is_between(AS_OF, later, closed="left")).sample(10, seed=5)
    )
    _, first, _, _ = feature_vectors(STATE, flights, refreshed(feature_home, path, AS_OF))
    reader = refreshed(feature_home, path, later)
    _, rows, _, paths = feature_vectors(STATE, flights + passed, reader)
    assert paths == ["precomputed"] * 40 + ["computed"] * 10
    assert_same_vectors(rows, computed(flights + passed, reader)[1])
    assert any(a["temp"] != b["temp"] for a, b in zip(first, rows, strict=False))  # the weather did move
