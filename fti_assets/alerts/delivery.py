"""Sending an alert: a JSON POST to a webhook and an e-mail over SMTP, each retried.

Only the standard library (``urllib``, ``smtplib``): nothing to import at the code location's
load, nothing that logs a URL. A failure is returned, never raised: the caller reports it in
the run's event log, and the run that raised the alert is not touched.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from fti_assets.alerts.message import Alert, email_message, webhook_body

TIMEOUT_SECONDS = 10.0
#: Seconds before the second, third, ... try. Short: a sensor tick has about a minute in all.
BACKOFF_SECONDS = (0.5, 2.0, 5.0)


@dataclass(frozen=True)
class Delivery:
    channel: str
    """``webhook`` or ``email``."""
    target: str
    """Where it went, with secrets left out (``https://hooks.slack.com/…``, ``smtp://mail:25``)."""
    attempts: int
    error: str | None = None
    """Why the last try failed; ``None`` when delivered."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        if self.ok:
            return f"{self.channel} {self.target}: delivered"
        return f"{self.channel} {self.target}: not delivered after {self.attempts} tries ({self.error})"


def shown(url: str) -> str:
    """A URL as it may be logged: scheme, host and port only (a webhook's path is its key, an
    SMTP URL's user part its password)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}" + ("/…" if parts.path not in ("", "/") else "")


def _retried(
    channel: str, target: str, send: Callable[[], None], attempts: int, secrets: list[str]
) -> Delivery:
    error = None
    for attempt in range(1, attempts + 1):
        try:
            send()
            return Delivery(channel, target, attempt)
        except (OSError, smtplib.SMTPException, ValueError) as exc:  # URLError and HTTPError are OSErrors
            error = f"{type(exc).__name__}: {exc}"
            for secret in secrets:  # an exception text that quotes the URL must not carry it further
                error = error.replace(secret, "…") if secret else error
        if attempt < attempts:
            time.sleep(BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)])
    return Delivery(channel, target, attempts, error)


def post_webhook(url: str, alert: Alert, attempts: int) -> Delivery:
    data = json.dumps(webhook_body(alert)).encode()

    def send() -> None:
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        # settings.py accepts only http:// and https:// here
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            response.read()  # a non-2xx answer raises HTTPError

    return _retried("webhook", shown(url), send, attempts, [url])


def send_email(smtp_url: str, sender: str, to: list[str], alert: Alert, attempts: int) -> Delivery:
    """``smtp://`` plain (a relay on a trusted network), ``smtp+starttls://`` upgraded with
    STARTTLS before logging in, ``smtps://`` TLS from the start; the user part logs in."""
    parts = urlsplit(smtp_url)
    message = email_message(alert, sender, to)
    secure = parts.scheme in ("smtps", "smtp+starttls")

    def send() -> None:
        context = ssl.create_default_context()
        if parts.scheme == "smtps":
            server = smtplib.SMTP_SSL(
                parts.hostname, parts.port or 465, timeout=TIMEOUT_SECONDS, context=context
            )
        else:
            server = smtplib.SMTP(
                parts.hostname, parts.port or (587 if secure else 25), timeout=TIMEOUT_SECONDS
            )
        with server:
            if parts.scheme == "smtp+starttls":
                server.starttls(context=context)
            if parts.username:  # settings refuse a user part on plain smtp://
                server.login(unquote(parts.username), unquote(parts.password or ""))
            server.send_message(message)

    return _retried("email", shown(smtp_url), send, attempts, [smtp_url, unquote(parts.password or "")])
