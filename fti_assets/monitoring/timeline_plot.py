"""The replay timeline as a picture: AUC by day with retrains and promotions, and drift."""

from __future__ import annotations

import io

import polars as pl


def timeline_png(
    performance: pl.DataFrame, drift: pl.DataFrame, events: pl.DataFrame, drift_share: float
) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 5), sharex=True, height_ratios=[3, 1])
    if performance.height:
        top.plot(performance["day"], performance["auc_day"], ".", color="lightgrey", label="AUC, day")
        top.plot(
            performance["day"], performance["auc_window"], color="tab:blue", label="AUC, trailing 14 days"
        )
        top.step(
            performance["day"],
            performance["champion_test_auc"],
            where="post",
            color="black",
            linestyle=":",
            label="champion test AUC",
        )
    colours = {
        "retrain": "tab:orange",
        "promotion": "tab:green",
        "refused": "tab:red",
        "canary": "tab:purple",
    }
    for kind, colour in colours.items():
        for day in events.filter(pl.col("kind") == kind)["day"]:
            top.axvline(day, color=colour, alpha=0.6, linewidth=1)
        top.plot([], [], color=colour, label=kind)
    top.set(ylabel="ROC AUC", title="Replay: served model quality, retrains and promotions")
    top.legend(loc="lower left", fontsize=7, ncols=3)
    if drift.height:
        bottom.plot(drift["day"], drift["drifted_share"], color="tab:brown")
        bottom.axhline(drift_share, color="tab:brown", linestyle=":")
    bottom.set(ylabel="drifted share", ylim=(0, 1))
    fig.autofmt_xdate()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()
