"""Applying feature events to an online store, whichever the backend.

``OnlineWriter.apply`` is the one path by which events change the store: the stream
consumer, the daily backstop and the replay's serving simulation all call it. A backend
provides a transaction and a handful of primitives (keep a fact's latest version, read and
write an entity's window arrays and rows); everything that decides what changes is here and
in ``domain.events``, so SQLite and Redis hold the same values.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from fti_assets.domain import events as ev
from fti_assets.domain.catalog import FeatureGroup

#: Group rows and window outcomes older than this before the newest event are pruned (the
#: latest row before the cutoff stays: it is the value in effect there).
RETAIN_MICROS = 2 * 24 * 3600 * 1_000_000


def empty_arrays() -> np.ndarray:
    return np.zeros((0, 3), dtype=np.int64)


def decode_arrays(blob: bytes | None) -> np.ndarray:
    """An entity's window outcomes: rows ``[known_at, delayed, delay]`` in ``known_at`` order."""
    return empty_arrays() if not blob else np.frombuffer(blob, dtype=np.int64).reshape(-1, 3)


def oldest_known(group: FeatureGroup, at: int) -> int | None:
    """The earliest ``known_at`` a lookup at ``at`` accepts: ``at`` less the group's TTL (None
    for a group without one)."""
    return at - int(group.ttl.total_seconds() * 1_000_000) if group.ttl is not None else None


def row_value(group: FeatureGroup, known_at: int, values: list) -> dict[str, Any] | None:
    """A stored group row as a lookup answers it. A count that fell back to zero reads as no
    row, as offline, where the table counts only hours with a flight: the flight's group is
    ``unknown`` on both paths, with the same default value."""
    if group.name in ev.COUNT_GROUPS and values[0] == 0:
        return None
    return {group.known_at_column: known_at, **dict(zip(group.features, values, strict=True))}


def window_lookup(group: FeatureGroup, arrays: np.ndarray, at: int) -> dict[str, Any] | None:
    """A window group's value at ``at`` (microseconds) from an entity's outcomes (``decode_arrays``
    rows), or None where the offline table has no row within the group's TTL: its latest change
    (an outcome entering or leaving a window) at or before ``at`` is older than the TTL, or there
    is none."""
    times = arrays[:, 0]
    # A change is an outcome entering (at its known_at) or leaving the 1-day or the 7-day window;
    # the latest of each kind by ``at`` is one binary search into the ascending times.
    shifts = (0, ev.transforms.MICROS_1D, ev.transforms.MICROS_7D)
    ends = np.searchsorted(times, [at - shift for shift in shifts], side="right")
    changes = [int(times[end - 1]) + shift for end, shift in zip(ends, shifts, strict=True) if end]
    if not changes:
        return None
    latest = max(changes)
    oldest = oldest_known(group, at)
    if oldest is not None and latest < oldest:
        return None
    values = ev.window_features(group.name, (times, arrays[:, 1], arrays[:, 2]), at)
    return {group.known_at_column: latest, **values}


