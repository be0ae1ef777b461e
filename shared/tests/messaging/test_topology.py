"""A queue declared by the version before broker policies, on the real broker."""

import aio_pika
import pytest

from crs_shared.messaging.topology import BrokerNotPrepared, declare_consumer_queue


async def test_a_queue_with_the_earlier_arguments_stops_the_start_with_the_upgrade_step(amqp_url):
    async with await aio_pika.connect(amqp_url) as connection:
        earlier = await connection.channel()
        await earlier.declare_queue("registration.entries.published", durable=True, arguments={
            "x-queue-type": "quorum", "x-dead-letter-exchange": "exams.events.dlx",
            "x-dead-letter-routing-key": "registration.entries.published", "x-delivery-limit": 5})
        with pytest.raises(BrokerNotPrepared) as refusal:
            await declare_consumer_queue(await connection.channel(), "registration", "entries.published")
    assert str(refusal.value).startswith(
        "the queue registration.entries.published was declared by an earlier version, with dead-lettering and a "
        "delivery limit as queue arguments (PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange'")
    assert str(refusal.value).endswith("move its messages and delete it as docs/operations.md says "
                                       "(Broker, upgrading to policies)")
