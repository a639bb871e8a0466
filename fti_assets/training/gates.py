"""Holdout metrics, calibration, slices, and the promotion gates that read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:  # numpy is imported where it runs: the code location loads this module
    import numpy as np

SLICES = ("carrier", "origin")


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, log loss and Brier score (AUC is null when only one class is present)."""
    import numpy as np
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "rows": int(len(y)),
        "positive_rate": float(np.mean(y)) if len(y) else float("nan"),
    }


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """Mean prediction against the observed delay rate per probability decile."""
    frame = pl.DataFrame({"y": y, "p": p}).with_columns(
        bin=(pl.col("p") * bins).floor().clip(0, bins - 1).cast(pl.Int32)
    )
    return (
        frame.group_by("bin")
        .agg(rows=pl.len(), mean_predicted=pl.col("p").mean(), observed_rate=pl.col("y").mean())
        .sort("bin")
        .with_columns(
            pl.format("{}-{}%", pl.col("bin") * (100 // bins), (pl.col("bin") + 1) * (100 // bins)).alias(
                "range"
            )
        )
        .select("range", "rows", "mean_predicted", "observed_rate")
    )


def slice_metrics(frame: pl.DataFrame, prediction: str, by: tuple[str, ...] = SLICES) -> pl.DataFrame:
    """Metrics per value of each slicing column: ``slice_by, slice, rows, auc, log_loss, brier``."""
    rows = []
    for column in by:
        for (value,), part in frame.group_by(column):
            m = metrics(part["is_delayed"].cast(pl.Int8).to_numpy(), part[prediction].to_numpy())
            rows.append(
                {
                    "slice_by": column,
                    "slice": str(value),
                    **{k: m[k] for k in ("rows", "auc", "log_loss", "brier")},
                }
            )
    return pl.DataFrame(rows).sort("slice_by", "rows", descending=[False, True])


@dataclass(frozen=True)
class GateConfig:
    """What a challenger must show to replace the champion."""

    min_improvement: float = 0.001
    max_slice_drop: float = 0.02
    min_slice_rows: int = 500
    leak_alarm_auc: float = 0.9
    floor_auc: float = 0.65
    floor_max_brier: float = 0.2
    #: A verdict on fewer test flights is noise (a retrain after a collapse tests on one day).
    min_test_rows: int = 500
    #: An AUC over the leak alarm is explained, not leaked, when a model of the request-time
    #: features alone (known by construction at the prediction time) comes this close to it.
    leak_explained_margin: float = 0.05
    #: The columns whose values are compared slice by slice.
    slices: tuple[str, ...] = SLICES


def gate_config_from_policy(policy, overrides: dict | None = None) -> GateConfig:
    """The gates' thresholds from a ``PromotionPolicy``, with explicit ``overrides`` (run config) on top."""
    values = {
        "min_improvement": policy.champion.min_improvement,
        "min_test_rows": policy.champion.min_test_rows,
        "max_slice_drop": policy.slices.max_auc_drop,
        "min_slice_rows": policy.slices.min_rows,
        "slices": tuple(policy.slices.by),
        "leak_alarm_auc": policy.leak_alarm.auc,
        "leak_explained_margin": policy.leak_alarm.explained_margin,
        "floor_auc": policy.floors.auc,
        "floor_max_brier": policy.floors.max_brier,
    }
    return GateConfig(**{**values, **(overrides or {})})


@dataclass(frozen=True)
class GateResult:
    passed: bool
    message: str


def sanity_problems(
    p: np.ndarray, model_features: list[str], spec_features: list[str], auc: float | None = None
) -> list[str]:
    import numpy as np

    problems = []
    if auc is not None and not auc > 0.5:
        problems.append(f"test AUC {auc:.4f} is no better than chance")
    if not np.all(np.isfinite(p)):
        problems.append(f"{int(np.sum(~np.isfinite(p)))} predictions are not finite")
    elif p.min() < 0 or p.max() > 1:
        problems.append(f"predictions leave [0, 1]: min {p.min():.4f}, max {p.max():.4f}")
    if model_features != spec_features:
        problems.append(
            f"the model uses {model_features[:5]}... but its feature spec lists {spec_features[:5]}..."
        )
    return problems


def regressed_slices(challenger: pl.DataFrame, champion: pl.DataFrame, cfg: GateConfig) -> pl.DataFrame:
    both = challenger.join(champion, on=["slice_by", "slice"], suffix="_champion")
    return both.filter(
        pl.col("rows") >= cfg.min_slice_rows,
        pl.col("auc").is_not_nan() & pl.col("auc_champion").is_not_nan(),
        pl.col("auc") < pl.col("auc_champion") - cfg.max_slice_drop,
    ).select("slice_by", "slice", "rows", "auc", "auc_champion")


def gates(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    challenger_slices: pl.DataFrame,
    champion_slices: pl.DataFrame | None,
    sanity: list[str],
    cfg: GateConfig,
    request_time_auc: float | None = None,
) -> dict[str, GateResult]:
    """Every gate's verdict with a sentence a person can act on. ``request_time_auc`` is the
    test AUC of a model of the request-time features alone, measured when the AUC is high."""
    auc = challenger["auc"]
    explained = request_time_auc is not None and request_time_auc >= auc - cfg.leak_explained_margin
    out = {
        "leak_alarm": GateResult(
            auc <= cfg.leak_alarm_auc or explained,
            f"test AUC {auc:.4f} is under the leak alarm {cfg.leak_alarm_auc}"
            if auc <= cfg.leak_alarm_auc
            else (
                f"test AUC {auc:.4f} is above the leak alarm {cfg.leak_alarm_auc}, but the request-time "
                f"features alone reach {request_time_auc:.4f}: the world is that predictable, nothing leaked"
            )
            if explained
            else f"test AUC {auc:.4f} is above the leak alarm {cfg.leak_alarm_auc}"
            + (
                f" and the request-time features alone reach only {request_time_auc:.4f}"
                if request_time_auc is not None
                else ""
            )
            + ": look for leakage, a feature known only after the prediction time (such as the flight's own delay), "
            "before trusting this model",
        ),
        "sanity": GateResult(
            not sanity,
            "; ".join(sanity) or "predictions finite in [0, 1], better than chance; features as specified",
        ),
    }
    if champion is None:
        ok = auc >= cfg.floor_auc and challenger["brier"] <= cfg.floor_max_brier
        out["beats_champion"] = GateResult(
            ok,
            f"no champion yet; absolute floors AUC >= {cfg.floor_auc} and Brier <= {cfg.floor_max_brier}: "
            f"AUC {auc:.4f}, Brier {challenger['brier']:.4f}",
        )
        out["no_slice_regression"] = GateResult(True, "no champion to compare slices with")
        return out
    needed = champion["auc"] + cfg.min_improvement
    enough = challenger["rows"] >= cfg.min_test_rows
    out["beats_champion"] = GateResult(
        auc >= needed and enough,
        f"challenger AUC {auc:.4f} vs champion {champion['auc']:.4f} on the same {challenger['rows']:,} "
        f"test rows; needs >= {needed:.4f}" + ("" if enough else f" on at least {cfg.min_test_rows:,} rows"),
    )
    worse = (
        regressed_slices(challenger_slices, champion_slices, cfg)
        if champion_slices is not None
        else pl.DataFrame()
    )
    out["no_slice_regression"] = GateResult(
        worse.height == 0,
        f"no slice with at least {cfg.min_slice_rows} rows loses more than {cfg.max_slice_drop} AUC"
        if worse.height == 0
        else "slices worse than the champion: "
        + ", ".join(
            f"{r['slice_by']}={r['slice']} {r['auc']:.3f} < {r['auc_champion']:.3f}"
            for r in worse.iter_rows(named=True)
        ),
    )
    return out


def request_time_auc(
    train: pl.DataFrame, validation: pl.DataFrame, test: pl.DataFrame, params: dict
) -> float:
    """Test AUC of a LightGBM model of the request-time features alone, trained like the
    challenger: what the schedule itself explains, whatever any other feature holds."""
    from fti_assets.domain.catalog import REQUEST_FEATURES
    from fti_assets.training.trainer import train_booster

    fitted = train_booster(train, validation, params, 500, 50, feature_subset=list(REQUEST_FEATURES))
    y = test["is_delayed"].cast(pl.Int8).to_numpy()
    return metrics(y, fitted.spec.predict(fitted.booster, test))["auc"]
