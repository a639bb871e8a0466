"""Inputs for the point-in-time benchmarks at a scale: the spine and every feature table.

Writes ``bench/.work/scale<k>/``: ``spine_full.parquet`` (what the project's join takes),
``spine.parquet`` (row_id, as_of and the join keys: what the peers take), ``spine_slice.parquet``
(its first ``SLICE_DAYS`` days, for the slow peer), one ``<group>.parquet`` per feature group
(keys, known_at, features; origin congestion keyed by an integer hour so Feast can use it as
an entity) and ``groups.json`` (each group's keys, features and TTL in seconds or null).

The scaled year is generated a month at a time, so memory follows a month whatever the
factor: each month's flights and the days before them its features reach are replicated
(``generate.month_copies``), the project's ``feature_tables`` runs on them, and the rows that
belong to the month are written to ``months/<table>/<yyyy-mm>.parquet``; the months are then
streamed into one file per table. The files equal those of the whole scaled year computed at
once (``fti_assets_tests/bench/test_prepare.py``).
"""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from bench.generate import REACH, copy_planes, month_copies, typed_raw
from bench.pipeline import feature_tables
from fti_assets.domain.catalog import FEATURE_GROUPS, FeatureGroup
from fti_assets.training.dataset import label_spine
from fti_assets.training.pieces import pieces_of

WORK = Path(__file__).resolve().parent / ".work"
HOUR_KEY = "departure_hour_key"
#: Feast's retrieval holds (entity rows x source rows per key) in memory: it gets a week.
SLICE_DAYS = 7
YEAR = (date(2013, 1, 1), date(2013, 12, 31))
#: Tables that do not depend on the flights: taken whole from the first month.
STATIC = ("origin_weather", "plane_attributes")


def scale_dir(factor: int) -> Path:
    return WORK / f"scale{factor}"


def groups_spec() -> list[dict]:
    return [
        {
            "name": g.name,
            "keys": [HOUR_KEY if k == "departure_hour" else k for k in g.keys],
            "features": list(g.features),
            "ttl_seconds": g.ttl.total_seconds() if g.ttl else None,
        }
        for g in FEATURE_GROUPS
    ]


def project_tables(folder: Path) -> dict[str, pl.DataFrame]:
    """The scale's feature tables as the project's retrieval takes them (congestion keyed by hour)."""
    tables = {g.name: pl.read_parquet(folder / f"{g.name}.parquet") for g in FEATURE_GROUPS}
    hour = pl.from_epoch(HOUR_KEY, "s").dt.replace_time_zone("UTC").alias("departure_hour")
    tables["origin_congestion"] = tables["origin_congestion"].with_columns(hour)
    return tables


def group_file(group: FeatureGroup, table: pl.DataFrame) -> pl.DataFrame:
    """A feature table as its file holds it: keys, known_at, features."""
    if group.name == "origin_congestion":
        table = table.with_columns(pl.col("departure_hour").dt.epoch("s").alias(HOUR_KEY))
    keys = [HOUR_KEY if k == "departure_hour" else k for k in group.keys]
    return table.select(*keys, "known_at", *group.features)


