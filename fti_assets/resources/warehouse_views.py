"""What the DuckDB catalog's views hold, recorded beside it, so that a write which cannot change
a view does not recreate it.

Recreating a view binds its query, which reads the footer of every file of the table: about
80 ms of CPU for a table of a year of daily files, and a daily run writes about twenty tables.
A view is ``read_parquet`` over its folder's files, so a new file whose schema is the one schema
all the table's files share is already in it. The record keeps, for each view, the statement
that made it, the definition DuckDB then reported for it (``duckdb_views()``) and that shared
schema. It is trusted only while the catalog still reports that definition, so a view dropped
or replaced from a DuckDB shell is seen, and recreated at the next write.
"""

from __future__ import annotations

import glob
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from fti_assets.resources.atomic import atomic_write_text

RECORD = "warehouse.views.json"
Schema = list[list[str]]


def catalog_views(conn: Any, database: str) -> dict[str, str]:
    """Each view of the attached ``database`` with its definition, as DuckDB reports it."""
    rows = conn.execute(
        "SELECT view_name, sql FROM duckdb_views() WHERE database_name = ? AND NOT internal", [database]
    ).fetchall()
    return dict(rows)


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
    return json.loads(path.read_text()).get("views", {}) if path.exists() else {}


def holds(home: Path, catalog: dict[str, str], name: str, sql: str, written: Sequence[Path]) -> bool:
    """Whether view ``name`` already shows ``written`` as they are: made by the same statement,
    still defined in ``catalog`` (``catalog_views``) as this code left it, and every written
    file of the schema the view's files share. Call under the warehouse lock."""
    entry = _read(home).get(name)
    if not written or entry is None or entry["sql"] != sql or catalog.get(name) != entry.get("definition"):
        return False
    return all(file_schema(p) == entry["schema"] for p in written)


def remember(
    home: Path, catalog: dict[str, str], ran: Sequence[str], views: dict[str, tuple[str, str]]
) -> None:
    """After the catalog ran the statements of views ``ran``: for ``views`` (name: statement and
    file pattern) their definition in ``catalog`` and their shared schema. Other views that ran
    are forgotten (recreated at their next write). Call under the warehouse lock."""
    entries = {k: v for k, v in _read(home).items() if k not in ran}
    for name, (sql, pattern) in views.items():
        schema = shared_schema(pattern)
        if schema is not None and name in catalog:
            entries[name] = {"sql": sql, "definition": catalog[name], "schema": schema}
    atomic_write_text(home / RECORD, json.dumps({"views": entries}))
