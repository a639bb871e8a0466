"""Monitoring on real data: performance, drift reports, shadow and canary evidence, the guard."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from fti_assets.monitoring.drift import (
    DriftConfig,
    feature_drift,
    feature_drift_snapshot,
    prediction_drift,
    prediction_drift_snapshot,
    summarize,
)
from fti_assets.monitoring.drift_reports import reference_sample, reference_window, trailing_week
from fti_assets.monitoring.sensors import canary_guard_sensor
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.retraining_rule import RetrainingRule
from fti_assets.serving.model_store import Roles, read_roles
from fti_assets_tests.conftest import materialize, settings_for
from fti_assets_tests.service_process import ServiceProcess

DAYS = (date(2013, 1, 1), date(2013, 1, 14))
LENIENT = {"floor_auc": 0.5, "floor_max_brier": 0.25, "min_improvement": -1.0, "max_slice_drop": 1.0}
MONITORING = ["model_performance", "feature_drift_report", "prediction_drift_report"]


def _run(home: Path, assets: list[str], partitioned: bool = False, ops: dict | None = None):
    result = materialize(
        home, assets, *(DAYS if partitioned else (None, None)), run_config={"ops": ops or {}}
    )
    assert result.success, [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return result


@pytest.fixture(scope="module")
def home(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good champion (v1), batch predictions for two weeks, and their monitoring."""
    target = Path(shutil.copytree(feature_home, tmp_path_factory.mktemp("monitoring") / "home"))
    _run(
        target,
        ["trained_model", "model_evaluation", "champion_model", "flight_delay_bento", "online_features"],
        ops={
            "model_evaluation": {"config": LENIENT},
            "online_features": {"config": {"as_of": "2013-01-13T00:00:00+00:00"}},
        },
    )
    _run(target, ["batch_predictions", *MONITORING], partitioned=True)
    return target


def test_model_performance_matches_the_outcomes(home: Path) -> None:
    store = OfflineStore(home=str(home))
    performance = store.read("model_performance").sort("day")
    scored = store.read("batch_predictions").join(
        store.read("flight_outcomes").filter(pl.col("status") == "arrived"), on="flight_id"
    )
    last = scored.filter(pl.col("flight_date") == DAYS[1])
    row = performance.row(-1, named=True)
    assert row["day"] == DAYS[1] and row["rows_day"] == last.height
    assert row["auc_day"] == pytest.approx(
        roc_auc_score(last["is_delayed"], last["delay_probability"]), abs=1e-12
    )
    assert row["auc_window"] == pytest.approx(
        roc_auc_score(scored["is_delayed"], scored["delay_probability"]), abs=1e-12
    )
    evaluation = json.loads((home / "records" / "model_evaluation.json").read_text())
    assert row["champion_test_auc"] == pytest.approx(evaluation["metrics"]["challenger"]["auc"], abs=1e-4)


