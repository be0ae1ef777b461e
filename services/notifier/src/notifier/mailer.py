"""Sending over a small pool of reused SMTP connections (aiosmtplib), plain, over STARTTLS or over
TLS from the start, logged in or not (`SmtpSecurity`).

Failures are sorted in three: `TransientSendError` (connection refused or dropped, timeouts, 4xx
replies, a login failing for a passing reason) is worth retrying later; `PermanentSendError` (5xx
replies) is not; and `SmtpConfigurationError` is no email's fault at all: the server refuses this
service (TLS that fails, a certificate that does not verify, STARTTLS not offered, a server that
speaks TLS from its first byte while SMTP_TLS says otherwise, a login refused, 530 "authentication
required" to the connection or its MAIL FROM). On that the pool pauses: every send refuses at once,
without asking the server, until a recheck (a login and a MAIL FROM, with backoff) passes.
`SmtpPool.fault` says why meanwhile. A refusal of a recipient is that email's alone, whatever its
code: the recheck could not tell it from a server that takes the service again, and pausing every
email for one address would stop them all."""

import asyncio
import contextlib
import contextvars
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import Message
from email.policy import Compat32
from typing import Literal

import aiosmtplib
from pydantic import SecretStr

from crs_shared.logging import get_logger
from notifier.metrics import SMTP_PAUSED

log = get_logger(__name__)
# Replies that refuse the service, not the email: authentication (or TLS first) required (530), the
# login's mechanism too weak (534) or refused (535), encryption required for it (538).
CONFIGURATION_CODES = frozenset({530, 534, 535, 538})


class TransientSendError(Exception):
    pass


class PermanentSendError(Exception):
    pass


class SmtpConfigurationError(Exception):
    """The SMTP server refuses this service's settings (or they its certificate): no email can go
    until that is fixed, and no email is to blame. The message says why in plain words; it never
    holds the password."""


@dataclass(frozen=True)
class SmtpSecurity:
    """How the pool's connections are secured: `tls` none (the local capture server), starttls
    (upgraded after connecting, port 587) or tls (from the first byte, port 465); a login when
    `username` is given; the server's certificate checked against `ca_file` (a PEM bundle), or
    against the system's CAs when None."""

    tls: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: str | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        if self.tls == "none":
            return None
        return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca_file)


class _SmtpCompat32(Compat32):
    """The policy aiosmtplib flattens a legacy-MIME message with (compat32), except that a
    short printable ASCII header value is written as it is. compat32 runs every value through
    `email.header.Header` to see whether it needs folding or encoding, and that is most of the
    cost of an email in the notifier; such a value needs neither."""

    def _fold(self, name, value, sanitize):
        if (isinstance(value, str) and value.isascii() and value.isprintable()
                and len(name) + 2 + len(value) <= self.max_line_length):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


SMTP_POLICY = _SmtpCompat32()  # its "\n" line ends become CRLF in aiosmtplib's sendmail
# The pace is an average over about this many sends (an exponential moving average).
PACE_SENDS = 20


