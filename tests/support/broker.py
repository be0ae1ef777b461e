"""Talking to the real broker as an exam board or an observer would."""

import asyncio
import contextlib
from datetime import UTC, datetime

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from crs_shared.messaging.contracts import EventPayload
from crs_shared.messaging.envelope import Envelope, new_envelope
from crs_shared.messaging.publisher import EventPublisher
from crs_shared.messaging.topology import declare_exchange


def envelope_for(payload: EventPayload, *, producer: str = "test-board", correlation_id: str = "test") -> Envelope:
    return new_envelope(payload, producer=producer, correlation_id=correlation_id, occurred_at=datetime.now(UTC))


async def publish(amqp_url: str, *items: tuple[Envelope, str]) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        publisher = EventPublisher(connection)
        await publisher.start()
        for envelope, routing_key in items:
            await publisher.publish(envelope, routing_key)


async def publish_raw(amqp_url: str, routing_key: str, body: bytes, **properties) -> None:
    """Publishes bytes as they are: for poison messages."""
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await declare_exchange(channel)
        await exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **properties),
                               routing_key=routing_key, mandatory=True)


class EventTap:
    """An exclusive queue bound to one routing key: what the system published, as an observer sees it."""

    def __init__(self, amqp_url: str, routing_key: str):
        self._url, self._routing_key = amqp_url, routing_key
        self.messages: list[AbstractIncomingMessage] = []

    async def __aenter__(self):
        self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._connection.channel()
        exchange = await declare_exchange(channel)
        self._queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await self._queue.bind(exchange, self._routing_key)
        await self._queue.consume(self._collect, no_ack=True)
        return self

    async def _collect(self, message: AbstractIncomingMessage) -> None:
        self.messages.append(message)

    def envelopes(self) -> list[Envelope]:
        return [Envelope.model_validate_json(m.body) for m in self.messages]

    async def __aexit__(self, *exc):
        with contextlib.suppress(Exception):
            await self._connection.close()


async def queue_depth(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count


async def drain(amqp_url: str, queue: str, timeout: float = 1.0) -> list[AbstractIncomingMessage]:
    connection = await aio_pika.connect_robust(amqp_url)
    got = []
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        while (message := await declared.get(fail=False, timeout=timeout)) is not None:
            got.append(message)
            await message.ack()
    await asyncio.sleep(0)
    return got