def test_drift_reports_are_stored_and_linked(home: Path) -> None:
    store = OfflineStore(home=str(home))
    features = store.read("feature_drift_report").sort("day")
    assert features.height == 14 and features["drifted_share"].is_between(0, 1).all()
    assert (
        features["alarm"].to_list() == (features["drifted_share"] > RetrainingRule().drift_share).to_list()
    )  # the rule's threshold
    last = features.row(-1, named=True)
    assert Path(last["html"]).stat().st_size > 100_000  # the Evidently HTML, under FTI_HOME
    assert Path(last["html"]).is_relative_to(home / "reports")
    # The report opens with its summary, before Evidently's per-column dashboard.
    text = Path(last["html"]).read_text()
    assert text.index('id="fti-summary"') < text.index('id="root_')
    assert (
        f"drifted share {last['drifted_share']:.2f}" in text
        and ("ALARM" if last["alarm"] else "no alarm") in text
    )
    assert f"Current window: {date(2013, 1, 8)} to {DAYS[1]}" in text
    assert (
        f"Reference: {reference_window(store.read('training_dataset'))}" in text
        and "the training split, 2013-01-01 to" in text
    )
    assert last["report"] == f"http://127.0.0.1:3002/feature_drift/{DAYS[1]}.html"  # over HTTP, never file://
    without = features.filter(pl.col("html").is_null())
    assert (
        without.height > 0
        and without["report"].str.starts_with("no HTML: html=last writes the run's last day").all()
    )
    scores = json.loads(last["scores"])
    assert {"temp", "carrier", "route_delay_share_7d"} <= set(scores) and "month" not in scores
    predictions = store.read("prediction_drift_report")
    assert predictions.height == 14 and set(json.loads(predictions["scores"][0])) == {"delay_probability"}
    # The prediction report says what it compares, in words that fit its one column.
    served = Path(predictions.sort("day").row(-1, named=True)["html"]).read_text()
    assert f"to {DAYS[1]} (the champion's predicted probabilities)" in served
    assert "inference features" not in served and "1 columns" not in served
    assert f"to {DAYS[1]} (the features of the flights scored)" in text


def test_a_misspelt_html_choice_is_refused_before_the_report_runs(home: Path) -> None:
    before = (home / "store" / "feature_drift_report" / f"{DAYS[1]}.parquet").stat().st_mtime_ns
    with pytest.raises(dg.DagsterInvalidConfigError, match="html"):
        materialize(
            home,
            ["feature_drift_report"],
            DAYS[1],
            DAYS[1],
            run_config={"ops": {"feature_drift_report": {"config": {"html": "alarm"}}}},
        )
    assert (home / "store" / "feature_drift_report" / f"{DAYS[1]}.parquet").stat().st_mtime_ns == before


def test_a_shifted_feature_is_flagged(home: Path, tmp_path: Path) -> None:
    shifted = Path(shutil.copytree(home, tmp_path / "shifted"))
    store = OfflineStore(home=str(shifted))
    day = DAYS[1].isoformat()
    frame = store.read("batch_predictions", [day])
    store.write(
        "batch_predictions",
        frame.with_columns(temp=pl.col("temp") + 40, pressure=pl.col("pressure") - 40),
        day,
    )
    materialize(shifted, ["feature_drift_report"], DAYS[1], DAYS[1])
    scores = json.loads(store.read("feature_drift_report", [day])["scores"][0])
    original = json.loads(OfflineStore(home=str(home)).read("feature_drift_report", [day])["scores"][0])
    assert scores["temp"][1] is True and scores["temp"][0] > original["temp"][0]


def test_the_scores_of_every_day_are_the_scores_of_evidentlys_report(home: Path) -> None:
    """Days without an HTML file skip Evidently's report and run its tests directly: the two
    must agree, on a quiet week and on one where numbers and categories drifted."""
    store = OfflineStore(home=str(home))
    reference, batch = reference_sample(store.read("training_dataset")), store.read("batch_predictions")
    quiet = trailing_week(batch, DAYS[1])
    shifted = quiet.with_columns(
        temp=pl.col("temp") + 40, carrier=pl.lit("UA").cast(quiet.schema["carrier"]), wind_gust=None
    )
    cfg, share = DriftConfig(), RetrainingRule().drift_share
    for current in (quiet, shifted):
        assert feature_drift(reference, current, cfg) == summarize(
            feature_drift_snapshot(reference, current, cfg, share)
        )
    drifted = feature_drift(reference, shifted, cfg)["scores"]
    assert (
        drifted["carrier"][1]
        and drifted["temp"][1]
        and not feature_drift(reference, quiet, cfg)["scores"]["carrier"][1]
    )
    assert "wind_gust" not in drifted  # a column empty on one side is left out, as Evidently refuses it
    expected = batch.filter(pl.col("flight_date") < date(2013, 1, 8))["delay_probability"]
    for current in (quiet["delay_probability"], quiet["delay_probability"] * 0.5):
        assert prediction_drift(expected, current, cfg) == summarize(
            prediction_drift_snapshot(expected, current, cfg)
        )


