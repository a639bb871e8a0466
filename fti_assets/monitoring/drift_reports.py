"""Drift reports: the day's inference features and predictions against the training reference."""

import json
from datetime import date, timedelta
from typing import Literal

import dagster as dg
import polars as pl

from fti_assets.metadata import markdown_table
from fti_assets.partitions import daily_partitions, trailing_days
from fti_assets.resources.io_manager import PARTITION_COLUMN
from fti_assets.resources.registry import CHAMPION, ModelRegistry
from fti_assets.resources.reports import ReportStore
from fti_assets.resources.retraining_rule import RetrainingRule

#: Each day is compared over a trailing week: one day of weather is one weather system.
DRIFT_WINDOW_DAYS = 7
REFERENCE_ROWS = 20_000
_WINDOW = trailing_days(DRIFT_WINDOW_DAYS - 1)
_DAILY = dict(
    group_name="monitoring",
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata={PARTITION_COLUMN: "day"},
)


class DriftReportConfig(dg.Config):
    num_threshold: float = 0.1
    """Wasserstein distance (in reference standard deviations) above which a feature drifted."""
    cat_threshold: float = 0.1
    """Jensen-Shannon distance above which a categorical feature drifted."""
    html: Literal["all", "last", "alarms"] = "last"
    """Which days get an HTML report: `all`, `last` (the run's last day, and alarming days)
    or `alarms` (alarming days only). Any other value is refused when the run is launched."""


def reference_sample(training_dataset: pl.DataFrame) -> pl.DataFrame:
    """A fixed sample of the training split: the distribution the champion learnt from."""
    train = training_dataset.filter(pl.col("split") == "train")
    return train.sample(min(REFERENCE_ROWS, train.height), seed=0)


def reference_window(training_dataset: pl.DataFrame) -> str:
    """The days the reference sample comes from, as a report states them."""
    train = training_dataset.filter(pl.col("split") == "train")
    first, last = train["prediction_time"].min(), train["prediction_time"].max()
    return (
        f"the training split, {first:%Y-%m-%d} to {last:%Y-%m-%d} ({min(REFERENCE_ROWS, train.height):,} "
        "sampled flights)"
    )


def week_start(day: date) -> date:
    """The first of the ``DRIFT_WINDOW_DAYS`` that end on ``day``."""
    return day - timedelta(days=DRIFT_WINDOW_DAYS - 1)


def trailing_week(frame: pl.DataFrame, day: date) -> pl.DataFrame:
    """The rows of the ``DRIFT_WINDOW_DAYS`` ending on ``day``: what a day's report compares."""
    return frame.filter(pl.col("flight_date").is_between(week_start(day), day))


def _windows(frame: pl.DataFrame, keys: list[str]):
    for key in keys:
        day = date.fromisoformat(key)
        yield key, day, trailing_week(frame, day)


def no_html_reason(config: DriftReportConfig, last_key: str) -> str:
    """Why a day of this run has no HTML report, in the words the UI shows."""
    if config.html == "alarms":
        return "no HTML: html=alarms writes alarming days only"
    return (
        f"no HTML: html=last writes the run's last day ({last_key}) and alarming days; set html: all to "
        "write every day"
    )


def _report_rows(
    context, config, drift_share: float, reports: ReportStore, name: str, title: str, reference: str, compute
) -> pl.DataFrame:
    from fti_assets.monitoring.drift import ReportHeading, is_alarm, save_html

    rows, keys = [], list(context.partition_keys)
    for key, day, summary, snapshot in compute():  # snapshot(): Evidently's report, built for HTML days only
        alarm = is_alarm(summary, drift_share)
        html, note = None, no_html_reason(config, keys[-1])
        if config.html == "all" or alarm or (config.html == "last" and key == keys[-1]):
            window = f"{week_start(day)} to {day} (inference features)"
            html = str(
                save_html(
                    snapshot(),
                    reports.path(name, key),
                    ReportHeading(title, key, window, reference, drift_share),
                    summary,
                )
            )
            note = reports.url_of(html)
        rows.append(
            {
                "day": day,
                "drifted_share": summary["drifted_share"],
                "drifted_count": summary["drifted_count"],
                "alarm": alarm,
                "scores": json.dumps(summary["scores"]),
                "html": html,
                "report": note,
            }
        )
    return pl.DataFrame(rows, schema_overrides={"html": pl.String})


