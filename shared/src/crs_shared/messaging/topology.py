"""Declarations on the broker (names and rights: `definitions`). The exchange comes from the
broker's definitions and is only looked up here; each consumer declares its durable quorum queue
`<service>.<routing_key>` and the dead-letter queue `<queue>.dlq` its policy sends dead letters to."""

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

from crs_shared.messaging.definitions import EXCHANGE, dead_letter_exchange, dead_letter_queue_name, queue_name


class BrokerNotPrepared(Exception):
    """The broker lacks the system's definitions."""


async def declare_exchange(channel: AbstractChannel) -> AbstractExchange:
    """The shared exchange, which must exist (passive: no right to configure it is needed)."""
    try:
        return await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True, passive=True)
    except aio_pika.exceptions.ChannelNotFoundEntity:
        raise BrokerNotPrepared(
            f"the exchange {EXCHANGE} does not exist on this broker's virtual host: load the system's broker "
            "definitions first (deploy/rabbitmq/definitions.json; docs/operations.md, Broker)") from None


async def declare_consumer_queue(channel: AbstractChannel, service: str, routing_key: str) -> AbstractQueue:
    """Declares (idempotently) the queue of one consumer, its dead-letter queue and their bindings.
    No queue arguments but the type: the service's policy gives dead-lettering and the delivery limit."""
    exchange = await declare_exchange(channel)
    dlx = await channel.declare_exchange(dead_letter_exchange(service), aio_pika.ExchangeType.DIRECT, durable=True)
    name = queue_name(service, routing_key)
    quorum = {"x-queue-type": "quorum"}
    dlq = await channel.declare_queue(dead_letter_queue_name(name), durable=True, arguments=quorum)
    await dlq.bind(dlx, routing_key=routing_key)  # a dead letter keeps the routing key it was published with
    try:
        queue = await channel.declare_queue(name, durable=True, arguments=quorum)
    except aio_pika.exceptions.ChannelPreconditionFailed as exc:
        raise BrokerNotPrepared(
            f"the queue {name} was declared by an earlier version, with dead-lettering and a delivery limit as "
            f"queue arguments ({exc.args[0] if exc.args else exc}); move its messages and delete it as "
            "docs/operations.md says (Broker, upgrading to policies)") from None
    await queue.bind(exchange, routing_key=routing_key)
    return queue
