"""Publishing a feature table: contract, freshness and null checks, then the stored output."""

from collections.abc import Callable, Iterator
from datetime import timedelta

import dagster as dg
import polars as pl

from fti_assets.domain.versions import SUPERSEDED_AT
from fti_assets.metadata import markdown_table, null_shares, table_metadata

MAX_NULL_SHARE = 0.5


def feature_checks(
    table: str,
    max_lag: timedelta | None = None,
    sparse: dict[str, str] | None = None,
    known_at: str | None = None,
) -> list[dg.AssetCheckSpec]:
    """The checks every feature table carries; the contract blocks downstream. ``max_lag``
    adds the freshness check; ``sparse`` names the columns exempt from the null-share check
    and why (the same values the asset passes to ``publish``); ``known_at`` describes how the
    ``known_at_from_source`` check recomputes the stamps."""
    exempt = "".join(f" Exempt: `{column}` ({why})." for column, why in (sparse or {}).items())
    specs = [
        dg.AssetCheckSpec(
            "contract",
            asset=table,
            blocking=True,
            description="Keys and known_at present, values in range (pandera). Blocking: on failure nothing is "
            "stored and nothing downstream runs.",
        ),
        dg.AssetCheckSpec(
            "null_shares",
            asset=table,
            description=f"Warns when a column is more than {MAX_NULL_SHARE:.0%} null.{exempt}",
        ),
    ]
    if known_at:
        specs.append(
            dg.AssetCheckSpec(
                "known_at_from_source",
                asset=table,
                blocking=True,
                description=f"Point-in-time stamps recomputed from the raw event times in DuckDB SQL, "
                f"independently of the transform, agree row by row: {known_at} Blocking: nothing is "
                "stored otherwise.",
            )
        )
    if max_lag is not None:
        hours = max_lag.total_seconds() / 3600
        specs.append(
            dg.AssetCheckSpec(
                "freshness",
                asset=table,
                description=f"Warns when a day of the partition range has no value known within {hours:g} h "
                "of the day's end (or no value at all).",
            )
        )
    return specs


def stale_days(frame: pl.DataFrame, day_column: str, days: list[str], max_lag: timedelta) -> list[str]:
    """Days whose newest ``known_at`` is more than ``max_lag`` before the day's end (or absent)."""
    newest = frame.group_by(day_column).agg(pl.col("known_at").max())
    latest = {str(d): t for d, t in newest.iter_rows()}
    stale = []
    for day in days:
        end = pl.Series([day]).str.to_datetime(time_zone="UTC")[0] + timedelta(days=1)
        if day not in latest or latest[day] < end - max_lag:
            stale.append(day)
    return stale


def publish(
    context: dg.AssetExecutionContext,
    table: str,
    frame: pl.DataFrame,
    day_column: str | None = None,
    max_lag: timedelta | None = None,
    extra_metadata: dict | None = None,
    sparse: tuple[str, ...] = (),
    known_at_mismatches: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    history: pl.DataFrame | None = None,
) -> Iterator[dg.AssetCheckResult | dg.Output]:
    """Validate ``frame`` against its contract before storing it, then yield checks and output.

    A feature table that breaks its contract is a bug in a transform, not bad input, so any
    rejected row fails the step and nothing is stored; so does any row of
    ``known_at_mismatches(frame)``, the stamps a second engine recomputes differently. ``sparse``
    columns are mostly null by nature and exempt from the null-share check. ``history`` is what is
    stored when the table keeps versions (``domain.versions``): ``frame`` is then its current rows,
    which the checks see.
    """
    from fti_assets.contracts.group_schemas import FEATURE_SCHEMAS
    from fti_assets.contracts.validation import ContractError, validate_rows

    try:
        result = validate_rows(frame, FEATURE_SCHEMAS[table])
    except ContractError as exc:
        yield dg.AssetCheckResult(check_name="contract", passed=False, metadata={"error": str(exc)})
        raise dg.Failure(description=f"{table}: {exc}. Nothing was stored.") from exc
    reasons = result.reasons()
    yield dg.AssetCheckResult(
        check_name="contract",
        passed=result.rejected.height == 0,
        metadata={
            "rows_rejected": result.rejected.height,
            "reasons": dg.MetadataValue.md(markdown_table(reasons) if reasons.height else "none"),
        },
    )
    if result.rejected.height:
        raise dg.Failure(
            description=f"{table}: {result.rejected.height} rows break the contract; nothing was stored.",
            metadata={"reasons": dg.MetadataValue.md(markdown_table(reasons))},
        )
    if known_at_mismatches is not None:
        wrong = known_at_mismatches(frame)
        yield dg.AssetCheckResult(
            check_name="known_at_from_source",
            passed=wrong.height == 0,
            metadata={
                "rows_checked": frame.height,
                "rows_disagreeing": wrong.height,
                "sample": dg.MetadataValue.md(markdown_table(wrong, 10) if wrong.height else "none"),
            },
        )
        if wrong.height:
            raise dg.Failure(
                description=(
                    f"{table}: {wrong.height} known-at stamps disagree with the raw event times; nothing "
                    "was stored."
                ),
                metadata={"sample": dg.MetadataValue.md(markdown_table(wrong, 10))},
            )
    shares = null_shares(frame)
    too_null = {c: s for c, s in shares.items() if s > MAX_NULL_SHARE and c not in sparse}
    yield dg.AssetCheckResult(
        check_name="null_shares",
        passed=not too_null,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"over_limit": dg.MetadataValue.json(too_null), "limit": MAX_NULL_SHARE},
    )
    if day_column and max_lag is not None:
        stale = stale_days(frame, day_column, list(context.partition_keys), max_lag)
        yield dg.AssetCheckResult(
            check_name="freshness",
            passed=not stale,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "stale_days": dg.MetadataValue.json(stale[:50]),
                "max_lag_hours": max_lag.total_seconds() / 3600,
            },
        )
    if history is None:
        yield dg.Output(frame, metadata={**table_metadata(frame), **(extra_metadata or {})})
        return
    kept = {"superseded_versions_stored": int(history[SUPERSEDED_AT].is_not_null().sum())}
    yield dg.Output(history, metadata={**table_metadata(frame), **kept, **(extra_metadata or {})})
