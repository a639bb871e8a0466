"""A batch of events is checked as each event alone would be: same verdicts, same reasons."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from fti_assets.domain import events as ev
from fti_assets.stream.consumer import Consumer, EmbeddedStream
from fti_assets_tests.stream.feed import all_events, feeds

EVENTS = all_events(feeds(21, outcomes=12, days=2))
#: Values a producer might send in place of a column's own: other types, empty, nested, bad times.
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "abc", "12", "1.5", "true", "2013-02-30", "2013-04-01T25:00:00+00:00", "cancelled"]),
    st.sampled_from(["2013-04-01", "2013-04-01T05:00:00", "2013-04-01 05:00:00-0400"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)


@st.composite
def batches(draw: st.DrawFn) -> list:
    out = []
    for event in draw(st.lists(st.sampled_from(EVENTS), min_size=1, max_size=30)):
        event = copy.deepcopy(event)
        for _ in range(draw(st.integers(0, 2))):
            where = draw(st.sampled_from(["row", "row", "row", "feed", "ingested_at", "id"]))
            if where == "row":
                event["row"][draw(st.sampled_from(sorted(event["row"])))] = draw(JUNK)
            else:
                event[where] = draw(JUNK)
        out.append(event)
    return out


@settings(max_examples=500, deadline=None)
@given(batches())
def test_property_a_batch_gets_the_verdict_and_reason_of_each_event_alone(batch: list) -> None:
    assert ev.problems(batch) == [ev.problem(e) for e in batch]


class _Writer:
    def __init__(self) -> None:
        self.applied: list[dict] = []

    def apply(self, events: list[dict]) -> dict[str, int]:
        self.applied += events
        return {"applied": len(events), "ignored": 0}


def test_a_consumer_batch_sends_only_the_bad_events_to_the_dead_letters() -> None:
    good = EVENTS[:6]
    bad = [copy.deepcopy(EVENTS[0]) for _ in range(3)]
    bad[0]["row"]["arr_delay"] = "late"
    bad[1]["row"]["status"] = "cancelled"
    bad[2]["row"]["known_at"] = "2013-04-01T25:00:00+00:00"
    stream, writer = EmbeddedStream(), _Writer()
    stream.publish([good[0], bad[0], *good[1:4], bad[1], "{", bad[2], *good[4:]])
    counts = Consumer(stream, writer, batch=100).drain()
    assert writer.applied == good and counts["dead"] == 4
    reasons = [d["reason"] for d in stream.dead_letters]
    assert (
        reasons[0].startswith("row:")
        and reasons[1] == "row: status 'cancelled', only arrived flights are events"
    )
    assert reasons[2].startswith("not JSON") and reasons[3].startswith("row:"), reasons
    assert [d["data"] for d in stream.dead_letters] == [
        json.dumps(bad[0]),
        json.dumps(bad[1]),
        "{",
        json.dumps(bad[2]),
    ]
