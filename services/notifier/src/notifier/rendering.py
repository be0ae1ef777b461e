"""Emails from Jinja2 templates: a subject, a plain-text part and an HTML part per kind and language."""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from babel.dates import format_datetime as babel_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("en", "zh-TW")

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def when(moment: datetime, language: str) -> str:
    """A moment as a reader of `language` writes it, in UTC, which the text says."""
    locale = "zh_Hant_TW" if language == "zh-TW" else "en_GB"
    return babel_datetime(moment, "d MMMM y, HH:mm 'UTC'" if locale == "en_GB" else "y年M月d日 HH:mm 'UTC'",
                          tzinfo=UTC, locale=locale)


_environment.filters["when"] = when


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(kind: str, language: str, context: dict) -> Rendered:
    folder = language if language in LANGUAGES else "en"
    part = lambda suffix: _environment.get_template(f"{folder}/{kind}.{suffix}").render(  # noqa: E731
        **context, language=folder)
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
