"""The delay statistics are exact at any instant: equal to a recount over the trailing windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from fti_assets.domain.catalog import group
from fti_assets.domain.retrieval import asof_join
from fti_assets.domain.transforms import delay_stats

T0 = datetime(2013, 3, 1, tzinfo=UTC)
UTC_US = pl.Datetime("us", "UTC")

outcome = st.tuples(
    st.sampled_from(["AA", "UA"]),
    st.integers(0, 14 * 24 * 60),  # minutes after T0
    st.booleans(),
    st.integers(-30, 200),
    st.sampled_from(["arrived", "arrived", "cancelled"]),
)


def _outcomes(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "carrier": [r[0] for r in rows],
            "known_at": [T0 + timedelta(minutes=r[1]) for r in rows],
            "is_delayed": [r[2] for r in rows],
            "arr_delay": [r[3] for r in rows],
            "status": [r[4] for r in rows],
        },
        schema={
            "carrier": pl.String,
            "known_at": UTC_US,
            "is_delayed": pl.Boolean,
            "arr_delay": pl.Int64,
            "status": pl.String,
        },
    )


def _recount(rows: list[tuple], carrier: str, at: datetime) -> dict:
    arrived = [r for r in rows if r[0] == carrier and r[4] == "arrived"]
    day = [r for r in arrived if at - timedelta(days=1) < T0 + timedelta(minutes=r[1]) <= at]
    week = [r for r in arrived if at - timedelta(days=7) < T0 + timedelta(minutes=r[1]) <= at]
    return {
        "carrier_flights_1d": len(day),
        "carrier_delay_share_1d": sum(r[2] for r in day) / len(day) if day else None,
        "carrier_flights_7d": len(week),
        "carrier_delay_share_7d": sum(r[2] for r in week) / len(week) if week else None,
        "carrier_mean_arr_delay_7d": sum(r[3] for r in week) / len(week) if week else None,
    }


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(outcome, min_size=1, max_size=40),
    probes=st.lists(st.integers(0, 16 * 24 * 60 * 60), min_size=1, max_size=12),
)
def test_property_the_value_at_any_instant_is_the_recount_of_its_windows(rows: list, probes: list) -> None:
    stats_group = group("carrier_delay_stats")
    table = delay_stats(_outcomes(rows), ["carrier"], "carrier", T0 - timedelta(days=8))
    spine = pl.DataFrame(
        {
            "carrier": [c for _ in probes for c in ("AA", "UA")],
            "as_of": [T0 + timedelta(seconds=s) for s in probes for _ in ("AA", "UA")],
        },
        schema={"carrier": pl.String, "as_of": UTC_US},
    )
    joined = asof_join(spine, table, stats_group)
    for row in joined.iter_rows(named=True):
        want = _recount(rows, row["carrier"], row["as_of"])
        got = {k: row[k] for k in want}
        for name in ("carrier_flights_1d", "carrier_flights_7d"):
            got[name] = got[name] or 0  # no row yet: the catalog's default, 0 flights
        assert got == want, (row["as_of"], got, want)


def test_an_outcome_leaves_the_one_day_window_at_the_instant_it_turns_a_day_old() -> None:
    rows = [("AA", 60, True, 40, "arrived")]
    table = delay_stats(_outcomes(rows), ["carrier"], "carrier", T0)
    known = T0 + timedelta(minutes=60)
    by_instant = {r["known_at"]: r for r in table.iter_rows(named=True)}
    assert by_instant[known]["carrier_flights_1d"] == 1
    assert by_instant[known + timedelta(days=1)]["carrier_flights_1d"] == 0
    assert by_instant[known + timedelta(days=1)]["carrier_flights_7d"] == 1
    assert by_instant[known + timedelta(days=7)]["carrier_flights_7d"] == 0
