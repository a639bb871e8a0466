"""The alert and lineage settings: off by default, checked at load, secrets kept out of sight."""

from __future__ import annotations

import pytest

from fti_assets.alerts.delivery import shown
from fti_assets.resources.environment import build_resources
from fti_assets.settings import Settings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no openlineage.yml here
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in (
        "FTI_ALERT_WEBHOOK_URL",
        "FTI_ALERT_SMTP_URL",
        "FTI_ALERT_EMAIL_TO",
        "OPENLINEAGE_URL",
        "OPENLINEAGE_CONFIG",
        "OPENLINEAGE_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)


def test_off_by_default() -> None:
    settings = Settings.from_env()
    assert not settings.alerts and not settings.lineage
    assert not build_resources(settings)["alerts"].configured


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FTI_ALERT_WEBHOOK_URL": "hooks.slack.com/x"}, "FTI_ALERT_WEBHOOK_URL must be an http"),
        ({"FTI_ALERT_SMTP_URL": "smtp://mail:25"}, "FTI_ALERT_EMAIL_TO names no address"),
        ({"FTI_ALERT_EMAIL_TO": "a@example.com"}, "FTI_ALERT_SMTP_URL is not"),
        ({"FTI_ALERT_SMTP_URL": "smtp://me:pw@mail:25", "FTI_ALERT_EMAIL_TO": "a@example.com"}, "in clear"),
        ({"FTI_ALERT_SMTP_URL": "smtps://mail", "FTI_ALERT_EMAIL_TO": "nobody"}, "not an e-mail address"),
    ],
)
def test_a_bad_setting_fails_at_load_without_its_value(
    monkeypatch: pytest.MonkeyPatch, env: dict, message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message) as error:
        Settings.from_env()
    assert "pw" not in str(error.value) and "slack.com/x" not in str(error.value)


def test_secrets_stay_out_of_the_repr_and_the_ui(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FTI_ALERT_WEBHOOK_URL", "https://hooks.example.com/services/T0/B0/T0k3nXYZ")
    monkeypatch.setenv("FTI_ALERT_SMTP_URL", "smtps://bot:p%40ss@mail.example.com:465")
    monkeypatch.setenv("FTI_ALERT_EMAIL_TO", "a@example.com, b@example.com")
    settings = Settings.from_env()
    assert settings.alerts and settings.alert_email_to == ("a@example.com", "b@example.com")
    assert "T0k3nXYZ" not in repr(settings) and "p%40ss" not in repr(settings)
    channels = build_resources(settings)["alerts"]
    # EnvVars: the resource's configuration (what the UI shows) holds the variable's name;
    # Dagster resolves the value when the sensor runs (the production test sends through it).
    assert (channels.webhook_url, channels.smtp_url) == ("FTI_ALERT_WEBHOOK_URL", "FTI_ALERT_SMTP_URL")
    assert channels.configured
    assert shown(settings.alert_webhook_url) == "https://hooks.example.com/…"
    assert shown(settings.alert_smtp_url) == "smtps://mail.example.com:465"


def test_lineage_follows_openlineage_pythons_own_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    (tmp_path / "openlineage.yml").write_text("transport:\n  type: file\n  log_file_path: events.jsonl\n")
    assert Settings.from_env().lineage  # the client's file in the working directory
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not Settings.from_env().lineage
