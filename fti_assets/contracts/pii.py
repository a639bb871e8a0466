"""A scan of raw string columns for values that look like personal data."""

from __future__ import annotations

import polars as pl

ROW = "_row"
PATTERNS: dict[str, str] = {
    "email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "phone": r"(?:\+?1[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}",
    "card": r"(?:\d[ -]?){12,18}\d",
}
MASK = "<redacted>"


def _luhn(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return len(digits) >= 13 and checksum % 10 == 0


def find_pii(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """``_row, column, rule`` for every cell of the text ``columns`` that looks like an e-mail,
    phone or card number."""
    found = []
    for name in columns:
        if name not in frame.columns:
            continue
        for kind, pattern in PATTERNS.items():
            hits = frame.with_row_index(ROW).filter(pl.col(name).cast(pl.String).str.contains(pattern))
            if kind == "card":  # a long digit run is a card number only if it passes Luhn
                hits = hits.filter(
                    pl.col(name)
                    .cast(pl.String)
                    .str.extract(f"({pattern})")
                    .map_elements(_luhn, return_dtype=pl.Boolean)
                )
            found.append(hits.select(ROW, column=pl.lit(name), rule=pl.lit(f"pii({kind})")))
    empty = pl.DataFrame(schema={ROW: pl.UInt32, "column": pl.String, "rule": pl.String})
    return pl.concat([empty, *found]).unique().sort(ROW, "column")


def mask_pii(frame: pl.DataFrame, findings: pl.DataFrame) -> pl.DataFrame:
    """Replace flagged cells with a mask, so quarantine keeps the row but not the personal data."""
    masked = frame.with_row_index(ROW)
    for column in findings["column"].unique().to_list():
        rows = findings.filter(pl.col("column") == column)[ROW].implode()
        masked = masked.with_columns(
            pl.when(pl.col(ROW).is_in(rows))
            .then(pl.lit(MASK))
            .otherwise(pl.col(column).cast(pl.String))
            .alias(column)
        )
    return masked.drop(ROW)
