"""Publishing a board's checked records as one batch: parts of at most PART_MAX_RECORDS, one
batch id, each part in its own envelope, each confirmed by the broker before the next is sent.

Parts go one at a time so that, when the broker refuses one or goes away, we know exactly which
parts it confirmed. Sending a batch again with the same batch id is safe: the services ignore a
part they already hold (contract section 4).
"""

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar
from urllib.parse import urlsplit

import aio_pika
import aiormq.exceptions
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crs_shared.messaging.contracts import PART_MAX_RECORDS, BatchPart
from crs_shared.messaging.envelope import Envelope, new_envelope
from crs_shared.messaging.definitions import BOARD_ROUTING_KEYS
from crs_shared.messaging.publisher import EventPublisher, PublishError
from crs_shared.messaging.topology import BrokerNotPrepared

T = TypeVar("T")
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
CONNECT_TIMEOUT_SECONDS = 15.0
CONFIRM_TIMEOUT_SECONDS = 30.0


def new_batch_id() -> str:
    return str(uuid.uuid4())


def split_into_parts(records: Sequence[T], size: int = PART_MAX_RECORDS) -> Iterator[Sequence[T]]:
    """The records a part at a time, in order; only the part being read is in memory when
    `records` is a RecordSpool."""
    if size < 1:
        raise ValueError("part size must be at least 1")
    return (records[start:start + size] for start in range(0, len(records), size))


@dataclass(frozen=True)
class PreparedBatch(Generic[T]):
    """A batch ready to send: its parts' envelopes are built one at a time as they are sent."""

    board: str
    batch_id: str
    routing_key: str
    part_sizes: list[int]
    source: Sequence[T] = field(repr=False)
    make_part: Callable[[int, int, list[T]], BatchPart] = field(repr=False)
    occurred_at: datetime

    @property
    def parts(self) -> int:
        return len(self.part_sizes)

    @property
    def records(self) -> int:
        return sum(self.part_sizes)

    def envelopes(self) -> Iterator[Envelope]:
        """Each part's envelope, in order, each with a new event id (a part sent again is
        recognised by its batch id and number, contract section 4)."""
        for number, chunk in enumerate(split_into_parts(self.source), start=1):
            yield _envelope(self.make_part(number, self.parts, list(chunk)), self.batch_id, self.occurred_at)


def prepare_batch(
    records: Sequence[T], *, batch_id: str, make_part: Callable[[int, int, list[T]], BatchPart],
    occurred_at: datetime | None = None,
) -> PreparedBatch[T]:
    """Checks the batch's arguments before anything is sent: the first part is built here, so that
    a bad board name or batch id (pydantic's ValidationError) stops the run with nothing published.
    The other parts differ only in their records, which are checked already."""
    if not records:
        raise ValueError("a batch needs at least one record")
    sizes = [len(part) for part in split_into_parts(range(len(records)))]
    first = make_part(1, len(sizes), list(records[:sizes[0]]))
    moment = occurred_at or datetime.now(UTC)
    _envelope(first, batch_id, moment)
    return PreparedBatch(first.board, batch_id, first.ROUTING_KEY, sizes, records, make_part, moment)


def _envelope(part: BatchPart, batch_id: str, occurred_at: datetime) -> Envelope:
    return new_envelope(part, producer=f"board:{part.board}", correlation_id=batch_id, occurred_at=occurred_at)


@dataclass
class PublishState:
    """What the broker has confirmed so far; readable even after an interruption."""

    confirmed: list[int] = field(default_factory=list)


class BatchNotPublished(Exception):
    def __init__(self, batch: PreparedBatch, confirmed: Sequence[int], problem: str):
        self.batch, self.confirmed, self.problem = batch, list(confirmed), problem
        super().__init__(problem)

    def report(self) -> str:
        return not_published_report(self.batch, self.confirmed, self.problem)


def not_published_report(batch: PreparedBatch, confirmed: Sequence[int], problem: str) -> str:
    missing = [p for p in range(1, batch.parts + 1) if p not in set(confirmed)]
    lines = [f"error: {problem}"]
    if confirmed:
        records = sum(batch.part_sizes[p - 1] for p in confirmed)
        lines.append(f"Confirmed by the broker: {_plural('part', confirmed)} {part_ranges(confirmed)} "
                     f"of {batch.parts} ({records:,} records).")
    else:
        lines.append("No part was confirmed by the broker.")
    lines.append(f"Not published: {_plural('part', missing)} {part_ranges(missing)} of {batch.parts}.")
    lines.append(f"batch id: {batch.batch_id}")
    lines.append(f"Run the same command again with --batch-id {batch.batch_id} to publish the batch; "
                 "parts the system already holds are ignored.")
    return "\n".join(lines)


