"""Bad reference data and impossible rows: no guessed time zone, cross-field truth, raw and
features in step, quarantine counted as delivered, and a half day refused on a first ingest."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from fti_assets_tests.conftest import materialize, write_source_slice
from fti_assets_tests.features.test_raw_contracts import _failure_text, _quarantine, _stored

FIRST, LAST = date(2013, 1, 1), date(2013, 1, 3)
ROUTES = ["airports", "flights", "schedules"]


@pytest.fixture(scope="module")
def clean_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_source_slice(tmp_path_factory.mktemp("reference"), FIRST, LAST, fmt="csv")


@pytest.fixture
def source(clean_source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(clean_source, tmp_path / "source"))


def _edit(source: Path, table: str, change) -> None:
    path = source / f"{table}.csv"
    change(pl.read_csv(path, infer_schema=False, null_values=["NA"])).write_csv(path, null_value="NA")


def test_a_quarantined_airport_quarantines_its_flights_instead_of_guessing_a_zone(
    source: Path, tmp_path: Path
) -> None:
    """LAX with latitude 999 is quarantined; its flights, and those to an unknown QQQ, go to
    quarantine as `time_zone_known`, not to New York time."""
    _edit(
        source,
        "airports",
        lambda f: f.with_columns(lat=pl.when(pl.col("faa") == "LAX").then(pl.lit("999")).otherwise("lat")),
    )
    _edit(
        source,
        "flights",
        lambda f: f.with_columns(
            dest=pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("QQQ")).otherwise("dest")
        ),
    )
    home = tmp_path / "home"
    result = materialize(home, ["airports", "flights"], FIRST, LAST, source=source)
    assert result.success, _failure_text(result)  # LAX is 4.5% of these days' flights: under the threshold
    assert "LAX" not in _stored(home, "airports")["faa"].to_list()
    stored, held = _stored(home, "flights"), _quarantine(home, "flights")
    assert not set(stored["dest"]) & {"LAX", "QQQ"}
    unknown = held.filter(pl.col("reason").str.contains("dest: time_zone_known"))
    dests = unknown["row"].str.json_path_match("$.dest").to_list()
    assert set(dests) == {"LAX", "QQQ"} and dests.count("QQQ") == 1 and dests.count("LAX") > 100


def test_flights_need_the_stored_airports(source: Path, tmp_path: Path) -> None:
    result = materialize(tmp_path / "home", ["flights"], FIRST, LAST, source=source)
    assert not result.success
    assert "needs the stored airports table" in _failure_text(result)
    assert _stored(tmp_path / "home", "flights") is None


def _rows(rows: list[int], **changes: pl.Expr):
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        hit = pl.int_range(pl.len()).is_in(rows)
        return frame.with_columns(
            **{c: pl.when(hit).then(e.cast(pl.String)).otherwise(pl.col(c)) for c, e in changes.items()}
        )

    return change


def _int(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Int64)


IMPOSSIBLE = [
    (
        "delays swapped",
        {"dep_delay": pl.col("arr_delay"), "arr_delay": pl.col("dep_delay")},
        "arr_delay: equals_arr_time_minus_sched_arr_time",
    ),
    (
        "120 added to the arrival delay",
        {"arr_delay": _int("arr_delay") + 120},
        "arr_delay: equals_arr_time_minus_sched_arr_time",
    ),
    (
        "departure delay off by 30",
        {"dep_delay": _int("dep_delay") + 30},
        "dep_delay: equals_dep_time_minus_sched_dep_time",
    ),
    ("distance doubled", {"distance": _int("distance") * 2}, "distance: near_great_circle"),
    ("origin as destination", {"dest": pl.col("origin")}, "dest: differs_from_origin"),
    (
        "air time longer than the flight",
        {"air_time": _int("air_time") + 600},
        "air_time: within_actual_block_time",
    ),
    (
        "scheduled arrival a minute after departure",
        {"sched_arr_time": _int("sched_dep_time") + 1},
        "sched_arr_time: plausible_scheduled_duration",
    ),
]


@pytest.mark.parametrize(("kind", "changes", "reason"), IMPOSSIBLE, ids=[i[0] for i in IMPOSSIBLE])
def test_impossible_but_in_range_values_are_quarantined_with_the_rule(
    source: Path, tmp_path: Path, kind: str, changes: dict, reason: str
) -> None:
    original = pl.read_csv(source / "flights.csv", infer_schema=False, null_values=["NA"])
    # Three rows with both delays known and different (a swap changes them).
    differ = original.select(pl.arg_where((pl.col("dep_delay") != pl.col("arr_delay")).fill_null(False)))
    rows = differ.to_series().head(3).to_list()
    _edit(source, "flights", _rows(rows, **changes))
    home = tmp_path / "home"
    result = materialize(home, ["airports", "flights"], FIRST, LAST, source=source)
    assert result.success, _failure_text(result)
    held = _quarantine(home, "flights")
    assert held.height == len(rows) and all(reason in r for r in held["reason"]), held["reason"].to_list()
    assert _stored(home, "flights").height + held.height == original.height


def test_swapped_origin_and_destination_leave_raw_and_features_as_they_were(
    source: Path, tmp_path: Path
) -> None:
    """A day whose origins and destinations are swapped is refused at the raw tables: raw flights
    and schedules are not replaced by the bad ones while the features built from them fail."""
    home = tmp_path / "home"
    tables = [*ROUTES, "flight_schedule"]
    assert materialize(home, tables, FIRST, LAST, source=source).success
    before = {t: _stored(home, t) for t in tables}

    def swap(frame: pl.DataFrame) -> pl.DataFrame:
        day2 = pl.col("day") == "2"
        return frame.with_columns(
            origin=pl.when(day2).then("dest").otherwise("origin"),
            dest=pl.when(day2).then("origin").otherwise("dest"),
        )

    _edit(source, "flights", swap)
    result = materialize(home, tables, FIRST, LAST, source=source)
    assert not result.success
    assert "2013-01-02" in _failure_text(result)
    for table in tables:
        after = _stored(home, table)
        assert after.sort(after.columns).equals(before[table].sort(after.columns)), table


def test_a_reingest_with_rows_quarantined_for_a_reason_is_not_truncated(source: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert materialize(home, ["airports", "flights"], FIRST, LAST, source=source).success
    _edit(source, "flights", _rows(list(range(0, 40, 2)), distance=pl.lit(-5)))
    # One row really missing besides the 20 quarantined ones: still fewer than stored.
    missing = tmp_path / "missing"
    shutil.copytree(source, missing)
    _edit(missing, "flights", lambda f: f.slice(1))
    failed = materialize(home, ["airports", "flights"], FIRST, LAST, source=missing)
    assert "2013-01-01: 841 rows, fewer than the 842 stored" in _failure_text(failed)
    again = materialize(home, ["airports", "flights"], FIRST, LAST, source=source)
    assert again.success, _failure_text(again)
    held = _quarantine(home, "flights").filter(pl.col("run_id") == again.run_id)
    assert held.height == 20 and held["reason"].str.contains("distance: in_range").all()


def test_half_a_day_is_refused_on_a_first_ingest(tmp_path: Path) -> None:
    """10 January cut to half its 932 rows: under 60% of the Thursday before it."""
    last = date(2013, 1, 10)
    source = write_source_slice(tmp_path / "source", FIRST, last, fmt="parquet")
    flights = pl.read_parquet(source / "flights.parquet")
    day10 = (pl.col("month") == "1") & (pl.col("day") == "10")
    assert flights.filter(day10).height == 932
    flights.filter(~day10 | (pl.int_range(pl.len()).over(day10) < 466)).write_parquet(
        source / "flights.parquet"
    )
    result = materialize(tmp_path / "home", ["airports", "flights"], FIRST, last, source=source)
    assert not result.success
    assert "2013-01-10: 466 rows, under 60% of the median of 914 the same weekday" in _failure_text(result)


def test_the_volume_rule_raises_no_false_alarm_on_a_year_of_real_data() -> None:
    """Every day of 2013's flights and weather against its baseline: holidays (Thanksgiving at
    0.64 of its weekday, Christmas, 31 December) included."""
    from fti_assets.contracts.volume import volume_problems
    from fti_assets.resources.source import PACKAGED, read_raw_table

    for table in ("flights", "weather"):
        raw = read_raw_table(PACKAGED, table)
        day = pl.date(*(pl.col(c).cast(pl.Int32) for c in ("year", "month", "day")))
        counts = dict(raw.group_by(day.alias("d")).len().iter_rows())
        days = sorted(counts)
        assert len(days) >= 364
        new = {d.isoformat(): counts[d] for d in days}
        assert volume_problems(new, {}, counts, (days[0], days[-1])) == {}, table
        # The same rule refuses half of any day but the first.
        halved = {k: n // 2 for k, n in new.items() if k != days[0].isoformat()}
        assert set(volume_problems(halved, {}, counts, (days[0], days[-1]))) == set(halved), table
