"""Plots of a model that never split: drawn, and saying why they are empty."""

from __future__ import annotations

import warnings

import numpy as np

from fti_assets.training.plots import importance_png


def test_a_model_without_gain_gets_an_empty_importance_plot_without_a_division_by_zero() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0 / 0 would warn and draw NaN bars
        png = importance_png(["dep_hour", "carrier"], np.zeros(2))
    assert png.startswith(b"\x89PNG") and len(png) > 1000
