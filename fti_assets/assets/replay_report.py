"""The report of the last replay: a timeline of alarms, retrains and promotions, AUC by month."""

import base64

import dagster as dg
import polars as pl

from fti_assets.assets.metadata import markdown_table
from fti_assets.storage.offline_store import OfflineStore


@dg.asset(group_name="monitoring", io_manager_key="record_io_manager", backfill_policy=dg.BackfillPolicy.single_run(),
          deps=["model_performance", "feature_drift_report", "batch_predictions", "serving_skew"])  # fmt: skip
def replay_report(context: dg.AssetExecutionContext, store: OfflineStore) -> dg.Output:
    """The timeline of the last `fti replay`: drift alarms, retrains, promotions, the served
    model's AUC per month with a plot, and the online/offline skew of the served flights."""
    from fti_assets.monitoring.performance import monthly_auc, scored_outcomes
    from fti_assets.monitoring.skew import describe_period, period_skew
    from fti_assets.monitoring.timeline_plot import timeline_png

    try:
        events = store.read("replay_events")
    except FileNotFoundError as exc:
        raise dg.Failure("no replay yet: run `fti replay`") from exc
    start, end = events["replay_start"][0], events["replay_end"][0]
    window = pl.col("day").is_between(start, end)
    performance = store.read("model_performance").filter(window).sort("day")
    drift = store.read("feature_drift_report").filter(window).sort("day")
    served = store.scan("batch_predictions").filter(pl.col("flight_date").is_between(start, end)).collect()
    monthly = monthly_auc(scored_outcomes(served, store.read("flight_outcomes")))
    counts = dict(events.group_by("kind").len().iter_rows())
    lines = [f"replay {start}..{end}: " + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("drift", "alarm", "retrain", "promotion", "refused"))]
    lines += [f"  {r['day']}  {r['kind']:<10} {r['detail']}" for r in events.filter(pl.col("kind") != "drift").iter_rows(named=True)]
    lines += ["AUC per month:"] + [f"  {r['month']}  {r['auc'] or float('nan'):.4f}  ({r['rows']:,} flights, {r['models']})" for r in monthly.iter_rows(named=True)]
    try:
        skew = period_skew(store.read("serving_skew").filter(window))
    except FileNotFoundError:
        skew = {"days": 0, "compared_rows": 0}
    lines.append(describe_period(skew))
    png = timeline_png(performance, drift, events, 0.5)
    summary = "\n".join(lines)
    return dg.Output(
        {"summary": summary, "start": str(start), "end": str(end), "events": events.height, **{k: int(v) for k, v in counts.items()},
         "skew": skew},
        metadata={"timeline": dg.MetadataValue.md(markdown_table(events.select("day", "kind", "detail", "version"), 200)),
                  "auc_by_month": dg.MetadataValue.md(markdown_table(monthly, 24)),
                  "plot": dg.MetadataValue.md(f"![timeline](data:image/png;base64,{base64.b64encode(png).decode()})"),
                  "promotions": counts.get("promotion", 0), "retrains": counts.get("retrain", 0),
                  "serving_skew": dg.MetadataValue.json(skew)},
    )  # fmt: skip


REPLAY_ASSETS = [replay_report]
