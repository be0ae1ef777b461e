"""Runs one handler on one queue. Acks only after the handler (and so its commit) succeeded.

- A body that cannot be parsed, an unexpected `event_type`, a newer `event_version`, a payload
  that breaks its contract, or a message published under another routing key than the queue's is
  rejected without requeue: the broker dead-letters it at once. (The broker checks a publisher's
  topic permission against the routing key only, not the extra keys of the `CC` and `BCC`
  headers: a board may publish `results.published` with `CC: candidate.registered`, and that copy
  arrives in the candidate.registered queues still under `results.published`.)
- `PermanentFailure` from the handler: dead-lettered at once.
- The database being unreachable is an outage, not a fault of the message: the handler is run
  again in place, with backoff, for as long as the outage lasts, so the message keeps its
  delivery count and is not dead-lettered by a long outage. So is a handler whose database work
  outran its budget (`RetryPolicy.database_budget_seconds`, under `pymongo.timeout()`): an
  election, a stalled server; each run gets the whole budget again.
- Any other exception is treated as transient: after a backoff the message is returned to the
  queue; the delivery limit of the service's broker policy dead-letters it after a bounded number
  of tries (the consumer does not know the limit: the broker alone counts and enforces it).
"""

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pymongo
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from crs_shared import faults
from crs_shared.logging import get_logger
from crs_shared.messaging.contracts import EventPayload
from crs_shared.messaging.envelope import Envelope
from crs_shared.metrics import CONSUMED, DEAD_LETTERED, RETRIED
from crs_shared.mongo import UNAVAILABLE

log = get_logger(__name__)


class PermanentFailure(Exception):
    """The message can never be handled; retrying would not help."""


Handler = Callable[[Envelope, EventPayload], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """One consumer: the event it takes and the async function that handles it."""

    event: type[EventPayload]
    handler: Handler


@dataclass(frozen=True)
class RetryPolicy:
    backoff_seconds: float = 0.5
    backoff_max_seconds: float = 10.0
    max_message_bytes: int = 4 * 1024 * 1024
    # The database work of one run of the handler (None: no limit).
    database_budget_seconds: float | None = None

    def delay(self, delivery_count: int) -> float:
        """Exponential backoff with full jitter."""
        ceiling = min(self.backoff_max_seconds, self.backoff_seconds * 2 ** min(delivery_count, 32))
        return random.uniform(ceiling / 2, ceiling)


def parse(message: AbstractIncomingMessage, event: type[EventPayload], max_bytes: int) -> tuple[Envelope, EventPayload]:
    """The envelope and payload of a message, or PermanentFailure saying why not."""
    if len(message.body) > max_bytes:
        raise PermanentFailure(f"message of {len(message.body)} bytes is over the {max_bytes} byte limit")
    try:
        envelope = Envelope.model_validate_json(message.body)
    except ValidationError as exc:
        raise PermanentFailure(f"not a valid event envelope: {_short(exc)}") from None
    if message.routing_key != event.ROUTING_KEY:
        raise PermanentFailure(f"published under the routing key {message.routing_key!r}, not this queue's "
                               f"{event.ROUTING_KEY!r} (a copy routed by a CC or BCC header)")
    if envelope.event_type != event.EVENT_TYPE:
        raise PermanentFailure(f"unexpected event_type {envelope.event_type!r} on a {event.EVENT_TYPE} queue")
    if envelope.event_version > event.EVENT_VERSION:
        raise PermanentFailure(f"event_version {envelope.event_version} is newer than the supported {event.EVENT_VERSION}")
    try:
        payload = event.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PermanentFailure(f"payload breaks the {event.EVENT_TYPE} contract: {_short(exc)}") from None
    return envelope, payload


def delivery_count(message: AbstractIncomingMessage) -> int:
    """Earlier deliveries of the message. The broker sets `x-delivery-count` on a redelivery only;
    on a first delivery the header is whatever the publisher wrote, so anything but a count is 0."""
    value = (message.headers or {}).get("x-delivery-count")
    return value if isinstance(value, int) and value >= 0 else 0


def _short(exc: ValidationError) -> str:
    # Field locations and messages only: never the input, which may hold a secret.
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])


class QueueConsumer:
    def __init__(self, queue: AbstractQueue, subscription: Subscription, *, service: str, policy: RetryPolicy):
        self._queue = queue
        self._subscription = subscription
        self._service = service
        self._policy = policy
        self._tag: str | None = None
        self._in_flight: set[asyncio.Task] = set()
        self._stopping = False

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._on_message, no_ack=False)

    async def stop(self, timeout: float = 30.0) -> int:
        await self.cancel()
        return await self.finish(timeout)

    async def cancel(self) -> None:
        """Stops taking messages: the broker sends this consumer no more."""
        self._stopping = True
        if self._tag is not None:
            await self._queue.cancel(self._tag)
            self._tag = None
        await asyncio.sleep(0)  # deliveries that arrived before the cancel-ok start their handlers

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def finish(self, timeout: float) -> int:
        """Waits up to `timeout` for the handlers in hand. Returns how many were still unfinished:
        their messages go back to the queue when the channel closes."""
        if not self._in_flight:
            return 0
        _done, unfinished = await asyncio.wait(self._in_flight, timeout=timeout)
        return len(unfinished)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self.process(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def process(self, message: AbstractIncomingMessage) -> None:
        event_type = self._subscription.event.EVENT_TYPE
        with structlog.contextvars.bound_contextvars(
            event_id=message.message_id, event_type=message.type or event_type, correlation_id=message.correlation_id
        ):
            try:
                envelope, payload = parse(message, self._subscription.event, self._policy.max_message_bytes)
                with structlog.contextvars.bound_contextvars(correlation_id=envelope.correlation_id):
                    await self._handle_through_outages(envelope, payload)
            except PermanentFailure as exc:
                log.error("message dead-lettered", queue=self._queue.name, reason=str(exc))
                DEAD_LETTERED.labels(self._service, event_type).inc()
                await message.reject(requeue=False)
            except Exception as exc:
                deliveries = delivery_count(message)
                delay = self._policy.delay(deliveries)
                log.warning(
                    "handler failed; message returns to its queue",
                    queue=self._queue.name, deliveries=deliveries + 1, retry_in_seconds=round(delay, 2), error=repr(exc),
                )
                RETRIED.labels(self._service, event_type).inc()
                await asyncio.sleep(delay)
                await message.nack(requeue=True)
            else:
                CONSUMED.labels(self._service, event_type).inc()
                faults.kill_after_handle(self._queue.name, message.body)
                await message.ack()

    async def _handle_through_outages(self, envelope: Envelope, payload: EventPayload) -> None:
        outage = 0
        while True:
            try:
                with pymongo.timeout(self._policy.database_budget_seconds):
                    return await self._subscription.handler(envelope, payload)
            except UNAVAILABLE as exc:
                if self._stopping:
                    raise  # shutting down: the message goes back to its queue
                delay = self._policy.delay(outage)
                outage += 1
                log.warning("database unreachable, or not within the handler's budget; handling again in place",
                            queue=self._queue.name,
                            tries=outage, retry_in_seconds=round(delay, 2), error=repr(exc))
                await asyncio.sleep(delay)
