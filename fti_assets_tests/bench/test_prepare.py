"""The benchmark inputs generated month by month equal the whole scaled year computed at once.

Three months of the real data at 2x, both ways: the whole way is how ``bench.prepare`` built
its inputs before generating a month at a time (one ``replicate`` and ``feature_tables`` call
over everything). The months' boundaries fall inside the delay statistics' trailing windows
and between overnight flights and their arrivals, so a month that missed the days before it
or kept another month's rows would differ.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import bench.generate
from bench.generate import replicate, typed_raw
from bench.pipeline import feature_tables
from bench.prepare import SLICE_DAYS, group_file, numbered, write_inputs
from fti_assets.domain.catalog import FEATURE_GROUPS
from fti_assets.training.dataset import label_spine

YEAR = (date(2013, 1, 1), date(2013, 3, 31))
FACTOR = 2


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@pytest.fixture(scope="module")
def raw() -> dict[str, pl.DataFrame]:
    tables = typed_raw()
    tables["flights"] = tables["flights"].filter(pl.col("flight_date").is_between(*YEAR))
    tables["weather"] = tables["weather"].filter(pl.col("obs_date").is_between(*YEAR))
    return tables


def whole_files(raw: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Every input file's table, computed over the whole scaled period at once."""
    scaled = replicate(raw, FACTOR)
    tables = feature_tables(
        scaled["flights"],
        scaled["weather"],
        scaled["planes"],
        scaled["airports"],
        _utc(YEAR[0]),
        _utc(YEAR[1] + timedelta(days=1)),
    )
    spine = numbered(
        label_spine(tables["flight_outcomes"], tables["flight_schedule"], *(d.isoformat() for d in YEAR))
    )
    hour = pl.col("scheduled_departure").dt.truncate("1h").dt.epoch("s").alias("departure_hour_key")
    peers = spine.select("row_id", "as_of", "origin", "dest", "carrier", "tailnum", hour)
    first = peers["as_of"].min()
    return {
        "spine_full": spine,
        "spine": peers,
        "spine_slice": peers.filter(pl.col("as_of") < first + pl.duration(days=SLICE_DAYS)),
        **{g.name: group_file(g, tables[g.name]) for g in FEATURE_GROUPS},
    }


def monthly_files(raw: dict[str, pl.DataFrame], folder: Path) -> dict[str, pl.DataFrame]:
    folder.mkdir()
    write_inputs(folder, raw, FACTOR, YEAR)
    return {p.stem: pl.read_parquet(p) for p in folder.iterdir()}


def differing(ours: dict[str, pl.DataFrame], whole: dict[str, pl.DataFrame]) -> list[str]:
    """The tables that differ, compared row by row in a canonical order and value by value."""
    out = []
    for name, frame in whole.items():
        try:
            assert_frame_equal(
                ours[name].sort(ours[name].columns), frame.sort(frame.columns), check_exact=True
            )
        except AssertionError:
            out.append(name)
    return out


def test_months_give_the_whole_years_tables(raw: dict[str, pl.DataFrame], tmp_path: Path) -> None:
    whole = whole_files(raw)
    ours = monthly_files(raw, tmp_path / "months")
    assert sorted(ours) == sorted(whole)  # and no month files left behind
    assert all(frame.height for frame in whole.values())
    assert differing(ours, whole) == []


def test_a_month_without_the_days_before_it_is_noticed(
    raw: dict[str, pl.DataFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bench.generate, "LOOKBACK_DAYS", 0)
    ours = monthly_files(raw, tmp_path / "months")
    # Trailing windows lose the previous month's outcomes; evening flights landing after
    # midnight UTC on a month's last day belong to the next month, which no longer sees them.
    assert differing(ours, whole_files(raw)) == [
        "carrier_delay_stats",
        "route_delay_stats",
        "plane_last_arrival",
    ]
