"""Attack on the consumer's database budget (issue 34): a run over its budget is handled again in
place, without using up a delivery, and there is no bound on how often. A message whose handling
always needs more than the budget (a results part too large for it, a query that got slow) is
never dead-lettered: it holds its prefetch place and loads the database for ever."""

import asyncio
from contextlib import asynccontextmanager

import aio_pika

from crs_shared.logging import configure_logging
from crs_shared.messaging.consumer import QueueConsumer, RetryPolicy, Subscription
from crs_shared.messaging.contracts import LoginLocked
from crs_shared.messaging.definitions import DELIVERY_LIMIT, dead_letter_queue_name, queue_name
from crs_shared.messaging.topology import declare_consumer_queue
from crs_shared.mongo import create_client
from tests.support.apps import unique_database
from tests.support.broker import envelope_for, publish, queue_depth
from tests.support.waiting import wait_until

BUDGET = 0.2


@asynccontextmanager
async def consuming(amqp_url: str, handler, service: str):
    configure_logging("test", json=True)
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await declare_consumer_queue(channel, service, LoginLocked.ROUTING_KEY)
        consumer = QueueConsumer(queue, Subscription(LoginLocked, handler), service=service,
                                 policy=RetryPolicy(0.01, 0.02, 10_000, BUDGET))
        await consumer.start()
        try:
            yield
        finally:
            await consumer.stop()


async def test_attack_a_message_that_always_outruns_its_budget_is_dead_lettered_in_the_end(amqp_url, mongo_url):
    mongo = create_client(mongo_url)
    collection = mongo[unique_database("consumer")]["things"]
    runs = []
    event = LoginLocked(candidate_id="123456", locked_until="2026-11-25T10:30:00Z", failed_attempts=4)

    async def always_too_slow(envelope, payload):
        runs.append(envelope.event_id)
        await asyncio.sleep(BUDGET * 1.5)  # this message's work needs more than the budget, every time
        await collection.find_one({})

    service = "notifier"  # a service of the system: the broker policy of its queues dead-letters
    dlq = dead_letter_queue_name(queue_name(service, LoginLocked.ROUTING_KEY))
    try:
        async with consuming(amqp_url, always_too_slow, service):
            before = await queue_depth(amqp_url, dlq)
            await publish(amqp_url, (envelope_for(event), LoginLocked.ROUTING_KEY))
            runs_enough = 4 * (DELIVERY_LIMIT + 1)

            async def many_runs_or_dead_lettered():
                return len(runs) >= runs_enough or await queue_depth(amqp_url, dlq) > before
            await wait_until(many_runs_or_dead_lettered, what="many runs, or the message dead-lettered", timeout=60)
            dead_lettered = await queue_depth(amqp_url, dlq) > before
        assert dead_lettered, (
            f"{len(runs)} runs over the budget, none counted as a delivery: the message is never dead-lettered")
    finally:
        await mongo.drop_database(collection.database.name)
        await mongo.close()