async def publish_batch(
    batch: PreparedBatch, amqp_url: str, *, state: PublishState | None = None,
    on_connected: Callable[[], None] = lambda: None,
    on_confirmed: Callable[[int, int], None] = lambda part, size: None,
    confirm_timeout: float = CONFIRM_TIMEOUT_SECONDS,
) -> None:
    """Publishes the parts in order; raises BatchNotPublished naming what was and was not confirmed."""
    state = state if state is not None else PublishState()
    where = masked_url(amqp_url)
    try:
        # A plain connection, not a robust one: a one-shot command should stop and say what was
        # confirmed when the broker goes away, rather than wait for it to come back.
        connection = await asyncio.wait_for(aio_pika.connect(amqp_url), CONNECT_TIMEOUT_SECONDS)
    except Exception as exc:  # every way of not connecting ends the same: nothing was sent
        raise BatchNotPublished(batch, [], f"cannot connect to the broker at {where}: {_connect_reason(exc)}") from exc
    async with connection:
        publisher = EventPublisher(connection, timeout_seconds=confirm_timeout)
        try:
            await publisher.start()
        except BrokerNotPrepared as exc:
            raise BatchNotPublished(batch, [], f"the broker at {where} is not ready: {exc}") from exc
        except Exception as exc:
            raise BatchNotPublished(batch, [], f"the broker at {where} refused the exchange: {_brief(exc)}") from exc
        on_connected()
        for number, envelope in enumerate(batch.envelopes(), start=1):
            try:
                await publisher.publish(envelope, batch.routing_key)
            except PublishError as exc:
                raise BatchNotPublished(
                    batch, state.confirmed,
                    f"part {number} of {batch.parts} was not published: "
                    + _publish_reason(exc, batch.routing_key, where),
                ) from exc
            state.confirmed.append(number)
            on_confirmed(number, batch.part_sizes[number - 1])


class PublishProgress:
    """A progress bar of records confirmed by the broker, on stderr (stdout keeps the summary)."""

    def __init__(self, batch: PreparedBatch, console: Console | None = None):
        self._shown = False
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("records · part {task.fields[part]}/{task.fields[parts]}"), TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._task = self._progress.add_task("Publishing", total=batch.records, part=0, parts=batch.parts)

    def __enter__(self) -> "PublishProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self._shown:
            self._progress.stop()

    def started(self) -> None:
        """Shown once the broker is reached, so a refused connection shows no empty bar."""
        self._progress.start()
        self._shown = True

    def confirmed(self, part: int, size: int) -> None:
        self._progress.update(self._task, advance=size, part=part)


def amqp_url_problem(url: str) -> str | None:
    """Why `url` cannot be a broker address, or None if it can."""
    try:
        parsed = urlsplit(url)
        parsed.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "not a URL"
    if parsed.scheme not in ("amqp", "amqps") or not parsed.hostname:
        return "expected amqp://USER:PASSWORD@HOST:PORT/VHOST"
    return None


def masked_url(url: str) -> str:
    """The broker's address with any password hidden, for messages."""
    try:
        parsed = urlsplit(url)
        if parsed.password is None:
            return url
        user_info, _, host = parsed.netloc.rpartition("@")
        return parsed._replace(netloc=f"{user_info.split(':', 1)[0]}:***@{host}").geturl()
    except ValueError:
        return "(the given AMQP URL)"


def part_ranges(parts: Sequence[int]) -> str:
    """[1, 2, 3, 5] -> "1-3, 5"."""
    ranges: list[str] = []
    ordered = sorted(set(parts))
    start = previous = None
    for part in [*ordered, None]:
        if start is not None and (part is None or part != previous + 1):
            ranges.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if part is not None and start is None:
            start = part
        previous = part
    return ", ".join(ranges) or "none"


def _plural(word: str, items: Sequence) -> str:
    return word if len(items) == 1 else word + "s"


def _publish_reason(exc: PublishError, routing_key: str, where: str) -> str:
    # Never the underlying exception's repr: aiormq's includes the returned message, body and all.
    cause = exc.__cause__
    if isinstance(cause, aiormq.exceptions.PublishError):
        return (f"the broker returned it as unroutable: no queue on {where} is bound to the routing key "
                f"{routing_key!r} (are the services' queues declared?)")
    if isinstance(cause, aiormq.exceptions.ChannelAccessRefused):
        return (f"the broker at {where} does not let this user publish {routing_key!r} (an exam board's account "
                f"may publish only {' and '.join(BOARD_ROUTING_KEYS)}; is it a board's account?)")
    if isinstance(cause, aiormq.exceptions.DeliveryError) or cause is None:
        return "the broker refused it (negative acknowledgement)"
    if isinstance(cause, asyncio.TimeoutError):
        return "the broker did not confirm it in time"
    return f"the connection to {where} failed ({type(cause).__name__})"


def _connect_reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_SECONDS:.0f} s"
    if isinstance(exc, aiormq.exceptions.ProbableAuthenticationError | aiormq.exceptions.AuthenticationError):
        return "the user name or password was refused"
    if isinstance(exc, aiormq.exceptions.InvalidFrameError) and "Connection.Close" in str(exc):
        return ("the broker closed the connection while opening it "
                "(does the virtual host exist, and may this user use it?)")
    return _brief(exc)


def _brief(exc: BaseException) -> str:
    """A short reason: the operating system's words when there are some ("Connection refused")."""
    args = getattr(exc, "args", ())
    for inner in (exc, exc.__cause__, exc.__context__, *args):
        if isinstance(inner, OSError) and (inner.errno or inner.strerror):
            # asyncio's own strerror reads "Connect call failed (...)"; the errno's words are clearer
            return os.strerror(inner.errno) if inner.errno and inner.errno > 0 else str(inner.strerror)
    if args and isinstance(args[0], int) and args[0] > 0:  # aiormq: (errno, text)
        return os.strerror(args[0])
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