def numbered(spine: pl.DataFrame, offset: int = 0) -> pl.DataFrame:
    """The spine with ``row_id``, the peers' join key, counted from ``offset``."""
    return spine.with_row_index("row_id", offset=offset).with_columns(pl.col("row_id").cast(pl.Int64))


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def month_tables(
    raw: dict[str, pl.DataFrame],
    planes: pl.DataFrame,
    factor: int,
    first: date,
    last: date,
    year: tuple[date, date] = YEAR,
) -> dict[str, pl.DataFrame]:
    """The rows of the whole scaled year's tables that belong to the month ``first..last``
    (``planes``: already copied ``factor`` times). A flight's spine row and a day's congestion
    belong to its date's month; delay snapshots and plane arrivals to the month of the UTC day
    they became known, the year's first and last months taking any before or after the year."""
    flights = month_copies(raw["flights"], factor, first, last)
    start, end = _utc(first), _utc(last + timedelta(days=1))
    tables = feature_tables(flights, raw["weather"], planes, raw["airports"], start, end)
    outcomes = tables["flight_outcomes"]
    # The lookback and the month's end hold only while outcomes land within REACH of their date.
    lag = (pl.col("known_at") - pl.col("flight_date").cast(pl.Datetime("us", "UTC"))).drop_nulls()
    own = outcomes.filter(pl.col("flight_date").is_between(first, last))
    soonest, latest = own.select(lag.min().alias("soonest"), lag.max().alias("latest")).row(0)
    if soonest is not None and (soonest < timedelta(0) or latest > REACH):
        raise RuntimeError(
            f"flights of {first:%Y-%m} become known {soonest} to {latest} after their date, not within {REACH}"
        )
    after = pl.col("known_at") >= start if first > year[0] else pl.lit(True)
    before = pl.col("known_at") < end if last < year[1] else pl.lit(True)
    spine = label_spine(outcomes, tables["flight_schedule"], first.isoformat(), last.isoformat())
    return {
        # Delay snapshots are emitted for the hours start..end only.
        **{name: tables[name] for name in (*STATIC, "carrier_delay_stats", "route_delay_stats")},
        # The order row_ids follow: the schedule's, as label_spine's join gives it for the year.
        "spine": spine.sort("scheduled_departure", "flight_id"),
        "plane_last_arrival": tables["plane_last_arrival"].filter(after, before),
        "origin_congestion": tables["origin_congestion"].filter(
            pl.col("flight_date").is_between(first, last)
        ),
    }


def write_inputs(
    folder: Path, raw: dict[str, pl.DataFrame], factor: int, year: tuple[date, date] = YEAR
) -> None:
    """Every input file of ``factor`` copies of ``raw`` (flights of ``year``), month by month."""
    parts, planes = folder / "months", copy_planes(raw["planes"], factor)
    offset, last_flight, congestion = 0, None, []
    for first, last in pieces_of(*year):
        tables = month_tables(raw, planes, factor, first, last, year)
        spine = tables.pop("spine")
        if spine.height:
            # Months concatenated are in the year's order only if no month starts before the last ends.
            if (
                last_flight is not None
                and spine.select("scheduled_departure", "flight_id").row(0) <= last_flight
            ):
                raise RuntimeError(
                    f"the flights of {first:%Y-%m} are scheduled before the previous month's last"
                )
            last_flight = spine.select("scheduled_departure", "flight_id").row(-1)
        files = {"spine_full": numbered(spine, offset)}
        offset += spine.height
        for g in FEATURE_GROUPS:
            frame = group_file(g, tables[g.name])
            if g.name == "origin_congestion":  # a few rows a day, and stored by origin first
                congestion.append(frame)
            elif g.name not in STATIC or first == year[0]:
                files[g.name] = frame
        for name, frame in files.items():
            (parts / name).mkdir(parents=True, exist_ok=True)
            frame.write_parquet(parts / name / f"{first:%Y-%m}.parquet")
        del tables, spine, files  # freed before the next month's are built
    pl.concat(congestion).sort("origin", HOUR_KEY).write_parquet(folder / "origin_congestion.parquet")
    for name in sorted(p.name for p in parts.iterdir()):
        pl.scan_parquet(parts / name / "*.parquet").sink_parquet(folder / f"{name}.parquet")
    shutil.rmtree(parts)
    hour = pl.col("scheduled_departure").dt.truncate("1h").dt.epoch("s").alias(HOUR_KEY)
    full = pl.scan_parquet(folder / "spine_full.parquet")
    full.select("row_id", "as_of", "origin", "dest", "carrier", "tailnum", hour).sink_parquet(
        folder / "spine.parquet"
    )
    peers = pl.scan_parquet(folder / "spine.parquet")
    first_as_of = peers.select(pl.col("as_of").min()).collect().item()
    peers.filter(pl.col("as_of") < first_as_of + timedelta(days=SLICE_DAYS)).sink_parquet(
        folder / "spine_slice.parquet"
    )


def prepare(factor: int, again: bool = False) -> Path:
    """Write the scale's inputs (once, unless ``again``)."""
    folder = scale_dir(factor)
    if (folder / "groups.json").exists() and not again:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    write_inputs(folder, typed_raw(), factor)
    (folder / "groups.json").write_text(json.dumps(groups_spec()))  # last: it marks the folder complete
    return folder


if __name__ == "__main__":
    again = "--again" in sys.argv
    for k in (a for a in sys.argv[1:] if a != "--again"):
        print(prepare(int(k), again))
