"""Emails from Jinja2 templates: a subject, a plain-text part and an HTML part per kind and language."""

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
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
    # The templates ship with the code: no need to stat three files for every email (render 32 to 25 µs).
    auto_reload=False,
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


# UTF-8 bodies as quoted-printable: readable as they travel, and safe on any SMTP server.
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP


def _header_text(text: str) -> str | Header:
    """ASCII as it is; anything else encoded (RFC 2047)."""
    return text if text.isascii() else Header(text, "utf-8")


def _address(address: str) -> str:
    """A name and address, the name encoded when it is not ASCII."""
    return formataddr(parseaddr(address), charset="utf-8")


@functools.lru_cache(maxsize=8)  # the settings hold two; bounded whatever a caller passes
def _sender_address(address: str) -> str:
    """From and Reply-To come from the settings, the same for every email: parsed once, not twice
    an email (a quarter of building one)."""
    return _address(address)


def _boundary() -> str:
    # "=_" never occurs in a quoted-printable part ("=" is written "=3D"), so this boundary needs no
    # search through the parts; left to the email package, that search compiled a regular
    # expression for every email, a tenth of the notifier's CPU on release day (bench/README.md).
    return f"=_{uuid.uuid4().hex}"


def build_message(
    rendered: Rendered, *, to: str, mail_from: str, reply_to: str, message_id: str, date: datetime,
    correlation_id: str | None = None, language: str = "en",
) -> Message:
    """A multipart/alternative email (text, then HTML). Built with the legacy MIME classes: the
    modern `EmailMessage` parses every header it is given, which made building an email cost
    more than sending it (bench/README.md)."""
    message = MIMEMultipart("alternative", boundary=_boundary())
    message["From"] = _sender_address(mail_from)
    message["To"] = _address(to)
    message["Reply-To"] = _sender_address(reply_to)
    message["Subject"] = _header_text(rendered.subject)
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(date)
    message["Content-Language"] = language
    if correlation_id:
        message["X-Correlation-ID"] = correlation_id
    message.attach(MIMEText(rendered.text, "plain", UTF8_QP))
    message.attach(MIMEText(rendered.html, "html", UTF8_QP))
    return message
