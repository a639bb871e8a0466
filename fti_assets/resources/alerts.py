"""Where alerts go: the channels and thresholds the alert sensors read."""

from __future__ import annotations

import dagster as dg


class AlertChannels(dg.ConfigurableResource):
    """A webhook taking a Slack-compatible JSON body and an SMTP server with its recipients,
    from ``FTI_ALERT_*`` (``fti_assets/settings.py``). The two URLs may hold secrets: the code
    location passes them as ``EnvVar``s, so the UI shows the variable's name, not its value.
    With neither set, alerts are off and the sensors skip."""

    webhook_url: str = ""
    smtp_url: str = ""
    email_to: list[str] = []
    email_from: str = "fti-assets@localhost"
    attempts: int = 3
    """Tries per channel before the delivery is reported as failed in the run's event log."""
    ui_url: str = "http://127.0.0.1:3000"
    """The Dagster UI the alerts link to (``FTI_DAGSTER_URL``)."""
    max_skew_p99: float = 0.3
    """``serving_skew`` alarms when a day's p99 probability delta between served and offline
    vectors passes this (a daily refresh measured 0.59 at its worst day, hourly 0.16)."""

    @property
    def configured(self) -> bool:
        return bool(self.webhook_url or self.smtp_url)

    def send(self, alert) -> list:  # (Alert) -> list[Delivery]
        """Send ``alert`` to every configured channel; failures are returned, not raised."""
        from fti_assets.alerts.delivery import post_webhook, send_email

        deliveries = []
        if self.webhook_url:
            deliveries.append(post_webhook(self.webhook_url, alert, self.attempts))
        if self.smtp_url:
            deliveries.append(send_email(self.smtp_url, self.email_from, self.email_to, alert, self.attempts))
        return deliveries
