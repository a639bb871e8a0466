"""Reads as the store knew its facts at an instant: corrections learnt later are undone.

The store keeps each fact's latest version and logs every replacement with the instant it was
learnt (``OnlineWriter._winners``). A lookup as of ``t`` that finds replacements learnt after
``t`` (a request read as of a prediction time before a correction, made after it) undoes them,
newest first, in memory: each one's store operations (``domain.events.changes``) are run from
the new version back to the old over the entities involved. So the answer is what the store
held at ``t``, as the offline retrieval answers from the versions known at ``t``. A live
read finds no replacement after its instant and costs one range query more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import numpy as np

from fti_assets.domain import events as ev
from fti_assets.domain.catalog import FeatureGroup
from fti_assets.serving.online_writer import OnlineWriter, oldest_known, row_value, window_lookup

Request = tuple[FeatureGroup, tuple, datetime]


class BaseReader(Protocol):
    def read_windows(self, group: FeatureGroup, entities: list[str]) -> dict[str, np.ndarray]: ...

    def load_rows(self, group: FeatureGroup, entities: list[str]) -> dict[str, list[list]]: ...

    def lookup_now(self, requests: list[Request]) -> list[dict[str, Any] | None]:
        """The lookups on the store as it is."""
        ...


class Overlay(OnlineWriter):
    """An in-memory copy of the entities a change touches, over a reader's store."""

    def __init__(self, base: BaseReader) -> None:
        self.base = base
        self.windows: dict[tuple[str, str], np.ndarray] = {}
        self._begin_rows()

    def read_windows(self, group: FeatureGroup, entities: list[str]) -> dict[str, np.ndarray]:
        out = {e: self.windows[(group.name, e)] for e in entities if (group.name, e) in self.windows}
        missing = [e for e in entities if e not in out]
        if missing:
            out.update(self.base.read_windows(group, missing))
        return out

    def write_windows(self, group: FeatureGroup, arrays: dict[str, np.ndarray]) -> None:
        for entity, values in arrays.items():
            self.windows[(group.name, entity)] = values

    def load_rows(self, group: FeatureGroup, entities: list[str]) -> dict[str, list[list]]:
        return self.base.load_rows(group, entities)

    def undo(self, replacements: list[dict]) -> None:
        """Take back ``replacements``, given newest first."""
        for r in replacements:
            self._write_changes(undo_steps(r))

    def lookup(self, group: FeatureGroup, entity: str, at: int) -> tuple[bool, dict[str, Any] | None]:
        """Whether the overlay holds the entity, and its value as of ``at`` if so."""
        if group.name in ev.WINDOW_GROUPS:
            arrays = self.windows.get((group.name, entity))
            if arrays is None:
                return False, None
            return True, window_lookup(group, arrays, at)
        rows = self._cache.get((group.name, entity))
        if rows is None:
            return False, None
        oldest = oldest_known(group, at)
        known = [r for r in rows if r[0] <= at and (oldest is None or oldest <= r[0])]
        if not known:
            return True, None
        known_at, values = known[-1]
        return True, row_value(group, known_at, values)


#: Each replacement's undo steps by (feed, old event id, new event id): an event id stands for one
#: row (a digest of it, applied once by the writer), so the steps are the same in every read.
#: Cleared when full.
_STEPS: dict[tuple[str, str, str], list] = {}
STEPS_KEPT = 20_000


def undo_steps(replacement: dict) -> list:
    """The store changes that take ``replacement`` back, from its new version to its old. They
    are the same at every instant, so each process works them out once: a burst of corrections
    would otherwise cost every read as of an instant before it as many row conversions again."""
    feed, old, new = replacement["feed"], replacement["old"], replacement["new"]
    key = (feed, old["id"], new["id"])
    steps = _STEPS.get(key)
    if steps is None:
        if len(_STEPS) >= STEPS_KEPT:
            _STEPS.clear()
        steps = _STEPS[key] = ev.changes(feed, ev.rows_frame(feed, [old]), ev.rows_frame(feed, [new]))
    return steps


def ordered(replacements: list[dict]) -> list[dict]:
    """Newest first: by the instant learnt, then (one fact's versions learnt at one instant) by
    the version order, event id."""
    return sorted(replacements, key=lambda r: (r["at"], r["new"]["id"]), reverse=True)


def lookup_many(
    base: BaseReader, requests: list[Request], replacements: list[dict]
) -> list[dict[str, Any] | None]:
    """``requests`` answered as the store knew its facts at each request's instant, given the
    replacements learnt after the earliest of them."""
    out: list[dict[str, Any] | None] = [None] * len(requests)
    by_instant: dict[int, list[int]] = {}
    for i, (_, _, at) in enumerate(requests):
        by_instant.setdefault(ev.micros(at), []).append(i)
    newest_first = ordered(replacements)
    for at, indexes in by_instant.items():
        later = [r for r in newest_first if r["at"] > at]
        overlay = None
        if later:
            overlay = Overlay(base)
            overlay.undo(later)
        rest = []
        for i in indexes:
            group, keys, _ = requests[i]
            held, value = overlay.lookup(group, ev.entity(keys), at) if overlay else (False, None)
            if held:
                out[i] = value
            else:
                rest.append(i)
        if rest:
            for i, value in zip(rest, base.lookup_now([requests[i] for i in rest]), strict=True):
                out[i] = value
    return out
