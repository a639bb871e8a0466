"""Alerts from real runs: each injected fault (a failing contract, a failed step, an AUC slide,
a refused challenger) reaches a real HTTP receiver and a real SMTP server once; a receiver that
is down is retried, then reported in the run's event log, and the run stays green."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from fti_assets.alerts.sensors import ALERT_TAG_PREFIX, build_alert_sensors
from fti_assets.resources.alerts import AlertChannels
from fti_assets.resources.offline_store import OfflineStore
from fti_assets.resources.retraining_rule import RetrainingRule
from fti_assets_tests.alerts.receivers import HttpReceiver, SmtpReceiver
from fti_assets_tests.conftest import SLICE_END, SLICE_START, TRAINING_CONFIG, materialize, settings_for

LENIENT = {"floor_auc": 0.5, "floor_max_brier": 0.25, "min_improvement": -1.0, "max_slice_drop": 1.0}
ON_FAILURE, ON_SUCCESS = build_alert_sensors(True)
UI = "http://dagster.example:3000"


@pytest.fixture(scope="module")
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


@pytest.fixture
def webhook():
    receiver = HttpReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def smtp():
    receiver = SmtpReceiver()
    yield receiver
    receiver.close()


def _channels(webhook: HttpReceiver, smtp: SmtpReceiver | None = None) -> AlertChannels:
    return AlertChannels(
        webhook_url=webhook.url,
        smtp_url=smtp.url if smtp else "",
        email_to=["oncall@example.com"] if smtp else [],
        ui_url=UI,
    )


#: The days in these tests are mostly the model's own training days (served AUC about 0.9) and its
#: three test days (about 0.7): the rule's collapse path, judged on the last three days, is set
#: aside here so that the fault is the slide of the trailing 14 days.
SLIDE_ONLY = RetrainingRule(collapse_drop=1.0)


def tick(
    instance: dg.DagsterInstance,
    result: dg.ExecuteInProcessResult,
    home: Path,
    channels: AlertChannels,
    rule: RetrainingRule = SLIDE_ONLY,
) -> None:
    """One evaluation of the sensor the daemon would run for this finished run."""
    run = instance.get_run_by_id(result.run_id)
    resources = {
        "alerts": channels,
        "store": OfflineStore(home=str(home)),
        "retraining_rule": rule,
    }
    # Entered as a context manager: the offline store holds a DuckDB resource that opens with it.
    if result.success:
        event = result.get_run_success_event()
        with dg.build_run_status_sensor_context(
            "alert_on_alarms", event, instance, run, resources=resources
        ) as context:
            ON_SUCCESS(context)
    else:
        event = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        built = dg.build_run_status_sensor_context(
            "alert_on_run_failure", event, instance, run, resources=resources
        )
        with built as context:
            ON_FAILURE(context.for_run_failure())


def _alert(body: dict) -> dict:
    assert body["text"].startswith("[fti-assets] ") and body["blocks"], body  # what Slack shows
    return body["alert"]


def test_a_failing_contract_alerts_once_by_webhook_and_email(
    tmp_path: Path, source_slice: Path, instance: dg.DagsterInstance, webhook, smtp
) -> None:
    source = Path(shutil.copytree(source_slice, tmp_path / "source"))
    airlines = pl.read_parquet(source / "airlines.parquet")
    bad = airlines.with_columns(
        carrier=pl.when(pl.int_range(pl.len()) < 3).then(pl.lit("x!")).otherwise("carrier")
    )
    bad.write_parquet(source / "airlines.parquet")  # 3 of 16 carrier codes break the contract's pattern
    result = materialize(tmp_path / "home", ["airlines"], None, None, source=source, instance=instance)
    assert not result.success
    tick(instance, result, tmp_path / "home", _channels(webhook, smtp))
    webhook.wait_for(lambda r: len(r.bodies) >= 1, "the contract alert")
    smtp.wait_for(1)
    alert = _alert(webhook.bodies[0])
    assert alert["title"].startswith("Blocking check contract failed on airlines")
    assert (
        alert["asset"] == "airlines"
        and alert["figure"] == "rejected share 18.75%"
        and alert["threshold"] == "5.00%"
    )
    assert alert["link"] == f"{UI}/runs/{result.run_id}"
    mail = smtp.messages[0]
    assert mail["To"] == "oncall@example.com" and "contract failed on airlines" in mail["Subject"]
    assert (
        f"{UI}/runs/{result.run_id}" in mail.get_content() and "rejected share 18.75%" in mail.get_content()
    )
    # The daemon evaluating the same run again (a tick repeated after a crash) sends nothing more.
    tick(instance, result, tmp_path / "home", _channels(webhook, smtp))
    assert (webhook.requests, len(smtp.messages)) == (1, 1)
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags[f"{ALERT_TAG_PREFIX}run_failed.{result.run_id}"] == "sent"


def test_a_failed_step_alerts_with_its_error(tmp_path: Path, source_slice: Path, instance, webhook) -> None:
    source = Path(shutil.copytree(source_slice, tmp_path / "source"))
    (source / "planes.parquet").unlink()
    result = materialize(tmp_path / "home", ["planes"], None, None, source=source, instance=instance)
    assert not result.success
    tick(instance, result, tmp_path / "home", _channels(webhook))
    webhook.wait_for(lambda r: len(r.bodies) >= 1, "the step failure alert")
    alert = _alert(webhook.bodies[0])
    job = instance.get_run_by_id(result.run_id).job_name
    assert alert["title"].startswith(f"Run of {job} failed at planes: raw table 'planes' not found in folder")
    assert alert["asset"] == "planes" and alert["link"].endswith(result.run_id)


@pytest.fixture(scope="module")
def home(feature_home: Path, tmp_path_factory: pytest.TempPathFactory, instance: dg.DagsterInstance) -> Path:
    """Champion v1 trained and promoted on the two-week slice, and its batch predictions."""
    target = Path(shutil.copytree(feature_home, tmp_path_factory.mktemp("alerts") / "home"))
    ops = {**TRAINING_CONFIG["ops"], "model_evaluation": {"config": LENIENT}}
    trained = materialize(
        target,
        ["training_dataset", "trained_model", "model_evaluation", "champion_model"],
        None,
        None,
        run_config={"ops": ops},
        instance=instance,
    )
    assert trained.success
    assert materialize(target, ["batch_predictions"], instance=instance).success
    return target


def _slide(home: Path, instance: dg.DagsterInstance, webhook: HttpReceiver) -> float:
    """Monitor the two weeks as they are (no alert: the model serves as well as it tested), then
    inject the fault: the champion's recorded test AUC raised 0.05 above the AUC it serves, so
    the served AUC trails it by more than the rule's 0.03 (and by less than a collapse)."""
    from fti_assets.resources.environment import build_resources

    healthy = materialize(home, ["model_performance"], instance=instance)
    tick(instance, healthy, home, _channels(webhook))
    assert webhook.requests == 0
    served = OfflineStore(home=str(home)).read("model_performance").sort("day")["auc_window"][-1]
    build_resources(settings_for(home))["registry"].tag_version(1, {"test_auc": f"{served + 0.05:.4f}"})
    return served + 0.05


