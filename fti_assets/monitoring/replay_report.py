"""The report of the last replay: a timeline of alarms, retrains and promotions, AUC by month."""

import base64

import dagster as dg
import polars as pl

from fti_assets.metadata import markdown_table
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.retraining_rule import RetrainingRule


@dg.asset(
    group_name="monitoring",
    io_manager_key="record_io_manager",
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        "model_performance",
        "feature_drift_report",
        "batch_predictions",
        "flight_outcomes",
        "serving_skew",
    ],
)
def replay_report(
    context: dg.AssetExecutionContext, store: OfflineStore, retraining_rule: RetrainingRule
) -> dg.Output:
    """The timeline of the last `fti replay`: drift alarms, retrains, promotions, the served
    model's AUC per month with a plot, and the online/offline skew of the served flights.
    Unpartitioned, it depends on every partition of its inputs and reads those of the replay's
    days. The replay's events (`replay_events`, written by `fti replay`, not by an asset) are
    not among the declared inputs."""
    from fti_assets.monitoring.performance import monthly_auc, recovery, scored_outcomes, weekly_auc
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
    scored = scored_outcomes(served, store.read("flight_outcomes"))
    monthly = monthly_auc(scored)
    counts = dict(events.group_by("kind").len().iter_rows())
    lines = [
        f"replay {start}..{end}: "
        + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("drift", "alarm", "retrain", "promotion", "refused"))
    ]
    lines += [
        f"  {r['day']}  {r['kind']:<10} {r['detail']}"
        for r in events.filter(pl.col("kind") != "drift").iter_rows(named=True)
    ]
    lines += ["AUC per month:"] + [
        f"  {r['month']}  {r['auc'] or float('nan'):.4f}  ({r['rows']:,} flights, {r['models']})"
        for r in monthly.iter_rows(named=True)
    ]
    # Time to recover: from the injected shift, else from the first alarm.
    shift = (
        events["shift_from"][0]
        if "shift_from" in events.columns and events["shift_from"][0] is not None
        else None
    )
    alarms = events.filter(pl.col("kind") == "alarm")["day"]
    origin = shift or (alarms.min() if alarms.len() else None)
    recovered = recovery(scored, origin) if origin is not None else {}
    weekly = weekly_auc(scored, origin) if origin is not None else pl.DataFrame()
    if origin is not None:
        days = recovered["days_to_recover"]
        lines.append(
            f"time to recover from {'the shift' if shift else 'the first alarm'} on {origin}: "
            + (
                f"{days} days (served AUC over the 7 days from {recovered['recovered_on']} is "
                f"{recovered['auc_after']:.4f}, "
                f"pre-shift {recovered['pre_shift_auc']:.4f})"
                if days is not None
                else "not recovered within the replay"
            )
        )
        lines += ["AUC per week around it:"] + [
            f"  week {r['week']:+d} from {r['from']}  {r['auc'] or float('nan'):.4f}  ({r['rows']:,} "
            f"flights, {r['models']})"
            for r in weekly.iter_rows(named=True)
        ]
    try:
        skew = period_skew(store.read("serving_skew").filter(window))
    except FileNotFoundError:
        skew = {"days": 0, "compared_rows": 0}
    lines.append(describe_period(skew))
    png = timeline_png(performance, drift, events, retraining_rule.drift_share)
    summary = "\n".join(lines)
    return dg.Output(
        {
            "summary": summary,
            "start": str(start),
            "end": str(end),
            "events": events.height,
            **{k: int(v) for k, v in counts.items()},
            "skew": skew,
            "recovery": recovered,
        },
        metadata={
            "timeline": dg.MetadataValue.md(
                markdown_table(events.select("day", "kind", "detail", "version"), 200)
            ),
            "auc_by_month": dg.MetadataValue.md(markdown_table(monthly, 24)),
            "plot": dg.MetadataValue.md(
                f"![timeline](data:image/png;base64,{base64.b64encode(png).decode()})"
            ),
            "promotions": counts.get("promotion", 0),
            "retrains": counts.get("retrain", 0),
            "serving_skew": dg.MetadataValue.json(skew),
            "recovery": dg.MetadataValue.json(recovered),
            "days_to_recover": recovered.get("days_to_recover")
            if recovered.get("days_to_recover") is not None
            else -1,
            "auc_by_week": dg.MetadataValue.md(
                markdown_table(weekly, 12) if weekly.height else "no shift or alarm"
            ),
        },
    )
