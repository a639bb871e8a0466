"""Bad input is rejected with a clear reason, nothing bad is stored, and nothing is lost."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from fti_assets_tests.conftest import materialize, write_source_slice

DAY1, DAY2 = date(2013, 1, 1), date(2013, 1, 2)


@pytest.fixture(scope="module")
def clean_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real days as CSV files: the format where wrong types really happen."""
    return write_source_slice(tmp_path_factory.mktemp("clean"), DAY1, DAY2, fmt="csv")


@pytest.fixture
def source(clean_source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(clean_source, tmp_path / "source"))


def _edit(source: Path, table: str, change) -> pl.DataFrame:
    path = source / f"{table}.csv"
    frame = change(pl.read_csv(path, infer_schema=False, null_values=["NA"]))
    frame.write_csv(path, null_value="NA")
    return frame


def _set(column: str, value: str | None, rows: list[int]):
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        hit = pl.int_range(pl.len()).is_in(rows)
        return frame.with_columns(
            pl.when(hit).then(pl.lit(value, pl.String)).otherwise(pl.col(column)).alias(column)
        )

    return change


def _run(home: Path, source: Path, table: str, run_config: dict | None = None):
    partitioned = table in ("flights", "weather")
    return materialize(
        home,
        ["airports", table] if table == "flights" else [table],  # flights are checked against airports
        DAY1 if partitioned else None,
        DAY2 if partitioned else None,
        source=source,
        run_config=run_config,
    )


def _stored(home: Path, table: str) -> pl.DataFrame | None:
    files = sorted((home / "store" / table).glob("*.parquet"))
    return pl.read_parquet(files) if files else None


def _quarantine(home: Path, table: str) -> pl.DataFrame:
    files = sorted((home / "quarantine" / table).glob("*.parquet"))
    return pl.read_parquet(files) if files else pl.DataFrame(schema={"reason": pl.String, "row": pl.String})


def _failure_text(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the step should have failed"
    data = failures[0].step_failure_data
    return (data.user_failure_data.description if data.user_failure_data else "") + (
        data.error.message if data.error else ""
    )


def _check(result, name: str) -> bool:
    evaluations = [
        e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    # The last one: the table under test runs after the airports it is checked against.
    return [ev.passed for ev in evaluations if ev.check_name == name][-1]


def _assert_quarantined(home: Path, table: str, rows_in: int, reason: str, count: int) -> None:
    stored, held = _stored(home, table), _quarantine(home, table)
    assert held.height == count
    assert all(reason in r for r in held["reason"])
    assert stored.height + held.height == rows_in  # nothing lost


def test_missing_file_fails_with_a_clear_message(source: Path, tmp_path: Path) -> None:
    (source / "flights.csv").unlink()
    result = _run(tmp_path / "home", source, "flights")
    assert not result.success
    assert "raw table 'flights' not found" in _failure_text(result)
    assert _stored(tmp_path / "home", "flights") is None


def test_missing_column_fails_with_a_clear_message(source: Path, tmp_path: Path) -> None:
    _edit(source, "flights", lambda f: f.drop("distance"))
    result = _run(tmp_path / "home", source, "flights")
    assert "missing required column(s) distance" in _failure_text(result)
    assert not _check(result, "contract")
    assert _stored(tmp_path / "home", "flights") is None


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("distance", "far", "distance: type(Int64)"),  # wrong type
        ("carrier", None, "carrier: not_nullable"),  # null in a required column
        ("distance", "-5", "distance: in_range"),  # out of range
        ("sched_dep_time", "1275", "sched_dep_time: minutes_below_60"),  # impossible clock time
        ("origin", "jfk!", "origin: str_matches"),  # malformed airport code
        ("time_hour", "yesterday", "time_hour: type"),  # unparseable timestamp
    ],
)
def test_bad_values_under_the_threshold_are_quarantined_and_not_stored(
    source, tmp_path, column, value, reason
) -> None:
    rows_in = _edit(source, "flights", _set(column, value, [3, 50, 700])).height
    home = tmp_path / "home"
    result = _run(home, source, "flights")
    assert result.success
    _assert_quarantined(home, "flights", rows_in, reason, 3)
    assert sorted(_stored(home, "flights")["flight_date"].unique()) == [DAY1, DAY2]


def test_impossible_calendar_date_is_quarantined(source: Path, tmp_path: Path) -> None:
    rows_in = _edit(source, "flights", _set("day", "32", [5])).height
    home = tmp_path / "home"
    assert _run(home, source, "flights").success
    _assert_quarantined(home, "flights", rows_in, "day", 1)


def test_weather_out_of_physical_range_is_quarantined(source: Path, tmp_path: Path) -> None:
    rows_in = _edit(source, "weather", _set("humid", "140", [7])).height
    home = tmp_path / "home"
    assert _run(home, source, "weather").success
    _assert_quarantined(home, "weather", rows_in, "humid: in_range", 1)


def test_over_the_threshold_the_partition_fails_nothing_is_stored_and_rows_are_kept(
    source: Path, tmp_path: Path
) -> None:
    rows_in = _edit(source, "flights", _set("dep_delay", "late", list(range(0, 2000, 10)))).height
    home = tmp_path / "home"
    result = _run(home, source, "flights")
    assert not result.success and not _check(result, "contract")
    assert "rejected share over 5.00% in 2013-01-01, 2013-01-02" in _failure_text(result)
    assert _stored(home, "flights") is None
    assert _quarantine(home, "flights").height == len(range(0, rows_in, 10))