def test_an_auc_slide_alerts_once_for_its_day(home: Path, instance, webhook, smtp) -> None:
    promised = _slide(home, instance, webhook)
    result = materialize(home, ["model_performance"], instance=instance)
    assert result.success
    tick(instance, result, home, _channels(webhook, smtp))
    webhook.wait_for(lambda r: len(r.bodies) >= 1, "the AUC slide alert")
    alert = _alert(webhook.bodies[0])
    assert alert["key"] == f"auc_slide.{SLICE_END}" and alert["partition"] == SLICE_END.isoformat()
    assert alert["figure"].startswith("AUC over 14 days 0.")
    assert alert["threshold"] == f"champion test AUC {promised:.4f} - 0.03"
    smtp.wait_for(1)
    # The same day monitored again, in a new run: the same alarm, not a new alert.
    again = materialize(home, ["model_performance"], instance=instance)
    tick(instance, again, home, _channels(webhook, smtp))
    assert (webhook.requests, len(smtp.messages)) == (1, 1)
    assert f"{ALERT_TAG_PREFIX}auc_slide.{SLICE_END}" not in instance.get_run_by_id(again.run_id).tags


def test_a_down_receiver_is_retried_then_reported_and_the_run_stays_green(
    home: Path, instance, webhook
) -> None:
    _slide(home, instance, webhook)
    down = HttpReceiver(status=503)
    try:
        day = SLICE_END.replace(day=13)
        result = materialize(home, ["model_performance"], SLICE_START, day, instance=instance)
        assert result.success
        tick(instance, result, home, _channels(down).model_copy(update={"attempts": 3}))
        assert down.requests == 3  # tried three times (synchronously, within the tick)
    finally:
        down.close()
    run = instance.get_run_by_id(result.run_id)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags[f"{ALERT_TAG_PREFIX}auc_slide.{day}"] == "not delivered"
    reported = [
        e.message for e in instance.all_logs(result.run_id) if "Alert delivery failed" in (e.message or "")
    ]
    assert len(reported) == 1 and "not delivered after 3 tries (HTTPError: HTTP Error 503" in reported[0]
    assert "127.0.0.1" in reported[0] and down.url.rsplit(":", 1)[1] in reported[0]


def test_a_refused_challenger_alerts_once(home: Path, instance, webhook) -> None:
    strict = {**LENIENT, "min_improvement": 0.5}  # no model beats the champion by 0.5 AUC
    result = materialize(
        home,
        ["trained_model", "model_evaluation", "champion_model"],
        None,
        None,
        run_config={
            "ops": {"trained_model": {"config": {"seed": 7}}, "model_evaluation": {"config": strict}}
        },
        instance=instance,
    )
    assert result.success
    verdict = result.asset_materializations_for_node("champion_model")[0].metadata["outcome"].value
    assert verdict == "refused"
    tick(instance, result, home, _channels(webhook))
    webhook.wait_for(lambda r: len(r.bodies) >= 1, "the refusal alert")
    alert = _alert(webhook.bodies[0])
    assert alert["key"] == "refused.v2" and alert["title"].startswith(
        "Challenger refused: kept v1; refused v2"
    )
    assert "min_improvement" in alert["detail"] or "beat" in alert["detail"]


def test_alerts_are_off_without_settings(home: Path, instance) -> None:
    result = materialize(home, ["model_performance"], instance=instance)
    off = AlertChannels()
    assert not off.configured
    tick(instance, result, home, off)
    assert not [t for t in instance.get_run_by_id(result.run_id).tags if t.startswith(ALERT_TAG_PREFIX)]
