"""Publishing with publisher confirms. A message that is not confirmed, or that no queue takes
(mandatory + on_return_raises), raises: the caller treats it as not sent."""

import asyncio

import aio_pika
from pamqp.commands import Basic
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from crs_shared.messaging.envelope import Envelope
from crs_shared.messaging.topology import declare_exchange


class PublishError(Exception):
    """The broker did not take the message."""


def to_message(envelope: Envelope) -> aio_pika.Message:
    return aio_pika.Message(
        body=envelope.to_json(),
        message_id=envelope.event_id,
        type=envelope.event_type,
        correlation_id=envelope.correlation_id,
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        timestamp=envelope.occurred_at,
    )


class EventPublisher:
    def __init__(self, connection: AbstractRobustConnection, *, timeout_seconds: float = 10.0):
        self._connection = connection
        self._timeout = timeout_seconds
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def start(self) -> None:
        self._channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._exchange = await declare_exchange(self._channel)

    async def publish(self, envelope: Envelope, routing_key: str) -> None:
        if self._exchange is None:
            raise RuntimeError("publisher not started")
        try:
            confirmation = await self._exchange.publish(
                to_message(envelope), routing_key=routing_key, mandatory=True, timeout=self._timeout
            )
        except (aio_pika.exceptions.AMQPError, asyncio.TimeoutError, ConnectionError, RuntimeError) as exc:
            raise PublishError(f"{envelope.event_type} {envelope.event_id} not confirmed: {exc!r}") from exc
        if not isinstance(confirmation, Basic.Ack):
            raise PublishError(f"{envelope.event_type} {envelope.event_id} refused by the broker: {confirmation!r}")

    async def close(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
