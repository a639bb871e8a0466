"""The corrupt-source corpus: every kind of damaged source, its outcome and its message.

Each case edits a clean three-day CSV source of the real data, materializes the raw table and
checks the outcome: ``refused`` (the step fails with the message, nothing is stored),
``quarantined`` (the run succeeds, the bad rows are held with the message as reason, nothing
is lost) or ``accepted`` (the stored table equals the one from the clean source, and the
message names the metadata that reports what was done).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from fti_assets_tests.conftest import materialize, write_source_slice
from fti_assets_tests.features.test_raw_contracts import _check, _failure_text, _quarantine, _stored

FIRST, LAST = date(2013, 1, 1), date(2013, 1, 3)
Edit = Callable[[Path], None]


def _csv(table: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> Edit:
    def edit(source: Path) -> None:
        path = source / f"{table}.csv"
        change(pl.read_csv(path, infer_schema=False, null_values=["NA"])).write_csv(path, null_value="NA")

    return edit


def _text(table: str, change: Callable[[str], str]) -> Edit:
    def edit(source: Path) -> None:
        path = source / f"{table}.csv"
        path.write_bytes(change(path.read_bytes().decode()).encode())

    return edit


def _rows(
    column: str, value: str | Callable[[pl.Expr], pl.Expr], rows: list[int]
) -> Callable[[pl.DataFrame], pl.DataFrame]:
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        new = value(pl.col(column)) if callable(value) else pl.lit(value, pl.String)
        return frame.with_columns(
            pl.when(pl.int_range(pl.len()).is_in(rows)).then(new).otherwise(pl.col(column)).alias(column)
        )

    return change


def _day(d: int) -> pl.Expr:
    return (pl.col("month") == "1") & (pl.col("day") == str(d))


def _next_day(time_hour: pl.Expr) -> pl.Expr:
    return (time_hour.str.to_datetime(time_zone="UTC") + pl.duration(days=1)).dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _truncate_in_day_3(frame: pl.DataFrame) -> pl.DataFrame:
    before = frame.filter(~_day(3))
    return pl.concat([before, frame.filter(_day(3)).head(300)])


def _pandas_floats(frame: pl.DataFrame) -> pl.DataFrame:
    """What pandas writes for integer columns holding nulls: floats, 517.0."""
    nullable = [
        c for c in ("dep_time", "dep_delay", "arr_time", "arr_delay", "air_time") if c in frame.columns
    ]
    return frame.with_columns(pl.col(c).cast(pl.Float64).cast(pl.String) for c in nullable)


def _naive_local(frame: pl.DataFrame) -> pl.DataFrame:
    """What R's write.csv writes for nycflights13's time_hour: New York time, no offset."""
    local = pl.col("time_hour").str.to_datetime(time_zone="UTC").dt.convert_time_zone("America/New_York")
    return frame.with_columns(time_hour=local.dt.strftime("%Y-%m-%d %H:%M:%S"))


def _parquet_times(unit: str, zone: str | None) -> Edit:
    """flights as Parquet with time_hour in ``unit``, naive (New York time) or zoned."""

    def edit(source: Path) -> None:
        frame = pl.read_csv(source / "flights.csv", infer_schema=False, null_values=["NA"])
        utc = pl.col("time_hour").str.to_datetime(time_unit=unit, time_zone="UTC")
        stamp = (
            utc.dt.convert_time_zone(zone)
            if zone
            else utc.dt.convert_time_zone("America/New_York").dt.replace_time_zone(None)
        )
        frame.with_columns(time_hour=stamp).write_parquet(source / "flights.parquet")
        (source / "flights.csv").unlink()

    return edit


@dataclass(frozen=True)
class Case:
    kind: str
    table: str
    edit: Edit
    outcome: str  # refused, quarantined or accepted
    message: str  # in the failure (refused), in every quarantine reason, or a metadata entry (accepted)
    rows: int = 0  # quarantined rows, or rows the accepted table differs from the clean one by
    config: dict | None = None  # the asset's config (RawContractConfig), or the source's (RawSource)
    added: int = 0  # rows the edit adds to the source


CORPUS = [
    Case(
        "file truncated inside a day",
        "flights",
        _csv("flights", _truncate_in_day_3),
        "refused",
        "2013-01-03: 300 rows, under 60% of the median of 892.5 the 7 days before",
    ),
    Case(
        "empty day inside the source's range",
        "flights",
        _csv("flights", lambda f: f.filter(~_day(2))),
        "refused",
        "2013-01-02: no rows, inside the source's range 2013-01-01..2013-01-03",
    ),
    Case(
        "truncated file, accepted on purpose",
        "flights",
        _csv("flights", _truncate_in_day_3),
        "accepted",
        "accepted",
        rows=-614,
        config={"accept_smaller": True},
    ),
    Case(
        "unbalanced quote",
        "flights",
        _text("flights", lambda t: t.replace(",UA,", ',"UA,', 1)),
        "refused",
        "flights.csv: line ",
    ),
    Case(
        "ragged line",
        "weather",
        _text("weather", lambda t: t.replace("\n", ",1,2\n", 6).replace(",1,2\n", "\n", 5)),
        "refused",
        "line 6: 17 fields, the header has 15",
    ),
    Case("time_hour without a zone", "weather", _csv("weather", _naive_local), "accepted", "rows_rejected=0"),
    Case(
        "time_hour without a zone, refused",
        "weather",
        _csv("weather", lambda f: pl.concat([_naive_local(f.head(3)), f.slice(3)])),
        "quarantined",
        "time_hour: type",
        rows=3,
        config={"naive_times": False},
    ),
    Case(
        "time_hour shifted by a day",
        "flights",
        _csv("flights", _rows("time_hour", _next_day, [4, 9])),
        "quarantined",
        "time_hour_matches_year_month_day_hour_in_America/New_York",
        rows=2,
    ),
    Case(
        "integers written as floats",
        "flights",
        _csv("flights", _pandas_floats),
        "accepted",
        "rows_rejected=0",
    ),
    Case(
        "a fraction in an integer column",
        "flights",
        _csv("flights", _rows("arr_delay", "-12.3", [8])),
        "quarantined",
        "arr_delay: type(Int64)",
        rows=1,
    ),
    Case(
        "UTF-8 BOM and CRLF line endings",
        "flights",
        _text("flights", lambda t: "\ufeff" + t.replace("\n", "\r\n")),
        "accepted",
        "rows_rejected=0",
    ),
    Case(
        "ns timestamps without a zone", "flights", _parquet_times("ns", None), "accepted", "rows_rejected=0"
    ),
    Case(
        "ms timestamps with a zone",
        "flights",
        _parquet_times("ms", "America/Chicago"),
        "accepted",
        "rows_rejected=0",
    ),
    Case(
        "exact duplicate rows",
        "flights",
        _csv("flights", lambda f: pl.concat([f, f.slice(10, 2)])),
        "accepted",
        "duplicate_rows_dropped=2",
    ),
    Case(
        "same flight twice with different values",
        "flights",
        _csv("flights", lambda f: pl.concat([f, f.slice(10, 1).with_columns(dep_delay=pl.lit("99"))])),
        "quarantined",
        "uniqueness",
        rows=2,
        added=1,
    ),
    Case(
        "rows of a year outside the partitions",
        "flights",
        _csv(
            "flights",
            lambda f: pl.concat(
                [
                    f,
                    f.head(5).with_columns(
                        year=pl.lit("2014"), time_hour=pl.col("time_hour").str.replace("2013", "2014")
                    ),
                ]
            ),
        ),
        "accepted",
        "rows_outside_partitions=5",
    ),
]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, pl.DataFrame]]:
    """Three real days as CSV, and what materializing them stores."""
    source = write_source_slice(tmp_path_factory.mktemp("clean3"), FIRST, LAST, fmt="csv")
    home = tmp_path_factory.mktemp("clean3_home")
    assert materialize(home, ["airports", "flights", "weather"], FIRST, LAST, source=source).success
    return source, {t: _stored(home, t) for t in ("flights", "weather")}


def _metadata(result, table: str) -> dict[str, object]:
    """Every metadata entry of the table's checks and materialization, values as text."""
    entries = {}
    for event in result.all_events:
        data = event.event_specific_data
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            entries.update(data.metadata)
        elif (
            event.event_type_value == "ASSET_MATERIALIZATION"
            and data.materialization.asset_key.path[-1] == table
        ):
            entries.update(data.materialization.metadata)
    return {k: getattr(v, "value", v) for k, v in entries.items()}


