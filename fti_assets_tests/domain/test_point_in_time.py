"""Point-in-time correctness: no feature value known after a row's as-of instant is used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from fti_assets.domain.catalog import FeatureGroup
from fti_assets.domain.retrieval import asof_join, latest_per_entity

T0 = datetime(2013, 3, 1, 12, 0, tzinfo=UTC)
GROUP = FeatureGroup(name="g", keys=("k",), features=("v",), defaults={})


def _utc(values: list[datetime]) -> pl.Series:
    return pl.Series(values, dtype=pl.Datetime("us", "UTC"))


def _spine(keys: list[str], as_of: list[datetime]) -> pl.DataFrame:
    return pl.DataFrame({"k": keys, "as_of": _utc(as_of)})


def _table(keys: list[str], known_at: list[datetime], values: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"k": keys, "known_at": _utc(known_at), "v": values},
        schema={"k": pl.String, "known_at": pl.Datetime("us", "UTC"), "v": pl.Float64},
    )


def test_value_known_exactly_at_the_as_of_instant_is_used() -> None:
    table = _table(["a", "a"], [T0 - timedelta(hours=1), T0], [1.0, 2.0])
    joined = asof_join(_spine(["a"], [T0]), table, GROUP)
    assert joined["v"].to_list() == [2.0]
    assert joined["g_known_at"].to_list() == [T0]


def test_value_known_one_second_later_is_not_used() -> None:
    table = _table(["a", "a"], [T0 - timedelta(hours=1), T0 + timedelta(seconds=1)], [1.0, 2.0])
    joined = asof_join(_spine(["a"], [T0]), table, GROUP)
    assert joined["v"].to_list() == [1.0]


def test_value_known_one_microsecond_later_is_not_used_and_nothing_earlier_gives_default() -> None:
    group = FeatureGroup(name="g", keys=("k",), features=("v",), defaults={"v": -1.0})
    table = _table(["a"], [T0 + timedelta(microseconds=1)], [5.0])
    joined = asof_join(_spine(["a"], [T0]), table, group)
    assert joined["v"].to_list() == [-1.0]
    assert joined["g_known_at"].to_list() == [None]


def test_values_never_cross_entities() -> None:
    table = _table(["a", "b"], [T0 - timedelta(hours=2), T0 - timedelta(hours=1)], [1.0, 2.0])
    joined = asof_join(_spine(["a", "b", "c"], [T0, T0, T0]), table, GROUP).sort("k")
    assert joined["v"].to_list() == [1.0, 2.0, None]


def test_online_latest_equals_asof_at_refresh_time() -> None:
    table = _table(["a", "a", "b"], [T0 - timedelta(hours=3), T0 + timedelta(minutes=5), T0], [1.0, 9.0, 2.0])
    latest = latest_per_entity(table, GROUP, T0).sort("k")
    assert latest.select("k", "v").rows() == [("a", 1.0), ("b", 2.0)]


instants = st.integers(min_value=0, max_value=72).map(lambda h: T0 + timedelta(minutes=30 * h))


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.tuples(st.sampled_from("abc"), instants, st.floats(-100, 100)), max_size=40),
    queries=st.lists(st.tuples(st.sampled_from("abcd"), instants), min_size=1, max_size=20),
)
def test_property_joined_value_is_the_latest_known_at_or_before_as_of(rows, queries) -> None:
    table = _table([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    joined = asof_join(_spine([q[0] for q in queries], [q[1] for q in queries]), table, GROUP)
    assert joined.height == len(queries)
    for row in joined.iter_rows(named=True):
        known = row["g_known_at"]
        candidates = [r for r in rows if r[0] == row["k"] and r[1] <= row["as_of"]]
        if not candidates:
            assert known is None and row["v"] is None
            continue
        # Never from the future, and no fresher value was skipped.
        assert known <= row["as_of"]
        assert known == max(r[1] for r in candidates)
        assert row["v"] in [r[2] for r in candidates if r[1] == known]


def test_a_value_older_than_the_ttl_is_not_used() -> None:
    group = FeatureGroup(name="g", keys=("k",), features=("v",), defaults={"v": 0.0}, ttl=timedelta(days=2))
    table = _table(["a", "b"], [T0 - timedelta(days=2), T0 - timedelta(days=2, seconds=1)], [1.0, 2.0])
    joined = asof_join(_spine(["a", "b"], [T0, T0]), table, group).sort("k")
    assert joined["v"].to_list() == [1.0, 0.0]  # exactly the TTL old is still valid; a second more is not
    assert latest_per_entity(table, group, T0)["k"].to_list() == ["a"]


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.tuples(st.sampled_from("ab"), instants, st.floats(-100, 100)), max_size=30),
    queries=st.lists(st.tuples(st.sampled_from("ab"), instants), min_size=1, max_size=10),
    ttl_hours=st.integers(1, 40),
)
def test_property_ttl_keeps_only_recent_known_values(rows, queries, ttl_hours) -> None:
    group = FeatureGroup(name="g", keys=("k",), features=("v",), ttl=timedelta(hours=ttl_hours))
    table = _table([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    joined = asof_join(_spine([q[0] for q in queries], [q[1] for q in queries]), table, group)
    for row in joined.iter_rows(named=True):
        candidates = [
            r[1]
            for r in rows
            if r[0] == row["k"] and row["as_of"] - timedelta(hours=ttl_hours) <= r[1] <= row["as_of"]
        ]
        assert row["g_known_at"] == (max(candidates) if candidates else None)


def test_two_legs_landing_at_the_same_minute_keep_the_one_scheduled_last() -> None:
    from fti_assets.domain.transforms import plane_last_arrival

    legs = pl.DataFrame(
        {
            "flight_id": ["b", "a", "c"],
            "status": ["arrived"] * 3,
            "tailnum": ["N1"] * 3,
            "known_at": _utc([T0, T0, T0 + timedelta(hours=3)]),
            "flight_date": [T0.date()] * 3,
            "arr_delay": [5.0, 50.0, 0.0],
            "dep_delay": [1.0, 2.0, 0.0],
            "is_delayed": [False, True, False],
            # b and a land together: b was scheduled 45 minutes after a
        }
    )
    for order in (legs, legs.reverse()):
        table = plane_last_arrival(order)
        assert table["plane_prev_arr_delay"].to_list() == [5.0, 0.0]
        assert table.select(pl.col("known_at").is_sorted().over("tailnum")).to_series().all()
