"""Drift of features and predictions against the training reference, with Evidently.

Distances, not p-values: on thousands of rows a p-value test flags shifts too small to
matter. Calendar features are left out: one day's month is a single value, always "drifted".
Weather is reported but does not count towards the alarm: a week of weather is a couple of
weather systems, never the distribution of eight months (measured: it drifts on most
stable weeks).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from fti_assets.domain.catalog import CATEGORICAL_FEATURES, feature_names, group
from fti_assets.resources.atomic import atomic_write_text

#: Features whose distribution over one day or week differs from a year by construction.
NOT_MONITORED = ("month", "weekday")
PREDICTION = "delay_probability"


@dataclass(frozen=True)
class DriftConfig:
    num_method: str = "wasserstein"
    num_threshold: float = 0.1
    cat_method: str = "jensenshannon"
    cat_threshold: float = 0.1


def monitored_features() -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns the feature drift report compares."""
    features = [f for f in feature_names() if f not in NOT_MONITORED]
    return [f for f in features if f not in CATEGORICAL_FEATURES], [
        f for f in features if f in CATEGORICAL_FEATURES
    ]


def alarm_features() -> list[str]:
    """The monitored columns whose drift counts towards the alarm (weather excluded)."""
    weather = set(group("origin_weather").features)
    numeric, categorical = monitored_features()
    return [f for f in [*numeric, *categorical] if f not in weather]


def _dataset(frame: pl.DataFrame, numeric: list[str], categorical: list[str]):
    from evidently import DataDefinition, Dataset

    pandas = frame.select(*numeric, *categorical).to_pandas()
    return Dataset.from_pandas(
        pandas, data_definition=DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    )


def _present(reference: pl.DataFrame, current: pl.DataFrame) -> tuple[list[str], list[str]]:
    """The monitored (numeric, categorical) columns with a value on both sides: Evidently
    refuses a column that is empty on either (wind gusts on a calm week)."""
    numeric, categorical = monitored_features()
    present = {
        c
        for c in [*numeric, *categorical]
        if current[c].null_count() < current.height and reference[c].null_count() < reference.height
    }
    return [c for c in numeric if c in present], [c for c in categorical if c in present]


def column_scores(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    numeric: list[str],
    categorical: list[str],
    cfg: DriftConfig,
) -> dict[str, list]:
    """``{column: [score, drifted]}`` by the statistical tests Evidently's ``ValueDrift`` runs,
    on the values it keeps (infinities and nulls dropped), without building a report: the
    report also draws every column's plots, about 90% of its time, which only an HTML file needs."""
    import numpy as np
    from evidently.legacy.calculations.stattests import get_stattest
    from evidently.legacy.core import ColumnType

    ref, cur = (
        reference.select(*numeric, *categorical).to_pandas(),
        current.select(*numeric, *categorical).to_pandas(),
    )
    scores: dict[str, list] = {}
    for columns, kind, method, threshold in (
        (numeric, ColumnType.Numerical, cfg.num_method, cfg.num_threshold),
        (categorical, ColumnType.Categorical, cfg.cat_method, cfg.cat_threshold),
    ):
        for c in columns:
            r, x = (side[c].replace([-np.inf, np.inf], np.nan).dropna() for side in (ref, cur))
            score = float(get_stattest(r, x, kind, method)(r, x, kind, threshold).drift_score)
            scores[c] = [round(score, 4), score >= threshold]
    return scores


def feature_drift(reference: pl.DataFrame, current: pl.DataFrame, cfg: DriftConfig) -> dict:
    """``{drifted_share, drifted_count, scores: {column: [score, drifted]}}``: every monitored
    column gets a score; ``drifted_share`` is over the alarm features (``alarm_features``)."""
    numeric, categorical = _present(reference, current)
    scores = column_scores(reference, current, numeric, categorical, cfg)
    counted = [c for c in alarm_features() if c in scores]
    count = sum(scores[c][1] for c in counted)
    return {
        "drifted_share": count / len(counted) if counted else 0.0,
        "drifted_count": count,
        "scores": scores,
    }


