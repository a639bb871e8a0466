"""How often the drift alarm fires on weeks that did not drift: its false-alarm rate.

Reference is the training split (January to August). Weeks ending inside that period come
from the reference distribution, so any alarm there is false; weeks in October to December
show the real seasonal drift. Run with ``python -m fti_assets.monitoring.false_alarms``
after ``make demo``.
"""

from __future__ import annotations

import json
import sys
from datetime import date, timedelta

import polars as pl

from fti_assets.monitoring.drift import DriftConfig, feature_drift

WINDOW_DAYS = 7


def alarm_rates(batch: pl.DataFrame, reference: pl.DataFrame, days: list[date], cfg: DriftConfig) -> pl.DataFrame:
    """One row per day: the drifted share over the trailing week and whether it alarms."""
    rows = []
    for day in days:
        current = batch.filter(pl.col("flight_date").is_between(day - timedelta(days=WINDOW_DAYS - 1), day))
        _, summary = feature_drift(reference, current, cfg)
        drifted = sorted(c for c, (_, d) in summary["scores"].items() if d)
        rows.append({"day": day, "drifted_share": summary["drifted_share"], "alarm": summary["drifted_share"] > cfg.drift_share,
                     "drifted": ", ".join(drifted)})  # fmt: skip
    return pl.DataFrame(rows)


def main() -> None:
    from fti_assets.monitoring.drift_reports import reference_sample
    from fti_assets.resources.offline_store import OfflineStore
    from fti_assets.settings import Settings

    store = OfflineStore(home=str(Settings.from_env().home))
    batch = store.read("batch_predictions")
    reference = reference_sample(store.read("training_dataset"))
    cfg = DriftConfig()
    stable = [date(2013, 1, 7) + timedelta(days=d) for d in range(0, 236, 3)]
    drifting = [date(2013, 10, 1) + timedelta(days=d) for d in range(0, 92, 3)]
    result = {}
    for name, days in (("stable (Jan-Aug)", stable), ("seasonal (Oct-Dec)", drifting)):
        table = alarm_rates(batch, reference, days, cfg)
        result[name] = {"days": table.height, "alarms": int(table["alarm"].sum()), "rate": round(float(table["alarm"].mean()), 3),
                        "mean_drifted_share": round(float(table["drifted_share"].mean()), 3)}  # fmt: skip
        print(name, result[name], file=sys.stderr)
        print(table.filter(pl.col("alarm")).head(5), file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