def test_the_threshold_is_configurable(source: Path, tmp_path: Path) -> None:
    _edit(source, "flights", _set("distance", "-1", [1]))
    config = {"ops": {"flights": {"config": {"max_rejected_share": 0.0}}}}
    result = _run(tmp_path / "home", source, "flights", run_config=config)
    assert not result.success and _stored(tmp_path / "home", "flights") is None


@pytest.mark.parametrize(
    ("table", "column", "value", "kind"),
    [
        ("flights", "tailnum", "jane.doe@example.com", "email"),
        ("planes", "model", "call 212-555-0187", "phone"),
        ("airlines", "name", "4111 1111 1111 1111", "card"),
    ],
)
def test_personal_data_blocks_the_partition_and_is_masked_in_quarantine(
    source, tmp_path, table, column, value, kind
) -> None:
    _edit(source, table, _set(column, value, [2]))
    home = tmp_path / "home"
    result = _run(home, source, table)
    assert not result.success and not _check(result, "no_pii")
    assert f"{column} pii({kind})" in _failure_text(result)
    assert _stored(home, table) is None
    held = _quarantine(home, table)
    assert held.height == 1 and value not in held["row"][0] and "<redacted>" in held["row"][0]


def test_an_empty_source_fails(source: Path, tmp_path: Path) -> None:
    _edit(source, "weather", lambda f: f.clear())
    result = _run(tmp_path / "home", source, "weather")
    assert "no rows at all" in _failure_text(result)


def test_a_day_without_rows_is_stored_empty_and_reported(source: Path, tmp_path: Path) -> None:
    _edit(source, "weather", lambda f: f.filter(pl.col("day") != "2"))
    home = tmp_path / "home"
    result = _run(home, source, "weather")
    assert result.success
    [contract] = [
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.event_specific_data.check_name == "contract"
    ]
    assert contract.metadata["days_without_rows"].value == ["2013-01-02"]
    assert pl.read_parquet(home / "store" / "weather" / "2013-01-02.parquet").height == 0


def test_a_failed_run_leaves_the_last_good_materialization_in_place(source: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _run(home, source, "flights").success
    good = _stored(home, "flights")
    _edit(source, "flights", _set("carrier", None, list(range(0, 2000, 5))))
    assert not _run(home, source, "flights").success
    assert _stored(home, "flights").equals(good)


def test_a_smaller_source_fails_and_the_stored_version_stays_unless_accepted(
    source: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    assert _run(home, source, "flights").success
    good = _stored(home, "flights")
    _edit(source, "flights", lambda f: f.slice(0, f.height - 20))  # 20 rows of 2 January lost
    result = _run(home, source, "flights")
    assert not result.success and not _check(result, "volume")
    assert "2013-01-02: 923 rows, fewer than the 943 stored" in _failure_text(result)
    assert _stored(home, "flights").equals(good)
    accept = {"ops": {"flights": {"config": {"accept_smaller": True}}}}
    assert _run(home, source, "flights", run_config=accept).success
    # The 20 rows the source lost are no longer current, but kept as superseded versions.
    stored = _stored(home, "flights")
    assert stored.filter(pl.col("superseded_at").is_null()).height == good.height - 20
    assert stored.height == good.height and stored["superseded_at"].is_not_null().sum() == 20


def test_a_smaller_whole_table_fails_too(source: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert _run(home, source, "airlines").success
    _edit(source, "airlines", lambda f: f.head(10))
    result = _run(home, source, "airlines")
    assert "all: 10 rows, fewer than the 16 stored" in _failure_text(result)
    assert _stored(home, "airlines").height == 16


def test_the_quarantine_view_exists_on_clean_data(source: Path, tmp_path: Path) -> None:
    import duckdb

    home = tmp_path / "home"
    assert _run(home, source, "airlines").success
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.sql('select "table", reason, count(*) from quarantine group by all').fetchall() == []


def test_a_symbolic_link_loop_is_named_not_reported_missing(source: Path, tmp_path: Path) -> None:
    (source / "flights.csv").unlink()
    (source / "flights.csv").symlink_to("flights.csv")
    text = _failure_text(_run(tmp_path / "home", source, "flights"))
    assert "flights.csv is a symbolic link loop" in text and "not found" not in text


def test_a_refused_source_is_not_answered_with_a_longer_window(tmp_path: Path) -> None:
    """The demo's advice after the feature pipeline failed: fix the source, not the window."""
    from fti_assets.commands.demo import Window, outcome
    from fti_assets.resources.environment import build_resources
    from fti_assets_tests.conftest import settings_for

    settings = settings_for(tmp_path)
    registry = build_resources(settings)["registry"]
    advice = "\n".join(outcome(settings, registry, Window(DAY1, DAY2), [], ["feature_pipeline"]))
    assert "fix the source" in advice and "longer window" not in advice
    assert "longer window" in "\n".join(outcome(settings, registry, Window(DAY1, DAY2), [], []))