def _metadata(table: pl.DataFrame) -> dict:
    last = table.row(-1, named=True)
    scores = pl.DataFrame(
        [{"feature": k, "score": v[0], "drifted": v[1]} for k, v in json.loads(last["scores"]).items()]
    )
    days = table.select(
        "day",
        "drifted_share",
        "alarm",
        report=pl.when(pl.col("html").is_null())
        .then(pl.col("report"))
        .otherwise(pl.format("[open]({})", pl.col("report"))),
    )
    meta = {
        "dagster/row_count": table.height,
        "drifted_share": last["drifted_share"],
        "alarm": last["alarm"],
        "alarm_days": int(table["alarm"].sum()),
        "scores": dg.MetadataValue.md(markdown_table(scores.sort("score", descending=True), 40)),
        "reports": dg.MetadataValue.md(markdown_table(days, 400)),
    }
    meta["report"] = (
        dg.MetadataValue.url(last["report"]) if last["html"] else dg.MetadataValue.text(last["report"])
    )
    return meta


@dg.asset(
    **_DAILY,
    ins={"batch_predictions": dg.AssetIn(partition_mapping=_WINDOW), "training_dataset": dg.AssetIn()},
)
def feature_drift_report(
    context: dg.AssetExecutionContext,
    config: DriftReportConfig,
    batch_predictions: pl.DataFrame,
    training_dataset: pl.DataFrame,
    reports: ReportStore,
    retraining_rule: RetrainingRule,
) -> dg.Output:
    """Evidently data drift of the trailing week's inference features against the training
    reference: Wasserstein for numbers, Jensen-Shannon for categories; the drifted share, the
    day's `alarm` (over the retraining rule's `drift_share`) and per-feature scores; the HTML
    report, opened by its summary, on the reports server (`report`), and for each day of the
    run its link or why it has none (`reports`)."""
    from fti_assets.monitoring.drift import DriftConfig, feature_drift, feature_drift_snapshot

    cfg = DriftConfig(num_threshold=config.num_threshold, cat_threshold=config.cat_threshold)
    reference, drift_share = reference_sample(training_dataset), retraining_rule.drift_share

    def compute():
        for key, day, current in _windows(batch_predictions, list(context.partition_keys)):
            yield (
                key,
                day,
                feature_drift(reference, current, cfg),
                lambda c=current: feature_drift_snapshot(reference, c, cfg, drift_share),
            )

    table = _report_rows(
        context,
        config,
        drift_share,
        reports,
        "feature_drift",
        "Feature drift",
        reference_window(training_dataset),
        compute,
    )
    return dg.Output(table, metadata=_metadata(table))


@dg.asset(
    **_DAILY,
    ins={"batch_predictions": dg.AssetIn(partition_mapping=_WINDOW), "training_dataset": dg.AssetIn()},
)
def prediction_drift_report(
    context: dg.AssetExecutionContext,
    config: DriftReportConfig,
    batch_predictions: pl.DataFrame,
    training_dataset: pl.DataFrame,
    reports: ReportStore,
    registry: ModelRegistry,
    retraining_rule: RetrainingRule,
) -> dg.Output:
    """Evidently drift of the trailing week's predicted probabilities against the champion's
    predictions on the training reference."""
    from fti_assets.monitoring.drift import DriftConfig, prediction_drift, prediction_drift_snapshot

    champion = registry.load(int(registry.version_by_alias(CHAMPION).version))
    reference = reference_sample(training_dataset)
    expected = pl.Series(champion.feature_spec.predict(champion.booster, reference))
    cfg = DriftConfig(num_threshold=config.num_threshold)

    def compute():
        for key, day, current in _windows(batch_predictions, list(context.partition_keys)):
            served = current["delay_probability"]
            yield (
                key,
                day,
                prediction_drift(expected, served, cfg),
                lambda s=served: prediction_drift_snapshot(expected, s, cfg),
            )

    table = _report_rows(
        context,
        config,
        retraining_rule.drift_share,
        reports,
        "prediction_drift",
        "Prediction drift",
        reference_window(training_dataset),
        compute,
    )
    return dg.Output(table, metadata=_metadata(table))
