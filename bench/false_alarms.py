"""How often the drift alarm fires on weeks that did not drift: its false-alarm rate.

Reference is the training split (January to August). Weeks ending inside that period come
from the reference distribution, so any alarm there is false; weeks in October to December
show the real seasonal drift. Run with ``python -m bench.false_alarms``
after ``make demo``.
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta

import polars as pl

from fti_assets.monitoring.drift import DriftConfig, feature_drift, is_alarm
from fti_assets.monitoring.drift_reports import trailing_week


def alarm_rates(
    batch: pl.DataFrame, reference: pl.DataFrame, days: list[date], cfg: DriftConfig, drift_share: float
) -> pl.DataFrame:
    """One row per day: the drifted share over the drift reports' trailing week and whether it alarms."""
    rows = []
    for day in days:
        summary = feature_drift(reference, trailing_week(batch, day), cfg)
        drifted = sorted(c for c, (_, d) in summary["scores"].items() if d)
        rows.append(
            {
                "day": day,
                "drifted_share": summary["drifted_share"],
                "alarm": is_alarm(summary, drift_share),
                "drifted": ", ".join(drifted),
            }
        )
    return pl.DataFrame(rows)


def main() -> None:
    from fti_assets.monitoring.drift_reports import reference_sample
    from fti_assets.resources.environment import build_resources
    from fti_assets.settings import Settings

    resources = build_resources(Settings.from_env())
    store, drift_share = resources["store"], resources["retraining_rule"].drift_share
    batch = store.read("batch_predictions")
    reference = reference_sample(store.read("training_dataset"))
    cfg = DriftConfig()
    stable = [date(2013, 1, 7) + timedelta(days=d) for d in range(0, 236, 3)]
    drifting = [date(2013, 10, 1) + timedelta(days=d) for d in range(0, 92, 3)]
    result = {}
    for name, days in (("stable (Jan-Aug)", stable), ("seasonal (Oct-Dec)", drifting)):
        table = alarm_rates(batch, reference, days, cfg, drift_share)
        result[name] = {
            "days": table.height,
            "alarms": int(table["alarm"].sum()),
            "rate": round(float(table["alarm"].mean()), 3),
            "mean_drifted_share": round(float(table["drifted_share"].mean()), 3),
        }
        print(name, result[name], file=sys.stderr)
        print(table.filter(pl.col("alarm")).head(5), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
