"""Each request's spine and request-time features, computed ahead for published flights.

The request-time features (``request_features``: local hour, weekday, scheduled duration...)
depend on the request's own fields and the origin's time zone, nothing else. On one row,
polars spends about 0.5 ms on them (a fixed cost per query), most of a request's time. So the
backstop (``online_features``) runs the very functions the service runs (``spine``, then
``request_features``) over the published schedule, and stores each flight's result under a
key of every field it derives from. A request whose fields are exactly those of a stored
flight reads the result; any other request (an unpublished flight, a changed tail number or
time) is computed as before. Both give the same row: the same functions on the same inputs.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import polars as pl
from pydantic import ValidationError

from fti_assets.domain.events import micros
from fti_assets.domain.transforms import request_features
from fti_assets.serving.predictor import spine
from fti_assets.serving.schemas import FlightRequest

#: The request fields the row derives from, besides the two scheduled times.
FIELDS = ("carrier", "flight", "tailnum", "origin", "dest", "distance")
#: polars gives UTC datetimes with this zone object; rows read back carry the same.
_UTC = ZoneInfo("UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


class PublishedReader(Protocol):
    def timezone(self, airport: str) -> str | None: ...

    def published(self, keys: list[str]) -> list[str | None]:
        """The stored row (JSON) under each key, None where there is none."""
        ...


def request_key(flight: dict[str, Any]) -> str:
    """The key of a request (a ``FlightRequest.model_dump()``): its fields, times as UTC
    microseconds, so a client's choice of UTC offset does not matter."""
    fields = [str(flight.get(k)) for k in FIELDS]
    return "|".join(
        [*fields, str(micros(flight["scheduled_departure"])), str(micros(flight["scheduled_arrival"]))]
    )


def encode_row(row: dict[str, Any]) -> str:
    """A row as JSON, each datetime as ``{"us": microseconds}``."""
    return json.dumps({k: {"us": micros(v)} if isinstance(v, datetime) else v for k, v in row.items()})


def decode_row(text: str) -> dict[str, Any]:
    """A row ``encode_row`` wrote, its datetimes back in UTC."""
    return {
        k: _EPOCH + timedelta(microseconds=v["us"]) if isinstance(v, dict) else v
        for k, v in json.loads(text).items()
    }


def computed_rows(flights: list[dict[str, Any]], store: PublishedReader) -> list[dict[str, Any]]:
    """The rows as the service computes an unpublished flight's: ``spine``, ``request_features``."""
    return request_features(spine(flights, store)).to_dicts()


def request_rows(flights: list[dict[str, Any]], store: PublishedReader) -> list[dict[str, Any]]:
    """Each flight's spine and request-time features: stored where the backstop published a
    flight with exactly these fields, else computed."""
    found = store.published([request_key(f) for f in flights])
    missing = [f for f, text in zip(flights, found, strict=True) if text is None]
    computed = iter(computed_rows(missing, store) if missing else [])
    return [decode_row(text) if text is not None else next(computed) for text in found]


class _Zones:
    def __init__(self, timezones: pl.DataFrame) -> None:
        self.zones = dict(timezones.select("faa", "tzone").iter_rows())

    def timezone(self, airport: str) -> str | None:
        return self.zones.get(airport)


def published_rows(schedule: pl.DataFrame, timezones: pl.DataFrame) -> list[tuple[str, int, str]]:
    """``(key, scheduled departure in microseconds, row)`` of each flight of ``schedule``
    (``flight_schedule`` rows), from the request a client would send for it."""
    flights = []
    for r in schedule.iter_rows(named=True):
        body = {k: r[k] for k in (*FIELDS, "scheduled_departure", "scheduled_arrival")}
        try:
            flights.append(FlightRequest.model_validate(body).model_dump())
        except ValidationError:
            continue  # the service refuses such a request: nothing to compute ahead
    rows = computed_rows(flights, _Zones(timezones)) if flights else []
    return [
        (request_key(f), micros(f["scheduled_departure"]), encode_row(row))
        for f, row in zip(flights, rows, strict=True)
    ]
