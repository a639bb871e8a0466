"""The promotion gates as pure functions: enough test flights, and a leak alarm that tells a
leak from a world the schedule alone explains."""

from __future__ import annotations

import polars as pl

from fti_assets.training.gates import GateConfig, gates, request_time_auc

SLICES = pl.DataFrame(schema={"slice_by": pl.String, "slice": pl.String, "rows": pl.Int64, "auc": pl.Float64})


def _verdicts(
    auc: float, rows: int = 900, champion_auc: float = 0.60, request_time: float | None = None, **cfg
):
    ours, theirs = (
        {"auc": auc, "brier": 0.15, "rows": rows},
        {"auc": champion_auc, "brier": 0.2, "rows": rows},
    )
    return gates(ours, theirs, SLICES, SLICES, [], GateConfig(**cfg), request_time)


def test_a_challenger_judged_on_too_few_test_flights_is_refused() -> None:
    verdict = _verdicts(0.80, rows=400, min_test_rows=500)["beats_champion"]
    assert not verdict.passed and "at least 500 rows" in verdict.message
    assert _verdicts(0.80, rows=900, min_test_rows=500)["beats_champion"].passed


def test_a_high_auc_the_request_time_features_explain_is_not_a_leak() -> None:
    assert not _verdicts(0.95)["leak_alarm"].passed  # nothing measured: the alarm stands
    explained = _verdicts(0.95, request_time=0.93)["leak_alarm"]
    assert explained.passed and "nothing leaked" in explained.message
    leaked = _verdicts(0.95, request_time=0.70)["leak_alarm"]
    assert not leaked.passed and "look for leakage" in leaked.message and "0.7000" in leaked.message


def _flights(n: int, seed: int) -> pl.DataFrame:
    """Flights whose delay is decided by the departure hour alone (an inverted rush hour)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    hour = rng.integers(5, 23, n)
    frame = pl.DataFrame(
        {
            "dep_hour": hour,
            "dep_minute_of_day": hour * 60,
            "weekday": rng.integers(0, 7, n),
            "month": 3,
            "distance": rng.uniform(200, 2500, n),
            "scheduled_duration_min": rng.uniform(60, 360, n),
            "carrier": rng.choice(["UA", "AA", "B6"], n),
            "origin": rng.choice(["EWR", "JFK", "LGA"], n),
            "dest": rng.choice(["ORD", "LAX", "ATL"], n),
        }
    )
    noise = rng.random(n) < 0.05
    return frame.with_columns(is_delayed=pl.Series((hour < 12) != noise))


def test_the_request_time_baseline_measures_what_the_schedule_explains() -> None:
    from fti_assets.training.trainer import lightgbm_params

    auc = request_time_auc(
        _flights(3000, 1), _flights(1000, 2), _flights(1000, 3), lightgbm_params({"min_data_in_leaf": 20}, 42)
    )
    assert auc > 0.9