def test_a_worse_canary_is_found_out_and_retired(home: Path) -> None:
    weak = {
        "trained_model": {"config": {"num_leaves": 2, "max_rounds": 1}},
        "model_evaluation": {"config": LENIENT},
    }
    _run(home, ["trained_model", "model_evaluation"], ops=weak)
    _run(home, ["challenger_model"], ops={"challenger_model": {"config": {"mode": "canary", "share": 0.5}}})
    registry = _resources(home)["registry"]
    assert read_roles(registry.tracking_uri) == Roles(1, 2, "canary", 0.5)

    with ServiceProcess(registry.version_by_alias("champion").tags["bento"], home) as service:
        flights = [
            {
                "carrier": "UA",
                "flight": n,
                "origin": "EWR",
                "dest": "IAH",
                "distance": 1400,
                "scheduled_departure": "2013-01-13T05:15:00-05:00",
                "scheduled_arrival": "2013-01-13T08:19:00-06:00",
            }
            for n in range(1, 41)
        ]
        served = httpx.post(f"{service.url}/predict", json={"flights": flights}, timeout=30).json()
    by = {p["model_version"] for p in served}
    assert by == {"flight_delay_model:v1", "flight_delay_model:v2"}  # a share of flights goes to the canary
    logged = [
        json.loads(line)
        for f in (home / "predictions").glob("*/*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert len(logged) == 40 and all(
        r["challenger_probability"] is not None and r["champion_probability"] is not None for r in logged
    )
    assert all(
        r["delay_probability"]
        == r[("challenger" if r["model_version"].endswith("v2") else "champion") + "_probability"]
        for r in logged
    )

    _run(home, ["batch_predictions", "shadow_comparison"], partitioned=True)
    evidence = OfflineStore(home=str(home)).read("shadow_comparison").sort("day").row(-1, named=True)
    assert evidence["challenger_version"] == 2 and evidence["rows_total"] > 5000
    assert evidence["challenger_auc"] < evidence["champion_auc"]

    # The promotion gate can read that evidence too: the champion stays, the run is green.
    gated = materialize(
        home,
        ["champion_model"],
        None,
        None,
        run_config={"ops": {"champion_model": {"config": {"require_shadow_evidence": True}}}},
    )
    assert gated.success and int(registry.version_by_alias("champion").version) == 1
    assert (
        "refused v2: in shadow/canary the challenger's AUC"
        in gated.output_for_node("champion_model")["verdict"]
    )

    resources = {
        "store": OfflineStore(home=str(home)),
        "registry": registry,
        "retraining_rule": RetrainingRule(canary_min_rows=1000),
    }
    with dg.build_sensor_context(resources=resources) as context:
        request = canary_guard_sensor(context)
    assert (
        isinstance(request, dg.RunRequest)
        and "canary v2 AUC" in request.run_config["ops"]["challenger_model"]["config"]["reason"]
    )
    _run(home, ["challenger_model"], ops=request.run_config["ops"])
    assert read_roles(registry.tracking_uri) == Roles(1)


def _resources(home: Path) -> dict:
    from fti_assets.resources.environment import build_resources

    return build_resources(settings_for(home))


def test_a_report_heading_counts_one_column_in_the_singular() -> None:
    from fti_assets.monitoring.drift import ReportHeading, heading_html

    heading = ReportHeading("Prediction drift", "2013-01-14", "w", "r", 0.5)
    one = {"drifted_share": 1.0, "drifted_count": 1, "scores": {"delay_probability": [0.3, True]}}
    assert "(1 column counted towards it)" in heading_html(heading, one)
    assert "(0 columns counted towards it)" in heading_html(heading, {**one, "drifted_count": 0})
