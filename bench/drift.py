"""One day's feature drift report against the training reference, beside a bare SciPy floor.

``python -m bench.drift HOME DAY REPEATS``: HOME holds a materialized training dataset and
batch predictions (a demo run). ``report`` times the scores the ``feature_drift_report`` asset
computes for every day (SciPy's distances as Evidently defines them: a Wasserstein distance per
numeric feature, Jensen-Shannon per categorical one), ``snapshot`` Evidently's report with its plots and
``html`` its HTML file, which the asset builds only for the run's last day and alarming days,
and ``scipy`` the same distances in a bare loop over one pivot of counts (the floor).
Prints one JSON line, with the largest gap between the asset's scores and the floor's.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from fti_assets.monitoring.drift import (
    DriftConfig,
    ReportHeading,
    feature_drift,
    feature_drift_snapshot,
    monitored_features,
    save_html,
)
from fti_assets.monitoring.drift_reports import DRIFT_WINDOW_DAYS, reference_sample, reference_window
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.retraining_rule import RetrainingRule


def scipy_scores(reference: pl.DataFrame, current: pl.DataFrame) -> dict[str, float]:
    """Wasserstein distance in reference standard deviations; Jensen-Shannon distance."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    numeric, categorical = monitored_features()
    out = {}
    for c in numeric:
        ref, cur = reference[c].drop_nulls().to_numpy(), current[c].drop_nulls().to_numpy()
        if len(ref) and len(cur):
            out[c] = wasserstein_distance(ref, cur) / (np.std(ref) or 1.0)
    for c in categorical:
        counts = (
            pl.concat([reference.select(c, side=pl.lit("r")), current.select(c, side=pl.lit("c"))])
            .group_by(c, "side")
            .len()
            .pivot("side", index=c, values="len")
            .fill_null(0)
        )
        out[c] = float(jensenshannon(counts["r"].to_numpy(), counts["c"].to_numpy()))
    return out


def timed(run, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(round(time.perf_counter() - start, 4))
    return seconds


def main() -> None:
    home, day, repeats = Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), int(sys.argv[3])
    store = OfflineStore(home=str(home))
    training = store.read("training_dataset")
    reference = reference_sample(training)
    days = [(day - timedelta(days=d)).isoformat() for d in range(DRIFT_WINDOW_DAYS)]
    current = store.read("batch_predictions", days)
    cfg, drift_share = DriftConfig(), RetrainingRule().drift_share
    summary, snapshot = (
        feature_drift(reference, current, cfg),
        feature_drift_snapshot(reference, current, cfg, drift_share),
    )
    heading = ReportHeading(
        "Feature drift", day.isoformat(), f"{days[-1]} to {days[0]}", reference_window(training), drift_share
    )
    ours = {c: s for c, (s, _) in summary["scores"].items()}
    floor = scipy_scores(reference, current)
    gap = max(abs(ours[c] - floor[c]) for c in ours if c in floor)
    with tempfile.TemporaryDirectory() as tmp:
        html = timed(lambda: save_html(snapshot, Path(tmp) / "report.html", heading, summary), repeats)
    print(
        json.dumps(
            {
                "day": day.isoformat(),
                "reference_rows": reference.height,
                "current_rows": current.height,
                "columns": len(ours),
                "report": timed(lambda: feature_drift(reference, current, cfg), repeats),
                "snapshot": timed(
                    lambda: feature_drift_snapshot(reference, current, cfg, drift_share), repeats
                ),
                "html": html,
                "scipy": timed(lambda: scipy_scores(reference, current), repeats),
                "max_score_gap": round(gap, 4),
            }
        )
    )


if __name__ == "__main__":
    main()