def feature_drift_snapshot(
    reference: pl.DataFrame, current: pl.DataFrame, cfg: DriftConfig, drift_share: float
) -> Any:
    """Evidently's report of ``feature_drift``, with its plots, for an HTML file: one
    ``ValueDrift`` per column and the drifted-columns count against ``drift_share``."""
    from evidently import Report
    from evidently.metrics import DriftedColumnsCount, ValueDrift

    numeric, categorical = _present(reference, current)
    metrics = [
        *(ValueDrift(column=c, method=cfg.num_method, threshold=cfg.num_threshold) for c in numeric),
        *(ValueDrift(column=c, method=cfg.cat_method, threshold=cfg.cat_threshold) for c in categorical),
        DriftedColumnsCount(
            columns=[c for c in alarm_features() if c in (*numeric, *categorical)],
            drift_share=drift_share,
            num_method=cfg.num_method,
            num_threshold=cfg.num_threshold,
            cat_method=cfg.cat_method,
            cat_threshold=cfg.cat_threshold,
        ),
    ]
    return Report(metrics).run(
        _dataset(current, numeric, categorical), _dataset(reference, numeric, categorical)
    )


def prediction_drift(reference: pl.Series, current: pl.Series, cfg: DriftConfig) -> dict:
    """Drift of the predicted probability: one Wasserstein distance, as ``feature_drift`` gives it."""
    scores = column_scores(
        reference.alias(PREDICTION).to_frame(), current.alias(PREDICTION).to_frame(), [PREDICTION], [], cfg
    )
    return {
        "drifted_share": float(scores[PREDICTION][1]),
        "drifted_count": int(scores[PREDICTION][1]),
        "scores": scores,
    }


def prediction_drift_snapshot(reference: pl.Series, current: pl.Series, cfg: DriftConfig) -> Any:
    """Evidently's report of ``prediction_drift``, with its plot."""
    from evidently import Report
    from evidently.metrics import ValueDrift

    report = Report([ValueDrift(column=PREDICTION, method=cfg.num_method, threshold=cfg.num_threshold)])
    return report.run(
        _dataset(current.alias(PREDICTION).to_frame(), [PREDICTION], []),
        _dataset(reference.alias(PREDICTION).to_frame(), [PREDICTION], []),
    )


def summarize(snapshot: Any) -> dict:
    """Per-column scores and verdicts and the drifted share, read back from a snapshot's
    metrics: what the report's HTML shows, which must agree with ``feature_drift``."""
    scores: dict[str, list] = {}
    share = count = None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            value = float(metric["value"])
            scores[config["column"]] = [round(value, 4), value >= config["threshold"]]
        elif config["type"].endswith("DriftedColumnsCount"):
            share, count = metric["value"]["share"], metric["value"]["count"]
    if share is None and scores:
        count = sum(d for _, d in scores.values())
        share = count / len(scores)
    return {"drifted_share": float(share or 0.0), "drifted_count": int(count or 0), "scores": scores}


def is_alarm(summary: dict, drift_share: float) -> bool:
    """A report alarms when more than ``drift_share`` of its columns drifted (the retraining
    rule's threshold: one value for the reports, their HTML and the false-alarm measure)."""
    return summary["drifted_share"] > drift_share


@dataclass(frozen=True)
class ReportHeading:
    """What a report says before its per-column sections."""

    title: str
    day: str
    current_window: str
    reference_window: str
    drift_share: float


def heading_html(heading: ReportHeading, summary: dict) -> str:
    """The opening of a report: title, day, windows, drifted share and alarm, top columns."""
    alarm = is_alarm(summary, heading.drift_share)
    drifted = sorted(((c, v[0]) for c, v in summary["scores"].items() if v[1]), key=lambda cv: -cv[1])
    top = ", ".join(f"{html.escape(c)} ({v:.3f})" for c, v in drifted[:10]) or "none"
    verdict = "ALARM" if alarm else "no alarm"
    return (
        '<section id="fti-summary" style="font-family:sans-serif;padding:1em 2em;border-bottom:2px solid #888">'
        f"<h1>{html.escape(heading.title)}: {heading.day}</h1>"
        f"<p>Current window: {heading.current_window}. Reference: {html.escape(heading.reference_window)}.</p>"
        f'<p><b id="fti-verdict">{verdict}</b>: drifted share {summary["drifted_share"]:.2f} '
        f"({summary['drifted_count']} columns counted towards it) against an alarm threshold of "
        f"{heading.drift_share:.2f}.</p>"
        f"<p>Columns over their threshold: {top}.</p><p>Per-column sections follow.</p></section>"
    )


def save_html(snapshot: Any, path: Path, heading: ReportHeading, summary: dict) -> Path:
    """Evidently's HTML report, opened by the summary heading; written atomically."""
    text = snapshot.get_html_str(as_iframe=False)  # what Evidently's save_html writes
    title = f"<title>{html.escape(heading.title)} {heading.day}</title>"
    text = text.replace("<head>", "<head>" + title, 1).replace(
        "<body>", "<body>" + heading_html(heading, summary), 1
    )
    return atomic_write_text(path, text)