@pytest.mark.parametrize("case", CORPUS, ids=[c.kind for c in CORPUS])
def test_corrupt_source(case: Case, clean, tmp_path: Path) -> None:
    clean_source, clean_stored = clean
    source = Path(shutil.copytree(clean_source, tmp_path / "source"))
    case.edit(source)
    home = tmp_path / "home"
    config = None
    if case.config:
        on_source = "naive_times" in case.config
        config = (
            {"resources": {"source": {"config": {"location": str(source), **case.config}}}}
            if on_source
            else {"ops": {case.table: {"config": case.config}}}
        )
    tables = ["airports", case.table] if case.table == "flights" else [case.table]  # checked against airports
    result = materialize(home, tables, FIRST, LAST, source=source, run_config=config)
    stored, held, good = _stored(home, case.table), _quarantine(home, case.table), clean_stored[case.table]
    if case.outcome == "refused":
        text = _failure_text(result)
        assert not result.success and case.message in text
        assert len(text) < 2_000, "the message quotes too much of the file"
        assert stored is None
    elif case.outcome == "quarantined":
        assert result.success
        assert held.height == case.rows and all(case.message in r for r in held["reason"])
        assert stored.height + held.height == good.height + case.added  # nothing lost
    else:
        assert result.success, _failure_text(result)
        key, _, value = case.message.partition("=")
        metadata = _metadata(result, case.table)
        assert str(metadata[key]).lower() == (value or "true").lower()
        if case.rows:
            assert stored.height == good.height + case.rows
        else:
            assert stored.sort(stored.columns).equals(good.sort(good.columns)), (
                "the stored table differs from the clean one"
            )
        assert _check(result, "volume")


def test_a_third_party_export_gives_the_same_training_rows(clean, tmp_path: Path) -> None:
    """nycflights13 as pandas or R write it (integers with nulls as floats, time_hour in New
    York time without an offset) trains on exactly the rows the packaged data gives."""
    from fti_assets_tests.conftest import FEATURES, RAW

    clean_source, _ = clean
    export = Path(shutil.copytree(clean_source, tmp_path / "export"))
    _csv("flights", lambda f: _naive_local(_pandas_floats(f)))(export)
    _csv("weather", _naive_local)(export)
    window = {
        "start": FIRST.isoformat(),
        "end": LAST.isoformat(),
        "train_end": "2013-01-02",
        "validation_end": "2013-01-03",
    }
    config = {"ops": {"training_dataset": {"config": window}}}
    datasets = []
    for name, source in (("clean", clean_source), ("export", export)):
        home = tmp_path / name
        assert materialize(
            home, [*RAW, *FEATURES, "training_dataset"], FIRST, LAST, source=source, run_config=config
        ).success
        datasets.append(_stored(home, "training_dataset"))
    clean_rows, export_rows = datasets
    assert clean_rows.height > 2_000
    assert export_rows.equals(clean_rows)