class Connection:
    """One connection of the pool, lent for one send."""

    def __init__(self, client: aiosmtplib.SMTP, pool: "SmtpPool"):
        self._client, self._pool = client, pool

    async def send(self, message: Message, sender: str, recipients: list[str]) -> None:
        """`sender` and `recipients` are the envelope's bare addresses: given, not parsed again from
        the message's headers, which cost as much as building the message. The whole send, a
        connection opened for it included, takes at most the pool's timeout. While the pool is
        paused it raises `SmtpConfigurationError` at once, without asking the server."""
        client, pool = self._client, self._pool
        if pool.fault is not None:
            raise SmtpConfigurationError(pool.fault)
        try:
            async with asyncio.timeout(pool.timeout):
                if not client.is_connected:
                    await pool.open(client)
                errors, _ = await client.sendmail(sender, recipients, message.as_bytes(policy=SMTP_POLICY))
            if errors:
                raise PermanentSendError(f"recipients refused: {errors}")
        except SmtpConfigurationError as exc:
            await _reset(client)
            pool.pause(str(exc))
            raise
        except aiosmtplib.SMTPRecipientsRefused as exc:
            await _reset(client)
            reasons = "; ".join(f"SMTP {r.code}: {r.message}" for r in exc.recipients)
            if all(r.code >= 500 for r in exc.recipients):
                raise PermanentSendError(reasons) from None
            raise TransientSendError(reasons) from None
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(client)
            if exc.code in CONFIGURATION_CODES:
                raise pool.pause(refused_service(f"SMTP {exc.code}: {exc.message}")) from None
            if 400 <= exc.code < 500:
                raise TransientSendError(f"SMTP {exc.code}: {exc.message}") from None
            raise PermanentSendError(f"SMTP {exc.code}: {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _reset(client)
            raise TransientSendError(repr(exc)) from None
        pool.sent()


def refused_service(reply: str) -> str:
    return (f"the SMTP server refuses mail from the notifier until it logs in or starts TLS ({reply}): check "
            "SMTP_TLS, SMTP_USERNAME and SMTP_PASSWORD")


def tls_failure(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the SMTP server's certificate failed verification ({exc.verify_message or exc.reason}): "
                "check SMTP_HOST, or set SMTP_CA_FILE to the certificate of the CA that signed it")
    return (f"TLS with the SMTP server failed ({exc.reason or exc}): check SMTP_TLS (tls for a server that "
            "speaks TLS from the start, usually port 465; starttls for port 587) and SMTP_PORT")


async def _reset(client: aiosmtplib.SMTP) -> None:
    """After any failure the connection is closed; the next send opens a fresh one."""
    with contextlib.suppress(Exception):
        if client.is_connected:
            await client.quit()
    with contextlib.suppress(Exception):
        client.close()


class SmtpPool:
    def __init__(self, host: str, port: int, *, size: int = 4, timeout: float = 10.0, max_per_second: float = 0.0,
                 security: SmtpSecurity = SmtpSecurity(), recheck_sender: str = "",
                 recheck_first_seconds: float = 5.0, recheck_max_seconds: float = 60.0):
        self.size = size
        self.timeout = timeout
        self._max_per_second = max_per_second
        self._interval = 1.0 / max_per_second if max_per_second > 0 else 0.0
        self._next_slot = 0.0
        self._send_seconds: float | None = None  # how long a connection is lent, on average
        self._security = security
        self._host, self._port = host, port
        self._where = f"{host}:{port}"
        tls_context = security.tls_context()
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(aiosmtplib.SMTP(hostname=host, port=port, timeout=timeout, start_tls=False,
                                                  use_tls=security.tls == "tls", tls_context=tls_context))
        # Pausing: why (None while sending), set once the server refuses this service; cleared by a recheck.
        self.fault: str | None = None
        self.resumed = asyncio.Event()
        self.resumed.set()
        self._recheck_sender = recheck_sender
        self._recheck_first, self._recheck_max = recheck_first_seconds, recheck_max_seconds
        self._pauses = 0  # pauses since the last email sent: the first recheck of the next one waits longer
        self._recheck: asyncio.Task | None = None

    async def open(self, client: aiosmtplib.SMTP) -> None:
        """Connects `client`, with TLS from the start or STARTTLS, and logs in, as `SmtpSecurity` says.
        A refusal of those settings raises `SmtpConfigurationError`; a network fault or a 4xx reply
        is left as it is (a passing fault)."""
        security = self._security
        try:
            # Half the send's time: a silent server may be waiting for a TLS handshake (below).
            await client.connect(timeout=self.timeout / 2)
        except aiosmtplib.SMTPConnectTimeoutError:
            if security.tls != "tls" and await self._speaks_tls_first():
                raise SmtpConfigurationError(
                    f"the SMTP server {self._where} speaks TLS from its first byte (usually port 465) and so "
                    "never greets a plain connection: set SMTP_TLS=tls, or SMTP_PORT to its STARTTLS port (587)"
                ) from None
            raise
        except aiosmtplib.SMTPConnectError as exc:
            if isinstance(exc.__cause__, ssl.SSLError):
                raise SmtpConfigurationError(tls_failure(exc.__cause__)) from None
            raise
        step = "STARTTLS"
        try:
            if security.tls == "starttls":  # refused, in aiosmtplib's words, by a server that does not offer it
                await client.starttls()
            if security.username is not None:  # likewise a server that offers no AUTH (most: only over TLS)
                step = "the login"
                password = security.password.get_secret_value() if security.password is not None else ""
                await client.login(security.username, password)
        except ssl.SSLError as exc:
            raise SmtpConfigurationError(tls_failure(exc)) from None
        except aiosmtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.code < 500:  # e.g. 454: the server cannot check the login just now
                raise
            raise SmtpConfigurationError(
                f"the SMTP server {self._where} refused the login of SMTP_USERNAME {security.username!r} "
                f"(SMTP {exc.code}: {exc.message}): check SMTP_USERNAME and SMTP_PASSWORD") from None
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise
            raise SmtpConfigurationError(
                f"the SMTP server {self._where} refused {step} (SMTP {exc.code}: {exc.message}): "
                "check SMTP_TLS, SMTP_USERNAME and SMTP_PASSWORD") from None
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError):
            raise
        except aiosmtplib.SMTPException as exc:
            raise SmtpConfigurationError(f"{step} with the SMTP server {self._where} failed ({exc}): check SMTP_TLS, "
                                         "SMTP_HOST and SMTP_PORT (starttls: usually 587; tls: 465)") from None

    async def _speaks_tls_first(self) -> bool:
        """Whether a TLS handshake succeeds on the server's port, within a quarter of a send's time.
        Only what the server speaks is asked, so its certificate is not checked here."""
        probe = ssl.create_default_context()
        probe.check_hostname, probe.verify_mode = False, ssl.CERT_NONE
        try:
            async with asyncio.timeout(self.timeout / 4):
                _, writer = await asyncio.open_connection(self._host, self._port, ssl=probe)
        except (OSError, TimeoutError):  # ssl.SSLError is an OSError
            return False
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(self.timeout / 4):
                await writer.wait_closed()
        return True

    def pause(self, reason: str) -> SmtpConfigurationError:
        """The server refuses this service: sending pauses until a recheck passes. Returns the
        error to raise for the email in hand."""
        if self.fault is None:
            self._pauses += 1
            log.error("sending paused: the SMTP server refuses the notifier's settings", reason=reason)
            self.resumed.clear()
            SMTP_PAUSED.set(1)
        self.fault = reason
        if self._recheck is None or self._recheck.done():
            # A context of its own: not the log context (correlation id, notification) of the email in hand.
            self._recheck = asyncio.create_task(self._recheck_until_fixed(), name="notifier-smtp-recheck",
                                                context=contextvars.Context())
        return SmtpConfigurationError(reason)

    def sent(self) -> None:
        self._pauses = 0

    async def _recheck_until_fixed(self) -> None:
        """While paused: a login and a MAIL FROM now and then, the wait doubling from
        `recheck_first_seconds` up to `recheck_max_seconds` (and starting further up when sending
        paused again before any email went). Sending resumes once one passes, or fails for any
        reason but the settings (a server down is the emails' passing fault, retried as ever)."""
        delay = min(self._recheck_first * 2 ** (self._pauses - 1), self._recheck_max)
        while self.fault is not None:
            await asyncio.sleep(delay)
            reason = await self._recheck_once()
            if reason is None:
                self.fault = None
                self.resumed.set()
                SMTP_PAUSED.set(0)
                log.info("sending resumed: the SMTP server takes the notifier's settings again")
                return
            delay = min(2 * delay, self._recheck_max)
            self.fault = reason
            log.warning("sending still paused: the SMTP server refuses the notifier's settings", reason=reason,
                        next_try_in_seconds=delay)

    async def _recheck_once(self) -> str | None:
        """Why the server still refuses this service, or None."""
        client = await self._idle.get()
        try:
            async with asyncio.timeout(self.timeout):
                if not client.is_connected:
                    await self.open(client)
                await client.mail(self._recheck_sender)
                await client.rset()
            return None
        except SmtpConfigurationError as exc:
            await _reset(client)
            return str(exc)
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(client)
            return refused_service(f"SMTP {exc.code}: {exc.message}") if exc.code in CONFIGURATION_CODES else None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _reset(client)
            log.info("SMTP recheck failed for a passing reason; sending resumes", error=repr(exc))
            return None
        finally:
            self._idle.put_nowait(client)

    async def _throttle(self) -> None:
        """Spaces sends `1 / max_per_second` apart across the whole pool (no limit when 0)."""
        if self._interval:
            loop = asyncio.get_running_loop()
            slot = max(loop.time(), self._next_slot)
            self._next_slot = slot + self._interval
            await asyncio.sleep(slot - loop.time())

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A connection for one send, once one is free and the rate cap allows. The caller may
        check what it needs to (a lease) between getting it and sending."""
        client = await self._idle.get()
        loop, started = asyncio.get_running_loop(), None
        try:
            await self._throttle()
            started = loop.time()
            yield Connection(client, self)
        finally:
            if started is not None:  # a slow failure shows the pace as much as a slow send
                self._measure(loop.time() - started)
            self._idle.put_nowait(client)

    def _measure(self, seconds: float) -> None:
        previous = self._send_seconds
        self._send_seconds = seconds if previous is None else previous + (seconds - previous) / PACE_SENDS

    def per_second(self) -> float | None:
        """The emails the pool can send a second at the pace of its recent sends (None before its first)."""
        if self._send_seconds is None:
            return None
        pace = self.size / max(self._send_seconds, 1e-6)
        return min(pace, self._max_per_second) if self._max_per_second else pace

    async def close(self) -> None:
        if self._recheck is not None:
            self._recheck.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._recheck
        while not self._idle.empty():
            client = self._idle.get_nowait()
            with contextlib.suppress(Exception):
                if client.is_connected:
                    await client.quit()
