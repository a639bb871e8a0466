"""Row-level contract validation: split a frame into valid rows and rejected rows with reasons.

pandera's own coercion stops at the first bad column and then checks the uncoerced frame,
so types are cast here, per row and non-strictly, before pandera checks values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors

ROW = "_row"


class ContractError(Exception):
    """A table that cannot be validated row by row (a missing column, an unusable type)."""


@dataclass(frozen=True)
class Validated:
    """Rows that passed, rows that failed (original values plus reasons), and the counts."""

    valid: pl.DataFrame
    rejected: pl.DataFrame
    checked: int

    @property
    def rejected_share(self) -> float:
        return self.rejected.height / self.checked if self.checked else 0.0

    def reasons(self) -> pl.DataFrame:
        """Rejected rows per column and rule, most frequent first."""
        return (
            self.rejected.select(pl.col("reason").str.split("; "))
            .explode("reason")
            .group_by("reason")
            .len()
            .sort("len", "reason", descending=[True, False])
        )


#: A timestamp string that carries its own zone: ``Z`` or a numeric offset at the end.
_OFFSET = r"(Z|[+-]\d\d(:?\d\d)?)$"


def _localize(naive: pl.Expr, zone: str | None) -> pl.Expr:
    """Naive times read in the source's ``zone`` (None: refused, null). An ambiguous hour at
    the end of daylight saving takes the earlier instant, as R's ``make_datetime`` does."""
    if zone is None:
        return pl.lit(None, pl.Datetime("us", "UTC"))
    return naive.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null").dt.convert_time_zone(
        "UTC"
    )


def _cast(name: str, source: pl.DataType, target: pl.DataType, zone: str | None = "UTC") -> pl.Expr:
    column = pl.col(name)
    if source == pl.String and isinstance(target, pl.Datetime):
        # Offsets and naive strings are parsed apart: polars infers one format per call.
        text = column.str.strip_chars()
        aware = (
            pl.when(text.str.contains(_OFFSET))
            .then(text)
            .str.to_datetime(time_unit=target.time_unit, time_zone="UTC", strict=False)
        )
        naive = (
            pl.when(~text.str.contains(_OFFSET))
            .then(text)
            .str.to_datetime(time_unit=target.time_unit, strict=False)
        )
        return pl.coalesce(aware, _localize(naive, zone)).dt.convert_time_zone(target.time_zone or "UTC")
    if source == pl.String and target == pl.Date:
        return column.str.to_date(strict=False)
    if isinstance(source, pl.Datetime) and isinstance(target, pl.Datetime):
        # pandas writes ns, Spark and Arrow often ms: the unit is converted, not refused.
        utc = _localize(column, zone) if source.time_zone is None else column.dt.convert_time_zone("UTC")
        return utc.dt.cast_time_unit(target.time_unit).dt.convert_time_zone(target.time_zone or "UTC")
    if target.is_integer() and (source == pl.String or source.is_float()):
        # pandas and R write integer columns holding nulls as floats (517.0): accept whole
        # numbers, and leave a fraction (-12.3) null so the row is quarantined, never truncated.
        number = (
            column.str.strip_chars().cast(pl.Float64, strict=False)
            if source == pl.String
            else column.cast(pl.Float64)
        )
        whole = pl.when(number == number.round(0)).then(number).cast(target, strict=False)
        return (
            pl.coalesce(column.str.strip_chars().cast(target, strict=False), whole)
            if source == pl.String
            else whole
        )
    return column.cast(target, strict=False)


def require_columns(frame: pl.DataFrame, schema: pa.DataFrameSchema, table: str) -> None:
    missing = [c for c, col in schema.columns.items() if col.required and c not in frame.columns]
    if missing:
        raise ContractError(
            f"{table} is missing required column(s) {', '.join(missing)}; "
            f"found {', '.join(frame.columns) or 'none'}"
        )


def cast_to_schema(
    frame: pl.DataFrame, schema: pa.DataFrameSchema, zone: str | None = "UTC"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cast every column to its contract type; a value lost by the cast is a row failure.

    Timestamps without a zone are read in ``zone`` (None refuses them).

    Returns the cast frame (with a ``_row`` index) and failures as ``_row, column, rule``.
    """
    indexed = frame.with_row_index(ROW)
    casts, failures = [], []
    for name, column in schema.columns.items():
        if name not in frame.columns or frame.schema[name] == column.dtype.type:
            continue
        cast = _cast(name, frame.schema[name], column.dtype.type, zone).alias(name)
        casts.append(cast)
        failures.append(
            indexed.filter(pl.col(name).is_not_null() & cast.is_null()).select(
                ROW, column=pl.lit(name), rule=pl.lit(f"type({column.dtype})")
            )
        )
    empty = pl.DataFrame(schema={ROW: pl.UInt32, "column": pl.String, "rule": pl.String})
    return indexed.with_columns(casts), pl.concat([empty, *failures])


def check_values(cast: pl.DataFrame, schema: pa.DataFrameSchema) -> pl.DataFrame:
    """Run the contract's checks on already-typed rows; failures as ``_row, column, rule``."""
    strict = copy.deepcopy(schema)
    strict.coerce = False
    for column in strict.columns.values():
        column.coerce = False
    empty = pl.DataFrame(schema={ROW: pl.UInt32, "column": pl.String, "rule": pl.String})
    try:
        strict.validate(cast.drop(ROW), lazy=True)
        return empty
    except SchemaErrors as err:
        cases = err.failure_cases
        unplaced = cases.filter(pl.col("index").is_null())
        if unplaced.height:
            problems = "; ".join(
                f"{r['column']}: {r['check']} ({r['failure_case']})" for r in unplaced.iter_rows(named=True)
            )
            raise ContractError(f"{schema.name} fails its contract as a whole: {problems}") from err
        return cases.select(
            cast[ROW].gather(cases["index"]).alias(ROW),
            column=pl.when(pl.col("schema_context") == "DataFrameSchema")
            .then(pl.lit("*"))
            .otherwise(pl.col("column")),
            rule=pl.col("check"),
        ).unique()


def validate_rows(
    frame: pl.DataFrame,
    schema: pa.DataFrameSchema,
    extra_failures: pl.DataFrame | None = None,
    zone: str | None = "UTC",
) -> Validated:
    """Split ``frame`` into rows that meet ``schema`` and rows that do not, with reasons.

    ``extra_failures`` (``_row, column, rule``, indexed like ``frame``) adds findings from
    other scans, such as PII. Rejected rows keep their original values, so nothing is lost.
    Timestamps without a zone are read in ``zone`` (None refuses them).
    """
    require_columns(frame, schema, schema.name or "table")
    cast, type_failures = cast_to_schema(frame, schema, zone)
    typed_ok = cast.join(type_failures.select(ROW).unique(), on=ROW, how="anti")
    failures = pl.concat(
        [
            type_failures,
            check_values(typed_ok, schema),
            *([extra_failures] if extra_failures is not None else []),
        ]
    )
    reasons = (
        failures.sort(ROW, "column", "rule")
        .group_by(ROW, maintain_order=True)
        .agg(reason=pl.format("{}: {}", "column", "rule").str.join("; "))
    )
    keep = [c for c in schema.columns if c in cast.columns]
    valid = cast.join(reasons, on=ROW, how="anti").sort(ROW).select(keep)
    rejected = frame.with_row_index(ROW).join(reasons, on=ROW, how="inner").sort(ROW)
    return Validated(valid=valid, rejected=rejected, checked=frame.height)
