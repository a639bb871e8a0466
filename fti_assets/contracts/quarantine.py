"""Rejected rows as quarantine records: one uniform shape for every table."""

from __future__ import annotations

import polars as pl

from fti_assets.contracts.pii import ROW, mask_pii


def quarantine_records(
    table: str, rejected: pl.DataFrame, pii: pl.DataFrame, day: pl.Expr | None, run_id: str
) -> pl.DataFrame:
    """``table, partition, reason, row (JSON of the original values), run_id`` per rejected row.

    ``rejected`` carries ``_row`` and ``reason`` from ``validate_rows``; cells flagged as
    personal data are masked, so quarantine keeps the evidence without the data.
    """
    original = rejected.drop(ROW, "reason")
    flagged = pii.join(rejected.select(ROW).with_row_index("_at"), on=ROW).drop(ROW).rename({"_at": ROW})
    kept = mask_pii(original, flagged)
    return kept.select(
        table=pl.lit(table),
        partition=(day if day is not None else pl.lit(None, pl.Date)).cast(pl.String),
        reason=rejected["reason"],
        row=pl.struct(pl.all().cast(pl.String)).struct.json_encode(),
        run_id=pl.lit(run_id),
    )
