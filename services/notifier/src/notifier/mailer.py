"""Sending over a small pool of reused SMTP connections (aiosmtplib).

Failures are sorted in two: `TransientSendError` (connection refused or dropped, timeouts, 4xx
replies) is worth retrying later; `PermanentSendError` (5xx replies) is not."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from email.message import Message
from email.policy import Compat32

import aiosmtplib


class TransientSendError(Exception):
    pass


class PermanentSendError(Exception):
    pass


class _SmtpCompat32(Compat32):
    """The policy aiosmtplib flattens a legacy-MIME message with (compat32), except that a
    short printable ASCII header value is written as it is. compat32 runs every value through
    `email.header.Header` to see whether it needs folding or encoding, and that was most of the
    cost of an email in the notifier (bench/README.md); such a value needs neither."""

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

    def __init__(self, client: aiosmtplib.SMTP, timeout: float):
        self._client, self._timeout = client, timeout

    async def send(self, message: Message, sender: str, recipients: list[str]) -> None:
        """`sender` and `recipients` are the envelope's bare addresses: given, not parsed again from
        the message's headers, which cost as much as building the message. The whole send, a
        connection opened for it included, takes at most the pool's timeout."""
        client = self._client
        try:
            async with asyncio.timeout(self._timeout):
                if not client.is_connected:
                    await client.connect()
                errors, _ = await client.sendmail(sender, recipients, message.as_bytes(policy=SMTP_POLICY))
            if errors:
                raise PermanentSendError(f"recipients refused: {errors}")
        except aiosmtplib.SMTPRecipientsRefused as exc:
            await _reset(client)
            reasons = "; ".join(f"SMTP {r.code}: {r.message}" for r in exc.recipients)
            if all(r.code >= 500 for r in exc.recipients):
                raise PermanentSendError(reasons) from None
            raise TransientSendError(reasons) from None
        except aiosmtplib.SMTPResponseException as exc:
            await _reset(client)
            if 400 <= exc.code < 500:
                raise TransientSendError(f"SMTP {exc.code}: {exc.message}") from None
            raise PermanentSendError(f"SMTP {exc.code}: {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await _reset(client)
            raise TransientSendError(repr(exc)) from None


async def _reset(client: aiosmtplib.SMTP) -> None:
    """After any failure the connection is closed; the next send opens a fresh one."""
    with contextlib.suppress(Exception):
        if client.is_connected:
            await client.quit()
    with contextlib.suppress(Exception):
        client.close()


class SmtpPool:
    def __init__(self, host: str, port: int, *, size: int = 4, timeout: float = 10.0, max_per_second: float = 0.0):
        self.size = size
        self._max_per_second = max_per_second
        self._interval = 1.0 / max_per_second if max_per_second > 0 else 0.0
        self._next_slot = 0.0
        self._send_seconds: float | None = None  # how long a connection is lent, on average
        self._timeout = timeout
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(aiosmtplib.SMTP(hostname=host, port=port, timeout=timeout, start_tls=False))

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
            yield Connection(client, self._timeout)
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
        while not self._idle.empty():
            client = self._idle.get_nowait()
            with contextlib.suppress(Exception):
                if client.is_connected:
                    await client.quit()
