"""Settings read from the environment: the values a process gets, and a clear refusal of bad ones."""

from __future__ import annotations

import pytest

from fti_assets.settings import Settings


def test_the_knobs_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTI_DATASET_PIECES", "3")
    monkeypatch.setenv("FTI_SERVING_WATCH_SECONDS", "0.25")
    monkeypatch.setenv("FTI_SERVING_MAX_BATCH_FLIGHTS", "50")
    monkeypatch.setenv("FTI_SERVING_INLINE_FLIGHTS", "0")
    monkeypatch.setenv("FTI_SERVING_TRACE_PREDICT", "1")
    monkeypatch.setenv("FTI_SERVING_METRICS", "true")
    settings = Settings.from_env()
    assert settings.serving_trace_predict and settings.serving_metrics
    assert (settings.dataset_pieces, settings.serving_watch_seconds, settings.serving_max_batch_flights) == (
        3,
        0.25,
        50,
    )
    assert settings.serving_inline_flights == 0  # zero is allowed here: every batch on the thread
    assert settings.as_env()["FTI_DATASET_PIECES"] == "3"  # child processes get the same limit


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FTI_DATASET_PIECES", "0"),
        ("FTI_DATASET_PIECES", "two"),
        ("FTI_SERVING_MAX_BATCH_FLIGHTS", "-5"),
        ("FTI_SERVING_INLINE_FLIGHTS", "-1"),
        ("FTI_SERVING_WATCH_SECONDS", "0"),
        ("FTI_SERVING_WATCH_SECONDS", "soon"),
        ("FTI_SERVING_WATCH_SECONDS", "nan"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name} must be a positive"):
        Settings.from_env()


def test_a_flag_is_1_or_0_and_anything_else_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTI_SERVING_TRACE_PREDICT", "0")
    assert not Settings.from_env().serving_trace_predict
    assert not Settings.from_env().serving_metrics  # unset: off on the local profile
    monkeypatch.setenv("FTI_ENV", "production")
    assert Settings.from_env().serving_metrics  # and on in production
    monkeypatch.setenv("FTI_SERVING_METRICS", "0")
    assert not Settings.from_env().serving_metrics  # unless turned off
    monkeypatch.setenv("FTI_SERVING_TRACE_PREDICT", "yes")
    with pytest.raises(ValueError, match="FTI_SERVING_TRACE_PREDICT must be 1 or 0"):
        Settings.from_env()
