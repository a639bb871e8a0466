"""Metadata that makes a table readable in the Dagster UI: size, schema, preview, null shares."""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl


def markdown_table(frame: pl.DataFrame, max_rows: int = 10, digits: int = 4) -> str:
    """A small frame as a Markdown table."""
    shown = frame.head(max_rows).with_columns(pl.selectors.float().round(digits))
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in shown.iter_rows()]
    more = [f"\n_{frame.height - max_rows} more rows_"] if frame.height > max_rows else []
    return "\n".join([header, rule, *rows, *more])


def column_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()])


def null_shares(frame: pl.DataFrame) -> dict[str, float]:
    """Share of nulls per column that has any."""
    if frame.height == 0:
        return {}
    counts = frame.null_count().row(0, named=True)
    return {c: round(n / frame.height, 4) for c, n in counts.items() if n}


def table_metadata(frame: pl.DataFrame, preview_rows: int = 5) -> dict[str, Any]:
    """Row count, column schema, a preview and null shares for an output table."""
    return {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(frame),
        "preview": dg.MetadataValue.md(markdown_table(frame, preview_rows)),
        "null_shares": dg.MetadataValue.json(null_shares(frame)),
    }
