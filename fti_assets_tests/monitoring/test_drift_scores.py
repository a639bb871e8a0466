"""The daily drift scores (SciPy) are the scores of Evidently's report, on awkward columns too."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from fti_assets.monitoring.drift import (
    CATEGORICAL_METHOD,
    NUMERIC_METHOD,
    DriftConfig,
    column_scores,
    jensenshannon_score,
    wasserstein_score,
)

RNG = np.random.default_rng(11)
N_REF, N_CUR = 3000, 700


def _numbers(n: int, shift: float = 0.0) -> list[float | None]:
    values = list(RNG.normal(10 + shift, 3, size=n))
    for i in range(0, n, 37):
        values[i] = None
    for i in range(5, n, 101):
        values[i] = math.inf if i % 2 else -math.inf
    values[7] = math.nan
    return values


def _reference() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "num": _numbers(N_REF),
            "count": RNG.poisson(4, size=N_REF).astype(np.int64),
            "flat": [5.0] * N_REF,  # no spread: the distance's unit is Evidently's floor
            "cat": RNG.choice(
                ["AA", "B6", "DL", "UA", None], size=N_REF, p=[0.3, 0.3, 0.2, 0.15, 0.05]
            ).tolist(),
            "code": RNG.integers(0, 6, size=N_REF),
        },
        schema_overrides={"cat": pl.Categorical},
    )


def _current(shifted: bool) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "num": _numbers(N_CUR, shift=2.0 if shifted else 0.0),
            "count": RNG.poisson(6 if shifted else 4, size=N_CUR).astype(np.int64),
            "flat": RNG.normal(5.0, 0.01, size=N_CUR),
            # A carrier the reference never saw, and one of its carriers absent.
            "cat": RNG.choice(
                ["AA", "B6", "WN"] if shifted else ["AA", "B6", "DL", "UA"], size=N_CUR
            ).tolist(),
            "code": RNG.integers(0, 9 if shifted else 6, size=N_CUR),
        },
        schema_overrides={"cat": pl.Categorical},
    )


def _evidently_scores(reference: pl.DataFrame, current: pl.DataFrame, cfg: DriftConfig) -> dict[str, list]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    numeric, categorical = ["num", "count", "flat"], ["cat", "code"]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    metrics = [
        *(ValueDrift(column=c, method=NUMERIC_METHOD, threshold=cfg.num_threshold) for c in numeric),
        *(ValueDrift(column=c, method=CATEGORICAL_METHOD, threshold=cfg.cat_threshold) for c in categorical),
    ]
    snapshot = Report(metrics).run(
        Dataset.from_pandas(current.to_pandas(), data_definition=definition),
        Dataset.from_pandas(reference.to_pandas(), data_definition=definition),
    )
    scores = {}
    for metric in snapshot.dict()["metrics"]:
        value = float(metric["value"])
        scores[metric["config"]["column"]] = [round(value, 4), value >= metric["config"]["threshold"]]
    return scores


@pytest.mark.parametrize("shifted", [False, True])
def test_scipys_scores_are_evidentlys(shifted: bool) -> None:
    reference, current, cfg = _reference(), _current(shifted), DriftConfig()
    ours = column_scores(reference, current, ["num", "count", "flat"], ["cat", "code"], cfg)
    assert ours == _evidently_scores(reference, current, cfg)
    assert all(drifted for _, drifted in ours.values()) if shifted else not ours["num"][1]


def test_the_distances_on_known_values() -> None:
    """One reference standard deviation of shift is a Wasserstein score of 1; disjoint shares
    are the largest Jensen-Shannon distance, sqrt(ln 2)."""
    reference = pl.Series([0.0, 2.0] * 50)  # standard deviation 1
    assert wasserstein_score(reference, reference + 1) == pytest.approx(1.0)
    assert (
        wasserstein_score(reference, pl.Series([math.inf, None, 0.0, 2.0])) == 0.0
    )  # non-finite values left out
    assert jensenshannon_score(pl.Series(["a", "a"]), pl.Series(["b", None])) == pytest.approx(
        math.sqrt(math.log(2))
    )
    assert jensenshannon_score(pl.Series(["a", "b", None]), pl.Series(["b", "a"])) == 0.0
