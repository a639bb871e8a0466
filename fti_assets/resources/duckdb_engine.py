"""DuckDB as every step opens it: one configured ``dagster_duckdb.DuckDBResource``.

Each connection is a new in-memory database. The known-at checks register polars frames in it;
the offline store attaches its catalog, ``warehouse.duckdb``, to it by path. DuckDB admits one
writer process per file, and ``DuckDBResource`` retries a held file for about 100 s before it
fails: a file held by a DuckDB shell would stall every table write that long. Attached through an
in-memory connection, a held catalog is known at once, and the offline store keeps its statements
for the next write instead (``OfflineStore._refresh``).
"""

from __future__ import annotations

from dagster_duckdb import DuckDBResource

#: Files stay readable by the DuckDB CLI release on PyPI (duckdb-cli), which lags the library.
STORAGE_VERSION = "v1.4.0"


def duckdb_engine() -> DuckDBResource:
    """The resource ``resources/environment.py`` wires as ``duckdb`` (and the default where none is given)."""
    return DuckDBResource(
        database=":memory:", connection_config={"storage_compatibility_version": STORAGE_VERSION}
    )