class OnlineWriter:
    """Applies events; a backend implements the primitives below inside ``transaction``."""

    def transaction(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def stored_versions(self, feed: str, identities: list[str]) -> dict[str, dict]:
        """The stored latest version (``{"event_id", "ingested_at", "row"}``) per identity."""
        raise NotImplementedError

    def store_versions(self, feed: str, versions: dict[str, dict]) -> None:
        raise NotImplementedError

    def store_replacements(self, entries: list[dict]) -> None:
        """Log replacements ``{"at", "feed", "old", "new"}``: ``new`` replaced ``old``, learnt
        ``at`` (microseconds)."""
        raise NotImplementedError

    def read_windows(self, group: FeatureGroup, entities: list[str]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def write_windows(self, group: FeatureGroup, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def load_rows(self, group: FeatureGroup, entities: list[str]) -> dict[str, list[list]]:
        """Each entity's rows ``[known_at, values]`` in ``known_at`` order."""
        raise NotImplementedError

    def save_rows(self, group: FeatureGroup, rows: dict[str, list[list]]) -> None:
        """Replace each entity's rows."""
        raise NotImplementedError

    def put_published(self, rows: list[tuple[str, int, str]]) -> None:
        """Store published flights' request rows (``serving.published``): ``(key, scheduled
        departure in microseconds, row)``, replacing any under the same key."""
        raise NotImplementedError

    def meta(self) -> dict[str, str]:
        raise NotImplementedError

    def set_meta(self, values: dict[str, str]) -> None:
        raise NotImplementedError

    def apply(self, events: list[dict]) -> dict[str, int]:
        """Apply valid events (``domain.events.problem`` is None for each) in one transaction:
        for each fact, the version ingested last wins, whatever the delivery order; an event
        already applied changes nothing. Returns counts of applied and ignored events."""
        by_feed: dict[str, list[dict]] = defaultdict(list)
        for event in events:
            by_feed[event["feed"]].append(event)
        applied = ignored = 0
        newest: int | None = None
        self._begin_rows()
        with self.transaction():
            for feed, batch in by_feed.items():
                winners, replaced = self._winners(feed, batch)
                ignored += len(batch) - len(winners)
                applied += len(winners)
                if not winners:
                    continue
                new = ev.rows_frame(feed, winners)
                old = ev.rows_frame(feed, replaced) if replaced else new.clear()
                self._write_changes(ev.changes(feed, new, old))
                latest = max(ev.micros(ev.known_at(feed, e["row"])) for e in winners)
                newest = latest if newest is None else max(newest, latest)
            dirty: dict[str, dict[str, list[list]]] = defaultdict(dict)
            for (name, entity), rows in self._cache.items():
                dirty[name][entity] = rows
            for name, rows in dirty.items():
                self.save_rows(self._groups[name], rows)
            if newest is not None:
                current = self.meta().get("newest_event_at")
                if current is None or int(current) < newest:
                    self.set_meta({"newest_event_at": str(newest)})
        return {"applied": applied, "ignored": ignored}

    def _winners(self, feed: str, batch: list[dict]) -> tuple[list[dict], list[dict]]:
        """The events that become their fact's latest version, and the versions they replace.
        Versions are ordered by ``(ingested_at, id)``, so any delivery order ends the same. Each
        replacement is logged (``store_replacements``) so a read as of an earlier instant can
        undo it (``serving.as_known``); a version older than the stored one is ignored."""

        def rank(event: dict) -> tuple:
            return ev.utc_time(event["ingested_at"]), event["id"]

        facts: dict[str, dict[str, dict]] = defaultdict(dict)
        for event in batch:
            facts[ev.identity(feed, event["row"])][event["id"]] = event
        stored = self.stored_versions(feed, sorted(facts))
        changed, log = {}, []
        for key, versions in facts.items():
            previous = stored.get(key)
            if previous is not None and versions.keys() == {previous["id"]}:
                continue  # the stored version again: what a backstop after a healthy stream sends
            floor = rank(previous) if previous is not None else None
            newer = sorted((e for e in versions.values() if floor is None or rank(e) > floor), key=rank)
            for event in newer:
                if previous is not None:
                    learnt = ev.micros(ev.utc_time(event["ingested_at"]))
                    log.append({"at": learnt, "feed": feed, "old": previous, "new": event})
                previous = event
            if newer:
                changed[key] = newer[-1]
        self.store_versions(feed, changed)
        if log:
            self.store_replacements(log)
        return list(changed.values()), [stored[k] for k in changed if k in stored]

    def _write_changes(self, changes: list) -> None:
        windows: dict[str, dict[str, list[ev.WindowChange]]] = defaultdict(lambda: defaultdict(list))
        groups: dict[str, FeatureGroup] = {}
        for change in changes:
            if isinstance(change, ev.WindowChange):
                windows[change.group.name][change.entity].append(change)
                groups[change.group.name] = change.group
            elif change.count:
                self._add_count(change)
            else:
                self._put_row(change)
        for name, per_entity in windows.items():
            group = groups[name]
            stored = self.read_windows(group, list(per_entity))
            out = {}
            for entity, entity_changes in per_entity.items():
                out[entity] = _changed_arrays(stored.get(entity, empty_arrays()), entity_changes)
            self.write_windows(group, out)

    def _begin_rows(self) -> None:
        """An empty cache of the entity rows that changes load and edit (saved by ``apply``)."""
        self._cache: dict[tuple[str, str], list[list]] = {}
        self._groups: dict[str, FeatureGroup] = {}

    def _entity_rows(self, group: FeatureGroup, entity: str) -> list[list]:
        key = (group.name, entity)
        if key not in self._cache:
            self._cache[key] = self.load_rows(group, [entity]).get(entity, [])
            self._groups[group.name] = group
        return self._cache[key]

    def _put_row(self, change: ev.RowChange) -> None:
        rows = self._entity_rows(change.group, change.entity)
        at = bisect.bisect_left(rows, change.known_at, key=lambda r: r[0])
        there = at < len(rows) and rows[at][0] == change.known_at
        if change.values is None:
            if there:
                del rows[at]
            return
        # Two legs of one plane landing at the same minute: the offline transform keeps the one
        # with the smaller arrival delay, and so does the store.
        if there and change.keep_smaller is not None and _smaller(rows[at][1][0], change.keep_smaller):
            return
        if there:
            rows[at] = [change.known_at, change.values]
        else:
            rows.insert(at, [change.known_at, change.values])

    def _add_count(self, change: ev.RowChange) -> None:
        rows = self._entity_rows(change.group, change.entity)
        delta = change.values[0]
        at = bisect.bisect_left(rows, change.known_at, key=lambda r: r[0])
        if not (at < len(rows) and rows[at][0] == change.known_at):
            base = rows[at - 1][1][0] if at > 0 else 0
            rows.insert(at, [change.known_at, [base]])
        for row in rows[at:]:  # a count changes from its instant on
            row[1] = [row[1][0] + delta]


def _smaller(existing: Any, new: Any) -> bool:
    return existing is not None and (new is None or existing < new)


def _changed_arrays(arrays: np.ndarray, changes: list[ev.WindowChange]) -> np.ndarray:
    """An entity's outcome rows ``(known_at, delayed, delay)``, sorted, after ``changes`` in
    order: an addition appends a row, a removal takes one equal row out if there is one."""
    rows = np.array([(c.known_at, c.delayed, c.delay) for c in changes], dtype=np.int64).reshape(-1, 3)
    if all(c.sign > 0 for c in changes):  # no removal: the order of the changes does not matter
        merged = np.concatenate([arrays, rows])
        return merged[np.lexsort(merged.T[::-1])]
    kept = [tuple(r) for r in arrays.tolist()]
    for change, row in zip(changes, map(tuple, rows.tolist()), strict=True):
        if change.sign > 0:
            kept.append(row)
        elif row in kept:
            kept.remove(row)
    kept.sort()
    return np.array(kept, dtype=np.int64).reshape(-1, 3)


def prune_arrays(arrays: np.ndarray, cutoff: int) -> np.ndarray:
    """Outcomes that left every window before ``cutoff``."""
    return arrays[arrays[:, 0] + ev.transforms.MICROS_7D > cutoff]


def event_batches(events: list[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(events), size):
        yield events[start : start + size]


def reference_rows(frame: pl.DataFrame, group: FeatureGroup) -> list[tuple[str, int, list]]:
    """A static group's table as ``(entity, known_at, values)`` rows."""
    rows = []
    for r in frame.iter_rows(named=True):
        known = r["known_at"]
        at = ev.micros(known) if isinstance(known, datetime) else int(known)
        rows.append((ev.entity(tuple(r[k] for k in group.keys)), at, [r[f] for f in group.features]))
    return rows
