"""Evaluation plots as PNG bytes (matplotlib, headless)."""

from __future__ import annotations

import io

import numpy as np


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def roc_curve_png(y: np.ndarray, curves: dict[str, np.ndarray]) -> bytes:
    """ROC curves of one or more models on the same rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, p in curves.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(y, p):.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on the test split")
    ax.legend(loc="lower right")
    return _png(fig)


def importance_png(names: list[str], gains: np.ndarray, top: int = 20) -> bytes:
    """Top features by total gain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(gains)[::-1][:top][::-1]
    fig, ax = plt.subplots(figsize=(5, 0.25 * len(order) + 1))
    total = gains.sum()
    # A model of stumps that never split (a refused one, say) has no gain to share out.
    ax.barh([names[i] for i in order], gains[order] / total if total > 0 else np.zeros(len(order)))
    ax.set(
        xlabel="share of total gain",
        title="Feature importance" if total > 0 else "Feature importance: the model never splits",
    )
    return _png(fig)


def calibration_png(table_rows: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([r["mean_predicted"] for r in table_rows], [r["observed_rate"] for r in table_rows], marker="o")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(
        xlabel="mean predicted probability", ylabel="observed delay rate", title="Calibration (test split)"
    )
    return _png(fig)


def bar_png(values: dict[str, float], xlabel: str) -> bytes:
    """Horizontal bars, one per key (used for per-feature shares)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 0.25 * len(values) + 1))
    ax.barh(list(values)[::-1], list(values.values())[::-1])
    ax.set(xlabel=xlabel)
    return _png(fig)
