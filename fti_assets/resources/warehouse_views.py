"""What the DuckDB catalog's views hold, recorded beside it, so that a write which cannot change
a view does not recreate it.

Recreating a view opens ``warehouse.duckdb`` (about 18 ms) and binds the view's query, which
reads the footer of every file of the table: 30 to 60 ms a write, and a daily run writes about
twenty tables. A view is ``read_parquet`` over its folder's files, so a new file whose schema is
the one schema all the table's files share is already in it. The record keeps, for each view,
its SQL and that shared schema. It is trusted only while the catalog file is exactly as this
code last left it: DuckDB rewrites the header of its file at every checkpoint (with a counter),
so a view dropped or replaced from a DuckDB shell is seen, and recreated at the next write.
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from fti_assets.resources.atomic import atomic_write_text

RECORD = "warehouse.views.json"
Schema = list[list[str]]


#: DuckDB's main header and its two alternating database headers (each with the checkpoint
#: counter): the first three 4 KiB blocks of the file.
HEADER_BYTES = 3 * 4096


def catalog_signature(database: Path) -> str | None:
    """A digest of the catalog's headers and size; None while it has changes not yet
    checkpointed (a write-ahead log beside it) or does not exist."""
    if not database.exists() or database.with_name(database.name + ".wal").exists():
        return None
    with open(database, "rb") as handle:
        head = handle.read(HEADER_BYTES)
    return hashlib.sha256(head + str(database.stat().st_size).encode()).hexdigest()


def file_schema(path: Path | str) -> Schema:
    return [[name, str(dtype)] for name, dtype in pl.read_parquet_schema(path).items()]


def shared_schema(pattern: str) -> Schema | None:
    """The schema every file matching ``pattern`` has, or None if they differ or none exists."""
    shared = None
    for path in glob.glob(pattern):
        schema = file_schema(path)
        if shared is not None and schema != shared:
            return None  # a table of two schemas: no need to read the rest
        shared = schema
    return shared


def _read(home: Path) -> dict:
    path = home / RECORD
    return json.loads(path.read_text()) if path.exists() else {}


def holds(home: Path, name: str, sql: str, written: Sequence[Path]) -> bool:
    """Whether view ``name`` already shows ``written`` as they are: same SQL, the catalog as last
    left, and every written file of the schema the view's files share. Call under the
    warehouse lock."""
    record = _read(home)
    entry = record.get("views", {}).get(name)
    if not written or entry is None or entry["sql"] != sql:
        return False
    signature = catalog_signature(home / "warehouse.duckdb")
    if signature is None or record.get("catalog") != signature:
        return False
    return all(file_schema(p) == entry["schema"] for p in written)


def remember(home: Path, ran: Sequence[str], views: dict[str, tuple[str, str]]) -> None:
    """After the catalog ran the statements of views ``ran``: the catalog's new signature, and
    for ``views`` (name: SQL and file pattern) their shared schema. Other views that ran are
    forgotten (recreated at their next write). Call under the warehouse lock."""
    record = _read(home)
    entries = {k: v for k, v in record.get("views", {}).items() if k not in ran}
    for name, (sql, pattern) in views.items():
        schema = shared_schema(pattern)
        if schema is not None:
            entries[name] = {"sql": sql, "schema": schema}
    atomic_write_text(
        home / RECORD, json.dumps({"catalog": catalog_signature(home / "warehouse.duckdb"), "views": entries})
    )
