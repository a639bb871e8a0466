"""Point-in-time retrieval: the feature vector of flights as of given instants.

One function serves training (as of each flight's prediction time), batch inference and
the online store refresh (as of the refresh time), so the three can never disagree.

A feature table may hold several versions of its rows (``domain.versions``): a value restated
after a correction is used only from when the system learnt it. So a row's value is the latest
one known at its as-of instant *among the versions the system held then*, never a correction
ingested later.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime

import polars as pl

from fti_assets.domain import versions
from fti_assets.domain.catalog import FEATURE_GROUPS, FeatureGroup
from fti_assets.domain.transforms import request_features


def _group_values(
    left: pl.DataFrame,
    table: pl.DataFrame,
    group: FeatureGroup,
    known_by: datetime | None = None,
    hindsight: bool = False,
) -> pl.DataFrame:
    """The group's known-at and feature columns for each row of ``left`` (sorted by ``as_of``),
    from the versions of ``table`` the system held at each row's as-of instant (``known_by``
    when that is earlier; with ``hindsight``, at ``known_by`` for every row)."""
    changes = versions.instants(table)
    if changes.len() == 0:
        return _join_values(left, versions.plain(table), group)
    as_of = left["as_of"]
    if hindsight:
        learnt = pl.repeat(known_by, left.height, dtype=versions.STAMP, eager=True) if known_by else None
    else:
        learnt = as_of if known_by is None else as_of.clip(upper_bound=known_by)
    if learnt is None:  # hindsight up to now: the current versions, for every row
        return _join_values(left, versions.current(table), group)
    # What the system knew is constant between two changes of the table, and ``learnt`` grows
    # with ``as_of``: each stretch of rows between two changes is one join over what was known.
    epoch = changes.search_sorted(learnt, side="right")
    bounds = epoch.search_sorted(
        pl.Series(range(changes.len() + 2), dtype=epoch.dtype), side="left"
    ).to_list()
    parts = []
    for index, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
        if stop > start:
            at = changes[index - 1] if index else None
            parts.append(_join_values(left.slice(start, stop - start), versions.visible(table, at), group))
    return pl.concat(parts) if parts else _join_values(left, versions.current(table), group)


def _join_values(left: pl.DataFrame, table: pl.DataFrame, group: FeatureGroup) -> pl.DataFrame:
    """``_group_values`` over one version of the table (no version columns)."""
    if left.height:  # rows known after the last as_of, or too old for the first, never match
        first, last = left["as_of"][0], left["as_of"][-1]
        usable = pl.col("known_at") <= last
        table = table.filter(
            usable if group.ttl is None else usable & (pl.col("known_at") >= first - group.ttl)
        )
    right = table.select(
        *group.keys, pl.col("known_at").alias(group.known_at_column), *group.features
    ).drop_nulls(list(group.keys))
    if not right[group.known_at_column].is_sorted():  # stored tables come in known_at order
        right = right.sort(group.known_at_column)
    joined = left.select(*group.keys, "as_of").join_asof(
        right,
        left_on="as_of",
        right_on=group.known_at_column,
        by=list(group.keys),
        strategy="backward",
        allow_exact_matches=True,
        check_sortedness=False,
        coalesce=False,
        tolerance=group.ttl,
    )
    values = joined.select(group.known_at_column, *group.features)
    defaults = [pl.col(c).fill_null(v) for c, v in group.defaults.items()]
    return values.with_columns(defaults) if defaults else values


def asof_join(
    spine: pl.DataFrame,
    table: pl.DataFrame,
    group: FeatureGroup,
    known_by: datetime | None = None,
    hindsight: bool = False,
) -> pl.DataFrame:
    """Attach ``group``'s latest row per entity known at or before each row's ``as_of``.

    A row known exactly at ``as_of`` is used; one known a microsecond later is not, nor one
    older than the group's ``ttl``. Entities without such a row get the group's defaults (or
    nulls). Rows come back in ``as_of`` order.

    Of a versioned ``table``, only the versions the system held at ``as_of`` count: a version
    ingested after it, or superseded by then, does not. ``known_by`` caps that instant (what
    had been ingested by a training set's cutoff); ``hindsight`` takes every row's values as
    known at ``known_by`` (None: now), corrections learnt after ``as_of`` included: the world
    as it really was, for analysis only, never for a model that serves.
    """
    left = spine.sort("as_of", maintain_order=True)
    return pl.concat([left, _group_values(left, table, group, known_by, hindsight)], how="horizontal")


def point_in_time_join(
    spine: pl.DataFrame,
    tables: Mapping[str, pl.DataFrame],
    groups: tuple[FeatureGroup, ...] = FEATURE_GROUPS,
    known_by: datetime | None = None,
    hindsight: bool = False,
) -> pl.DataFrame:
    """Request-time features plus every group's value as of each row's ``as_of``.

    ``spine`` holds the schedule columns ``request_features`` needs and an ``as_of`` column
    (UTC); ``tables`` maps each group name to its table. Rows come back in ``as_of`` order.
    Each group is joined on a narrow frame (keys and ``as_of``) and only its values are
    kept, so the wide result is assembled once. ``known_by`` and ``hindsight`` as in ``asof_join``.
    """
    # Sorted before the request features are added: a narrower frame sorts faster.
    left = request_features(spine.sort("as_of", maintain_order=True))
    parts = [_group_values(left, tables[group.name], group, known_by, hindsight) for group in groups]
    return pl.concat([left, *parts], how="horizontal")


def latest_per_entity(table: pl.DataFrame, group: FeatureGroup, as_of: datetime) -> pl.DataFrame:
    """The online store's view of a group: each entity's latest row known at ``as_of``.

    Built with ``asof_join`` itself so online values are the offline values as of ``as_of``.
    """
    entities = (
        table.select(group.keys)
        .unique()
        .drop_nulls()
        .with_columns(as_of=pl.lit(as_of, dtype=pl.Datetime("us", "UTC")))
    )
    joined = asof_join(entities, table, group)
    return joined.filter(pl.col(group.known_at_column).is_not_null()).drop("as_of")


def assign_split(dataset: pl.DataFrame, train_end: datetime, validation_end: datetime) -> pl.DataFrame:
    """``train`` before ``train_end``, ``validation`` before ``validation_end``, else ``test``."""
    t = pl.col("prediction_time")
    return dataset.with_columns(
        split=pl.when(t < train_end)
        .then(pl.lit("train"))
        .when(t < validation_end)
        .then(pl.lit("validation"))
        .otherwise(pl.lit("test"))
    )


def content_hash(frame: pl.DataFrame, key: str) -> str:
    """SHA-256 of the frame's content in a canonical order: same rows, same hash."""
    return content_hash_of_pieces([frame], key)


#: Rows per hashed batch: the hash is defined over batches of this many rows in key order.
HASH_BATCH_ROWS = 100_000


def content_hash_of_pieces(pieces: Iterable[pl.DataFrame], key: str) -> str:
    """``content_hash`` of the concatenation of ``pieces``, one piece in memory at a time.

    The pieces must come in ascending, disjoint ranges of ``key`` (the training dataset's
    monthly pieces do: a flight id starts with its date); anything else fails loudly.
    """
    # Each batch is hashed as its schema and its values written as text (CSV, nulls as \N):
    # Arrow buffers (IPC) also carry what a column's history left in them (validity padding
    # bits, string view buffers), which hashed the same rows apart once cut into pieces.
    # Batches are cut at the same rows whatever the pieces.
    digest, carry, last_key = hashlib.sha256(), None, None
    for piece in pieces:
        canonical = piece.select(sorted(piece.columns)).sort(key)
        if canonical.height == 0:
            continue
        if last_key is not None and canonical[key][0] <= last_key:
            raise ValueError(f"pieces overlap on '{key}': {canonical[key][0]!r} comes after {last_key!r}")
        last_key = canonical[key][-1]
        carry = canonical if carry is None else pl.concat([carry, canonical], how="vertical")
        whole = carry.height - carry.height % HASH_BATCH_ROWS
        for offset in range(0, whole, HASH_BATCH_ROWS):
            _update(digest, carry.slice(offset, HASH_BATCH_ROWS))
        carry = carry.slice(whole)
    if carry is not None and carry.height:
        _update(digest, carry)
    return digest.hexdigest()


def _update(digest: hashlib._Hash, batch: pl.DataFrame) -> None:
    digest.update(f"{batch.schema}\n".encode())
    # Floats are written in their shortest round-trip form and datetimes at their unit: lossless.
    digest.update(batch.write_csv(None, null_value="\\N").encode())
