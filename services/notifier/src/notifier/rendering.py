"""Emails from Jinja2 templates: a subject, a plain-text part and an HTML part per kind and language."""

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("en", "zh-TW")

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, language: str, context: dict) -> Rendered:
    folder = language if language in LANGUAGES else "en"
    part = lambda suffix: _environment.get_template(f"{folder}/{kind}.{suffix}").render(**context)  # noqa: E731
    return Rendered(subject=part("subject.txt").strip(), text=part("txt"), html=part("html"))


def build_message(
    rendered: Rendered, *, to: str, mail_from: str, reply_to: str, message_id: str, date: datetime,
    correlation_id: str | None = None, language: str = "en",
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = to
    message["Reply-To"] = reply_to
    message["Subject"] = rendered.subject
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(date)
    if correlation_id:
        message["X-Correlation-ID"] = correlation_id
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    message["Content-Language"] = language  # after the parts: set_content clears Content-* headers
    return message
