"""Bitemporal history: what the system knew at any instant can be rebuilt, and retrieval uses it.

The property test replays random sequences of loads and restatements and compares the versioned
point-in-time retrieval with a brute force: the snapshot that had been ingested by each query's
instant, searched row by row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fti_assets.domain import versions
from fti_assets.domain.catalog import FeatureGroup
from fti_assets.domain.retrieval import asof_join

T0 = datetime(2013, 1, 1, tzinfo=UTC)
GROUP = FeatureGroup(name="g", keys=("k",), features=("v",), defaults={})
SCHEMA = {"k": pl.String, "known_at": pl.Datetime("us", "UTC"), "v": pl.Float64}


def _hour(h: int) -> datetime:
    return T0 + timedelta(hours=h)


def _frame(rows: list[tuple[str, int, float]]) -> pl.DataFrame:
    return pl.DataFrame([(k, _hour(h), v) for k, h, v in rows], schema=SCHEMA, orient="row")


def test_a_restatement_appends_and_keeps_the_earlier_version() -> None:
    first = versions.merge_ingest(None, _frame([("a", 1, 1.0), ("b", 2, 2.0)]), None)
    at = _hour(10)
    stored = versions.merge_ingest(first, _frame([("a", 1, 1.0), ("b", 2, 5.0), ("c", 3, 3.0)]), at)
    assert stored.height == 4  # b's first version is kept beside its restatement
    assert versions.visible(stored, None).sort("k")["v"].to_list() == [1.0, 2.0]
    assert versions.visible(stored, at - timedelta(microseconds=1)).sort("k")["v"].to_list() == [1.0, 2.0]
    assert versions.visible(stored, at).sort("k")["v"].to_list() == [1.0, 5.0, 3.0]
    assert versions.current(stored).equals(
        versions.visible(stored, at).select(versions.current(stored).columns)
    )
    change = versions.restated(stored, ("k",), at)
    assert change["restated"]["k"].to_list() == ["b"] and change["columns"] == ["v"]
    assert (change["added"], change["removed"]) == (1, 0)


def test_an_ingest_without_an_instant_cannot_replace_stored_rows() -> None:
    first = versions.merge_ingest(None, _frame([("a", 1, 1.0)]), None)
    with pytest.raises(ValueError, match="cannot replace"):
        versions.merge_ingest(first, _frame([("a", 1, 2.0)]), None)


def test_a_removed_row_is_superseded_not_deleted() -> None:
    first = versions.merge_ingest(None, _frame([("a", 1, 1.0), ("a", 2, 2.0)]), None)
    stored = versions.merge_ingest(first, _frame([("a", 1, 1.0)]), _hour(5))
    joined = asof_join(
        pl.DataFrame(
            {"k": ["a", "a"], "as_of": [_hour(4), _hour(6)]}, schema_overrides={"as_of": SCHEMA["known_at"]}
        ),
        stored,
        GROUP,
    )
    assert joined["v"].to_list() == [2.0, 1.0]  # before the removal was learnt, the removed row is used


def test_a_correction_is_used_only_from_when_it_was_learnt() -> None:
    first = versions.merge_ingest(None, _frame([("a", 1, 1.0)]), None)
    stored = versions.merge_ingest(first, _frame([("a", 1, 7.0)]), _hour(20))
    spine = pl.DataFrame(
        {"k": ["a"] * 3, "as_of": [_hour(2), _hour(20), _hour(30)]},
        schema_overrides={"as_of": SCHEMA["known_at"]},
    )
    assert asof_join(spine, stored, GROUP)["v"].to_list() == [1.0, 7.0, 7.0]
    assert asof_join(spine, stored, GROUP, known_by=_hour(25))["v"].to_list() == [1.0, 7.0, 7.0]
    assert asof_join(spine, stored, GROUP, known_by=_hour(10))["v"].to_list() == [1.0, 1.0, 1.0]
    # The world as it really was: the correction everywhere (analysis only).
    assert asof_join(spine, stored, GROUP, hindsight=True)["v"].to_list() == [7.0, 7.0, 7.0]
    assert asof_join(spine, stored, GROUP, known_by=_hour(10), hindsight=True)["v"].to_list() == [
        1.0,
        1.0,
        1.0,
    ]


def test_replay_derives_a_version_at_every_change_of_its_inputs() -> None:
    first = versions.merge_ingest(None, _frame([("a", 1, 1.0), ("b", 1, 2.0)]), None)
    stored = versions.merge_ingest(first, _frame([("a", 1, 1.0), ("b", 1, 4.0)]), _hour(9))

    def total(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(pl.lit("all").alias("k"), pl.col("known_at").max(), pl.col("v").sum())

    derived = versions.replay(total, stored)
    assert versions.visible(derived, None)["v"].to_list() == [3.0]
    assert versions.visible(derived, _hour(9))["v"].to_list() == [5.0]
    assert derived.height == 2


# A table's history: a first load, then restatements at increasing instants. Each ingest is the
# table's whole content then: rows (key, known_at hour, value), one per key and hour.
snapshot = st.dictionaries(
    st.tuples(st.sampled_from("abc"), st.integers(0, 48)), st.sampled_from([1.0, 2.0, 3.0, -4.5]), max_size=25
)
history = st.lists(st.tuples(st.integers(1, 12), snapshot), min_size=0, max_size=4)
queries = st.lists(
    st.tuples(st.sampled_from("abcd"), st.integers(0, 100), st.integers(0, 59)), min_size=1, max_size=25
)


def _rows(content: dict) -> list[tuple[str, int, float]]:
    return [(k, h, v) for (k, h), v in sorted(content.items())]


@settings(max_examples=300, deadline=None)
@given(first=snapshot, later=history, asked=queries, cap=st.one_of(st.none(), st.integers(0, 100)))
def test_property_versioned_retrieval_equals_a_replay_of_what_was_ingested(first, later, asked, cap) -> None:
    # Restatements at increasing instants (hours after T0), each the whole table then.
    loads, at = [(None, first)], 0
    for gap, content in later:
        at += gap * 3
        loads.append((_hour(at), content))
    stored = None
    for when, content in loads:
        stored = versions.merge_ingest(stored, _frame(_rows(content)), when)
    known_by = _hour(cap) if cap is not None else None
    spine = pl.DataFrame(
        {"k": [k for k, _, _ in asked], "as_of": [_hour(h) + timedelta(minutes=m) for _, h, m in asked]},
        schema_overrides={"as_of": SCHEMA["known_at"]},
    )
    joined = asof_join(spine, stored, GROUP, known_by=known_by)
    assert joined.height == len(asked)
    for row in joined.iter_rows(named=True):
        # Brute force: the last snapshot ingested by the instant the system answers for ...
        learnt = row["as_of"] if known_by is None else min(row["as_of"], known_by)
        content = [c for when, c in loads if when is None or when <= learnt][-1]
        # ... and in it the latest row of the key known at the row's as-of instant.
        known = [(h, v) for (k, h), v in content.items() if k == row["k"] and _hour(h) <= row["as_of"]]
        expected = max(known) if known else None
        got = (int((row["g_known_at"] - T0) / timedelta(hours=1)), row["v"]) if row["g_known_at"] else None
        assert got == expected, (row, learnt)
