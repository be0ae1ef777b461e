"""Names and declarations on the broker. One topic exchange; one durable quorum queue per
consumer and event (`<service>.<routing_key>`); a dead-letter exchange feeding `<queue>.dlq`."""

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

EXCHANGE = "exams.events"
DEAD_LETTER_EXCHANGE = "exams.events.dlx"


def queue_name(service: str, routing_key: str) -> str:
    return f"{service}.{routing_key}"


def dead_letter_queue_name(queue: str) -> str:
    return f"{queue}.dlq"


async def declare_exchange(channel: AbstractChannel) -> AbstractExchange:
    return await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_consumer_queue(
    channel: AbstractChannel, service: str, routing_key: str, *, max_deliveries: int
) -> AbstractQueue:
    """Declares (idempotently) the queue of one consumer, its dead-letter queue and their bindings."""
    exchange = await declare_exchange(channel)
    dlx = await channel.declare_exchange(DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True)
    name = queue_name(service, routing_key)
    dlq = await channel.declare_queue(
        dead_letter_queue_name(name), durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dlq.bind(dlx, routing_key=name)
    queue = await channel.declare_queue(
        name,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": name,
            # The broker itself dead-letters a message redelivered this many times: no endless loop.
            "x-delivery-limit": max_deliveries,
        },
    )
    await queue.bind(exchange, routing_key=routing_key)
    return queue
