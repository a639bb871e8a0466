"""Trailing-window features are never built from a history that is not there."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from fti_assets.features.lookback import missing_days
from fti_assets.resources.offline_store import OfflineStore
from fti_assets_tests.conftest import materialize

OUTCOMES = ["flights", "schedules", "airports", "flight_schedule", "flight_outcomes"]
STATS = ["carrier_delay_stats", "route_delay_stats"]


def test_missing_days_are_those_the_windows_read_and_the_store_lacks() -> None:
    stored = ["2013-01-25", "2013-01-27", "2013-02-01", "2013-02-02"]
    assert missing_days(stored, ["2013-02-01", "2013-02-02"], 9, date(2013, 1, 1)) == [
        "2013-01-23",
        "2013-01-24",
        "2013-01-26",
        "2013-01-28",
        "2013-01-29",
        "2013-01-30",
        "2013-01-31",
    ]
    # Before the first partition there is no history to miss.
    assert missing_days(["2013-01-01", "2013-01-02"], ["2013-01-02"], 9, date(2013, 1, 1)) == []


def test_delay_stats_wait_for_their_lookback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert materialize(home, OUTCOMES, date(2013, 2, 1), date(2013, 2, 3)).success
    early = materialize(home, STATS, date(2013, 2, 1), date(2013, 2, 3))
    assert not early.success
    failures = [
        e.step_failure_data.user_failure_data
        for e in early.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]
    assert len(failures) == 2
    assert all(
        "9 are not stored (2013-01-23, 2013-01-24, 2013-01-25, 2013-01-26, 2013-01-27 ...)" in f.description
        for f in failures
    )
    assert all(
        f.metadata["missing_lookback"].value == [f"2013-01-{d}" for d in range(23, 32)] for f in failures
    )
    store = OfflineStore(home=str(home))
    assert store.partitions("carrier_delay_stats") == [] and store.partitions("route_delay_stats") == []

    assert materialize(home, OUTCOMES, date(2013, 1, 23), date(2013, 1, 31)).success
    rebuilt = materialize(home, STATS, date(2013, 2, 1), date(2013, 2, 3))
    assert rebuilt.success
    assert store.partitions("carrier_delay_stats") == ["2013-02-01", "2013-02-02", "2013-02-03"]
