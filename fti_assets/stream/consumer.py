"""The stream consumer: feature events from a source into the online store.

A source hands out messages ``(id, data)`` (``data`` the event's JSON), takes them back
acknowledged, and keeps the dead letters. ``Consumer.step`` reads a batch, sends each event
that cannot be applied to the dead letters with its reason, applies the rest through the
store's writer (``OnlineWriter.apply``: idempotent, the latest-ingested version wins) and
only then acknowledges the batch. A consumer killed between the two redelivers the batch on
restart and applying it again changes nothing: delivery is at least once, its effect exactly once.

Two sources share this code: ``EmbeddedStream`` (in process: ``fti demo``, ``fti replay``,
tests) and ``redis_streams.RedisStream`` (Redis Streams with a consumer group, production).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fti_assets.domain.events import problems


class Source(Protocol):
    def read(self, count: int) -> list[tuple[str, str]]: ...

    def ack(self, ids: list[str]) -> None: ...

    def dead(self, message_id: str, data: str, reason: str) -> None: ...


def _load(data: str) -> tuple[Any, str | None]:
    """The JSON in a message, or why it is not JSON."""
    try:
        return json.loads(data), None
    except (TypeError, ValueError) as exc:
        return None, f"not JSON: {exc}"


@dataclass
class Consumer:
    """Moves events from ``source`` into the store of ``writer``, a batch at a time."""

    source: Source
    writer: Any
    batch: int = 500
    counts: dict[str, int] = field(default_factory=lambda: {"applied": 0, "ignored": 0, "dead": 0})

    def step(self) -> int:
        """One batch: returns how many messages it took (0: the source had none)."""
        messages = self.source.read(self.batch)
        if not messages:
            return 0
        loaded = [_load(data) for _, data in messages]
        checked = iter(problems([event for event, reason in loaded if reason is None]))
        valid = []
        for (message_id, data), (event, reason) in zip(messages, loaded, strict=True):
            reason = reason or next(checked)
            if reason is None:
                valid.append(event)
            else:
                self.source.dead(message_id, data, reason)
                self.counts["dead"] += 1
        if valid:
            done = self.writer.apply(valid)
            self.counts["applied"] += done["applied"]
            self.counts["ignored"] += done["ignored"]
        self.source.ack([message_id for message_id, _ in messages])
        return len(messages)

    def drain(self) -> dict[str, int]:
        """Steps until the source is empty; returns the counts so far."""
        while self.step():
            pass
        return dict(self.counts)


class EmbeddedStream:
    """An in-process source: events published by the caller, consumed in order."""

    def __init__(self) -> None:
        self._queue: deque[tuple[str, str]] = deque()
        self._next = 0
        self.dead_letters: list[dict] = []

    def publish(self, events: Iterable[dict | str]) -> None:
        for event in events:
            self._next += 1
            self._queue.append((str(self._next), event if isinstance(event, str) else json.dumps(event)))

    def read(self, count: int) -> list[tuple[str, str]]:
        return [self._queue.popleft() for _ in range(min(count, len(self._queue)))]

    def ack(self, ids: list[str]) -> None:  # read messages are gone from the queue already
        return None

    def dead(self, message_id: str, data: str, reason: str) -> None:
        self.dead_letters.append({"id": message_id, "data": data, "reason": reason})
