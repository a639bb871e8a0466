"""Dagster sees what each asset reads: its asset graph maps each partition to the upstream
partitions the asset's code reads through the offline store, not a subset of them."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest

from fti_assets.definitions import defs
from fti_assets.domain.catalog import FEATURE_GROUPS, history_days
from fti_assets.features.feature_groups import OUTCOME_LOOKBACK_DAYS
from fti_assets.features.lookback import missing_days

GRAPH = defs.resolve_asset_graph()
#: A day far enough into the window that every TTL's reach stays inside it.
DAY = date(2013, 3, 10)
HISTORY_GROUPS = [
    g for g in FEATURE_GROUPS if g.name != "origin_congestion"
]  # congestion is the day's own partition, an input


def parents(asset: str) -> set[str]:
    return {key.to_user_string() for key in GRAPH.get(dg.AssetKey(asset)).parent_keys}


def upstream_days(asset: str, parent: str, day: date) -> list[date]:
    """The partitions of ``parent`` that Dagster maps ``asset``'s partition ``day`` to."""
    result = GRAPH.get_parent_partition_keys_for_child(
        day.isoformat(), dg.AssetKey(parent), dg.AssetKey(asset)
    )
    assert result.required_but_nonexistent_subset.is_empty
    return sorted(date.fromisoformat(k) for k in result.partitions_subset.get_partition_keys())


def first_day(asset: str) -> date:
    return date.fromisoformat(GRAPH.get(dg.AssetKey(asset)).partitions_def.get_first_partition_key())


@pytest.mark.parametrize("asset", ["batch_predictions", "serving_skew"])
def test_a_retrieval_depends_on_every_feature_partition_its_ttls_reach(asset: str) -> None:
    for group in HISTORY_GROUPS:
        assert group.name in parents(asset)
        if not GRAPH.get(dg.AssetKey(group.name)).is_partitioned:
            continue
        # Exactly the partitions OfflineStore.read_history reads for the day.
        assert upstream_days(asset, group.name, DAY) == history_days(group, DAY, DAY), group.name
    stats = upstream_days(asset, "carrier_delay_stats", DAY)
    assert (
        stats[0] <= DAY - timedelta(days=10) and stats[-1] >= DAY
    )  # the 10-day TTL's trailing days are there
    for loaded in ("flight_schedule", "origin_congestion"):  # the day's own partition, loaded as an input
        assert upstream_days(asset, loaded, DAY) == [DAY]


def test_batch_predictions_depends_on_the_models_it_scores() -> None:
    assert {"champion_model", "challenger_model"} <= parents("batch_predictions")


def test_the_first_day_depends_on_the_partitions_that_exist() -> None:
    first = first_day("batch_predictions")
    assert upstream_days("batch_predictions", "plane_last_arrival", first) == [
        first,
        first + timedelta(days=1),
    ]


def test_the_online_refresh_depends_on_every_feature_group_and_the_schedule() -> None:
    assert {g.name for g in FEATURE_GROUPS} | {"flight_schedule", "airports"} <= parents("online_features")
    # Unpartitioned, it depends on every partition of each: the refresh instant is run config.
    for upstream in ("origin_weather", "carrier_delay_stats", "plane_last_arrival", "flight_schedule"):
        mapping = GRAPH.get_partition_mapping(dg.AssetKey("online_features"), dg.AssetKey(upstream))
        assert isinstance(mapping, dg.AllPartitionMapping), upstream


def test_shadow_comparison_depends_on_every_earlier_prediction_and_outcome() -> None:
    assert parents("shadow_comparison") == {"batch_predictions", "flight_outcomes"}
    first = first_day("shadow_comparison")
    for upstream in ("batch_predictions", "flight_outcomes"):
        days = upstream_days("shadow_comparison", upstream, DAY)
        assert days == [first + timedelta(days=n) for n in range((DAY - first).days + 1)], upstream


def test_serving_skew_lists_its_upstreams() -> None:
    assert parents("serving_skew") == {g.name for g in FEATURE_GROUPS} | {"flight_schedule"}


def test_replay_report_lists_what_it_reads() -> None:
    assert parents("replay_report") == {
        "model_performance",
        "feature_drift_report",
        "batch_predictions",
        "flight_outcomes",
        "serving_skew",
    }


@pytest.mark.parametrize("asset", ["carrier_delay_stats", "route_delay_stats"])
def test_delay_stats_load_the_outcome_days_their_lookback_requires(asset: str) -> None:
    loaded = upstream_days(asset, "flight_outcomes", DAY)
    # With nothing stored, require_lookback reports every day it needs as missing.
    required = [
        date.fromisoformat(d)
        for d in missing_days([], [DAY.isoformat()], OUTCOME_LOOKBACK_DAYS, first_day(asset))
    ]
    assert loaded == required
    assert loaded[0] == DAY - timedelta(
        days=9
    )  # 7-day windows of outcomes known up to 2 days after their flight's day
