"""One alert, and how it reads: a Slack-compatible webhook body and a plain-text e-mail."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage


@dataclass(frozen=True)
class Alert:
    """Something a person should know: what happened, where, the figure against its threshold."""

    key: str
    """What makes two alerts the same alarm (``auc_slide.2013-03-18``): sent once per key."""
    title: str
    """What happened, in one line."""
    asset: str | None
    partition: str | None
    figure: str | None
    """The measured value, e.g. ``AUC over 14 days 0.6120``."""
    threshold: str | None
    """What it is compared with, e.g. ``champion test AUC 0.7310 - 0.03``."""
    link: str
    """The run (or asset) in the Dagster UI."""
    detail: str = ""
    """More words: the check's reason, the error's first line, what to do."""

    def lines(self) -> list[str]:
        """The alert as plain lines, the same in every channel."""
        where = self.asset or "-"
        if self.partition:
            where += f" (partition {self.partition})"
        out = [self.title, f"Asset: {where}"]
        if self.figure is not None:
            out.append(
                f"Figure: {self.figure}" + (f" (threshold: {self.threshold})" if self.threshold else "")
            )
        if self.detail:
            out.append(self.detail)
        out.append(f"Open in Dagster: {self.link}")
        return out


def webhook_body(alert: Alert) -> dict:
    """A JSON body Slack's incoming webhooks take (``text`` for notifications, ``blocks`` for the
    message); other receivers read ``text`` and the ``alert`` object."""
    lines = alert.lines()
    body = "\n".join(lines[1:-1])
    return {
        "text": f"[fti-assets] {alert.title}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"<{alert.link}|Open in Dagster>"}},
        ],
        "alert": {
            "key": alert.key,
            "title": alert.title,
            "asset": alert.asset,
            "partition": alert.partition,
            "figure": alert.figure,
            "threshold": alert.threshold,
            "detail": alert.detail,
            "link": alert.link,
        },
    }


def email_message(alert: Alert, sender: str, to: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[fti-assets] {alert.title}"[:200]
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["X-FTI-Alert-Key"] = alert.key
    message.set_content("\n".join(alert.lines()) + "\n")
    return message
