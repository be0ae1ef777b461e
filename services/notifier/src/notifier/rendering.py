"""An email from a notification row: Jinja2 templates (a subject, a plain-text part and an HTML part
per kind and language, each extending its language's layout) and the message around them. Pure:
no I/O."""

import functools
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime as babel_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape

from notifier.config import Settings
from notifier.domain.notifications import message_id

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("en", "zh-TW")


class Unsendable(Exception):
    """This email can never be sent as it is (an address that cannot be encoded, say): it fails at
    once, alone."""


_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    # The templates ship with the code: no need to stat three files for every email (render 32 to 25 µs).
    auto_reload=False,
)

# "zzzz" names the zone in the reader's language: "Taiwan Standard Time", "台北標準時間".
_MOMENT_FORMATS = {"en": ("en_GB", "d MMMM y, HH:mm zzzz"), "zh-TW": ("zh_Hant_TW", "y年M月d日 HH:mm zzzz")}


def when(moment: datetime, language: str, zone: str) -> str:
    """A moment as a reader of `language` writes it, in the centre's zone, which the text names."""
    locale, pattern = _MOMENT_FORMATS.get(language, _MOMENT_FORMATS["en"])
    return babel_datetime(moment, pattern, tzinfo=ZoneInfo(zone), locale=locale)


@pass_context
def _when(context, moment: datetime, language: str) -> str:
    return when(moment, language, context["timezone"])


_environment.filters["when"] = _when


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


@dataclass(frozen=True)
class Sender:
    """The settings every email is written with."""

    mail_from: str
    reply_to: str
    centre_name: str
    public_base_url: str
    timezone: str

    def common_context(self) -> dict:
        """What every template may use besides its notification's own data. `centre_name` only
        signs an email: its default is the service's own name, so a phrase built around it
        ("the {centre_name} Results Service") named the service twice."""
        return {
            "centre_name": self.centre_name, "reply_to": self.reply_to, "timezone": self.timezone,
            "login_url": f"{self.public_base_url}/login", "results_url": f"{self.public_base_url}/results",
            "forgot_url": f"{self.public_base_url}/forgot-password",
        }

    @functools.cached_property
    def envelope_from(self) -> str:
        return parseaddr(self.mail_from)[1]

    @property
    def domain(self) -> str:
        return self.envelope_from.rsplit("@", 1)[-1]

    @classmethod
    def from_settings(cls, settings: Settings) -> "Sender":
        return cls(settings.mail_from, settings.reply_to, settings.centre_name, settings.public_base_url.rstrip("/"),
                   settings.centre_timezone)


def compose(row: dict, sender: Sender, now: datetime) -> Message:
    """The email of a notification row. Raises `Unsendable` for one that can never go."""
    to = recipient(row["email"])
    rendered = render(row["kind"], row["language"], {**row["context"], **sender.common_context()})
    return build_message(rendered, to=to, mail_from=sender.mail_from, reply_to=sender.reply_to,
                         message_id=message_id(row["_id"], sender.domain), date=now,
                         correlation_id=row.get("correlation_id"), language=row["language"])


# C0 and C1 controls and DEL, the line and paragraph separators: none belongs in a header value,
# and a CR or LF there would start a header of the value's choosing.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def header_text(value: str) -> str:
    """A value for a header, without the characters that could break out of it."""
    return _CONTROLS.sub("", value)


def recipient(address: str | None) -> str:
    """The bare address an email goes to. Registration stores addresses in ASCII (the domain in its
    IDNA form and a non-ASCII local part refused), so anything else cannot be encoded for a plain
    SMTP server, and an address holding a control character is no address."""
    if not address or _CONTROLS.search(address) or not address.isascii() or "@" not in address:
        raise Unsendable(f"the address {address!r} cannot be sent to")
    return address


# UTF-8 bodies as quoted-printable: readable as they travel, and safe on any SMTP server.
UTF8_QP = Charset("utf-8")
UTF8_QP.body_encoding = QP


def _header_value(text: str) -> str | Header:
    """ASCII as it is; anything else encoded (RFC 2047); controls dropped either way."""
    text = header_text(text)
    return text if text.isascii() else Header(text, "utf-8")


def _address(address: str) -> str:
    """A name and address, the name encoded when it is not ASCII."""
    return formataddr(parseaddr(header_text(address)), charset="utf-8")


@functools.lru_cache(maxsize=8)  # the settings hold two; bounded whatever a caller passes
def _sender_address(address: str) -> str:
    """From and Reply-To come from the settings, the same for every email: parsed once, not twice
    an email (a quarter of building one)."""
    return _address(address)


def _boundary() -> str:
    # "=_" never occurs in a quoted-printable part ("=" is written "=3D"), so this boundary needs no
    # search through the parts; left to the email package, that search compiles a regular
    # expression for every email, a tenth of the notifier's CPU on release day.
    return f"=_{uuid.uuid4().hex}"


def build_message(
    rendered: Rendered, *, to: str, mail_from: str, reply_to: str, message_id: str, date: datetime,
    correlation_id: str | None = None, language: str = "en",
) -> Message:
    """A multipart/alternative email (text, then HTML). Built with the legacy MIME classes: the
    modern `EmailMessage` parses every header it is given, which makes building an email cost
    more than sending it. Every header value goes through `header_text`."""
    message = MIMEMultipart("alternative", boundary=_boundary())
    message["From"] = _sender_address(mail_from)
    message["To"] = _address(to)
    message["Reply-To"] = _sender_address(reply_to)
    message["Subject"] = _header_value(rendered.subject)
    message["Message-ID"] = header_text(message_id)
    message["Date"] = format_datetime(date)
    message["Content-Language"] = header_text(language)
    if correlation_id and header_text(correlation_id):
        message["X-Correlation-ID"] = _header_value(correlation_id)
    message.attach(MIMEText(rendered.text, "plain", UTF8_QP))
    message.attach(MIMEText(rendered.html, "html", UTF8_QP))
    return message
