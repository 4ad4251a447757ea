"""E-mail a report: the summary as the body, the PDF (and workbook) attached, sent through
the SMTP function alerting shares (same STARTTLS/login handling and secret redaction)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from pathlib import Path

from alerting.delivery import send_email_message
from alerting.settings import EmailSettings

_TYPES = {
    ".pdf": ("application", "pdf"),
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


def build_message(
    subject: str, body: str, attachments: Sequence[Path], sender: str, recipients: Sequence[str]
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg.set_content(body + "\n")
    for path in attachments:
        maintype, subtype = _TYPES.get(path.suffix, ("application", "octet-stream"))
        msg.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    return msg


def send_report(
    cfg: EmailSettings,
    recipients: Sequence[str],
    subject: str,
    body: str,
    attachments: Sequence[Path],
    environ: Mapping[str, str] | None = None,
) -> None:
    """Send; raises alerting.delivery.DeliveryError (redacted text) on failure."""
    msg = build_message(subject, body, attachments, cfg.sender, recipients)
    send_email_message(msg, cfg, environ)
