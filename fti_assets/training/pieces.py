"""The training dataset built in monthly pieces, each reading only what its flights can reach.

A flight's row depends on its own prediction time and the feature rows known then, never on
other flights: so the window's flights split by month, each month joined on its own, and the
pieces put back together give the whole build's rows (and content hash). A piece reads the
outcome and schedule partitions of its month and, per feature group, the partitions its
TTL and lookahead let a retrieval as of the piece's prediction times use (``history_days``),
so memory follows a month, not the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta

import polars as pl

from fti_assets.domain.catalog import FEATURE_GROUPS, FeatureGroup


def pieces_of(start: date, end: date, piece_days: int = 0) -> list[tuple[date, date]]:
    """``start..end`` cut at month boundaries (``piece_days`` 0), or every ``piece_days`` days:
    first and last day of each piece."""
    if piece_days < 0:
        raise ValueError(f"piece_days must be 0 (months) or a positive number of days, not {piece_days}")
    pieces, first = [], start
    while first <= end:
        if piece_days:
            following = first + timedelta(days=piece_days)
        else:
            following = (first.replace(day=1) + timedelta(days=32)).replace(day=1)
        pieces.append((first, min(end, following - timedelta(days=1))))
        first = following
    return pieces


def days(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=d)).isoformat() for d in range((last - first).days + 1)]


def build_pieces(
    pieces: list[tuple[date, date]],
    spine_of: Callable[[date, date], pl.DataFrame],
    history: Callable[[FeatureGroup, date, date], pl.DataFrame],
    build: Callable[[pl.DataFrame, dict[str, pl.DataFrame]], pl.DataFrame],
) -> Iterator[pl.DataFrame]:
    """Each piece's rows: ``spine_of(first, last)`` (its labelled flights) joined by ``build``
    with ``history(group, first_as_of_day, last_as_of_day)`` of every group; empty pieces are skipped."""
    for first, last in pieces:
        spine = spine_of(first, last)
        if spine.height == 0:
            continue
        # Prediction times fall up to a day before a flight's date (UTC against local days).
        lo, hi = spine["as_of"].min().date(), spine["as_of"].max().date()
        yield build(spine, {g.name: history(g, lo, hi) for g in FEATURE_GROUPS})
