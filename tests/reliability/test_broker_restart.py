"""RabbitMQ restart: `rabbitmqctl stop_app` / `start_app` on a private node in the middle of a result
batch, while candidates register and log in. The board runs its command again, the outbox relays
retry, and every consumer comes back (aio-pika's robust connection must restore the consumers, not
only the connection): proven by each queue's consumer count and by work that can only be done after
the restart."""

import asyncio

import aio_pika
import pytest

from tests.reliability.ledger import QUEUES
from tests.reliability.report import record
from tests.support.faults import PrivateRabbit
from tests.support.waiting import wait_until

PROMISE = "The broker stops and starts mid-batch: publishers retry, consumers come back, nothing lost or doubled."


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory):
    node = PrivateRabbit(tmp_path_factory.mktemp("rabbitmq"))
    yield node
    node.stop()


async def test_a_broker_restart_mid_batch_loses_nothing_and_every_consumer_resumes(mongo_url, rabbit, smtp, make_system):
    system = make_system(mongo_url, rabbit.url, smtp)
    await system.register_early()
    consumers_before = await _consumer_counts(rabbit.url)
    late = system.workload.late
    half = len(late) // 2

    publishing = await system.publish_results_with_fault(rabbit.stop_app)
    parts_before_stop = await system.parts_stored()
    # While the broker is down, registrations are still accepted (their events wait in the outbox)
    # and the services say they are not ready.
    during = system.steady_traffic(late[:half])
    readiness = await wait_until(system.not_ready, timeout=30, what="/readyz to answer 503")
    await during
    await asyncio.to_thread(rabbit.start_app)

    consumers_after = await wait_until(lambda: _all_consuming(rabbit.url), timeout=60,
                                       what="a consumer on every queue after the restart")
    await system.steady_traffic(late[half:])  # their events can only be handled by the restored consumers
    await publishing
    outcome = await system.ledger.settled()
    consumers_at_end = await _consumer_counts(rabbit.url)
    record("RabbitMQ restart", PROMISE, outcome.counts(), parts_published=system.workload.batch.parts,
           parts_stored_before_stop=parts_before_stop, board_publish_attempts=system.board.results_attempts,
           readyz_while_down=readiness, consumers_before=consumers_before, consumers_after=consumers_after,
           consumers_at_end=consumers_at_end,
           registered_while_down=half, http=system.candidates.log.statuses)

    assert parts_before_stop < system.workload.batch.parts
    assert system.board.results_attempts >= 2, "the board never had to publish again"
    assert outcome.exact, outcome.counts()
    assert outcome.dead_lettered == {}
    one_each = dict.fromkeys(QUEUES, 1)
    assert consumers_before == one_each, consumers_before
    assert consumers_after == one_each == consumers_at_end, (consumers_after, consumers_at_end)


async def _consumer_counts(amqp_url: str) -> dict[str, int]:
    connection = await aio_pika.connect(amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        return {name: (await channel.declare_queue(name, passive=True)).declaration_result.consumer_count
                for name in QUEUES}


async def _all_consuming(amqp_url: str) -> dict[str, int] | None:
    try:
        counts = await _consumer_counts(amqp_url)
    except (aio_pika.exceptions.AMQPError, ConnectionError, OSError):
        return None
    return counts if all(counts.values()) else None

