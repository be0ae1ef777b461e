"""The consumer runner: parsing and retry rules (pure), and on the real broker what it counts in
its metrics and which correlation id its handlers and their log lines see."""

import asyncio
import json
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aio_pika
import pymongo
import pytest
from pymongo.errors import AutoReconnect

from crs_shared.logging import configure_logging, current_correlation_id, get_logger
from crs_shared.messaging.consumer import (
    PermanentFailure, QueueConsumer, RetryPolicy, Subscription, delivery_count, parse,
)
from crs_shared.messaging.contracts import LoginLocked
from crs_shared.messaging.definitions import DELIVERY_LIMIT, dead_letter_queue_name, queue_name
from crs_shared.messaging.topology import declare_consumer_queue
from crs_shared.mongo import create_client, run_in_transaction
from tests.support.apps import unique_database
from tests.support.broker import envelope_for, publish, queue_depth
from tests.support.metrics import sample
from tests.support.waiting import wait_until


@dataclass
class Message:
    body: bytes
    routing_key: str = LoginLocked.ROUTING_KEY
    headers: dict | None = None


def event() -> LoginLocked:
    return LoginLocked(candidate_id="123456", locked_until="2026-11-25T10:30:00Z", failed_attempts=4)


def test_a_valid_message_parses_and_unknown_fields_are_ignored():
    body = json.loads(envelope_for(event()).to_json())
    body["payload"]["something_new"] = 1
    body["extra_envelope_field"] = True
    envelope, payload = parse(Message(json.dumps(body).encode()), LoginLocked, 10_000)
    assert payload.candidate_id == "123456" and envelope.event_type == "LoginLocked"


@pytest.mark.parametrize("mutate, reason", [
    (lambda b: b"not json", "not a valid event envelope"),
    (lambda b: json.dumps({**json.loads(b), "event_type": "Other"}).encode(), "unexpected event_type"),
    (lambda b: json.dumps({**json.loads(b), "event_version": 2}).encode(), "newer than the supported"),
    (lambda b: json.dumps({**json.loads(b), "payload": {"candidate_id": "1"}}).encode(), "breaks the LoginLocked contract"),
    (lambda b: b + b" " * 200, "over the"),
])
def test_bad_messages_are_permanent_failures_with_a_reason(mutate, reason):
    body = envelope_for(event()).to_json()
    with pytest.raises(PermanentFailure, match=reason):
        parse(Message(mutate(body)), LoginLocked, len(body) + 100)


def test_a_copy_routed_by_a_cc_header_under_another_key_is_a_permanent_failure():
    # The broker checks topic permissions against the routing key, not the CC/BCC keys: a board may
    # publish results.published with CC login.locked, and the copy arrives here under its own key.
    body = envelope_for(event()).to_json()
    with pytest.raises(PermanentFailure, match="published under the routing key 'results.published'"):
        parse(Message(body, routing_key="results.published"), LoginLocked, 10_000)


@pytest.mark.parametrize("header, count", [(None, 0), (3, 3), ("x", 0), (-1, 0), ("7", 0), (10**30, 10**30)])
def test_the_delivery_count_is_the_brokers_number_or_0(header, count):
    message = Message(b"", headers=None if header is None else {"x-delivery-count": header})
    assert delivery_count(message) == count
    assert RetryPolicy(backoff_seconds=1, backoff_max_seconds=8).delay(count) <= 8  # a huge count costs nothing


def test_a_failure_reason_never_quotes_the_input():
    body = json.loads(envelope_for(event()).to_json())
    body["payload"]["candidate_id"] = "secret-looking-input-!!"
    with pytest.raises(PermanentFailure) as failure:
        parse(Message(json.dumps(body).encode()), LoginLocked, 10_000)
    assert "secret-looking-input" not in str(failure.value)


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(backoff_seconds=1, backoff_max_seconds=8)
    assert 0.5 <= policy.delay(0) <= 1
    assert 2 <= policy.delay(2) <= 4
    assert all(4 <= policy.delay(n) <= 8 for n in range(3, 10))


@asynccontextmanager
async def consuming(amqp_url: str, handler, *, service: str | None = None,
                    database_budget_seconds: float | None = None):
    """A QueueConsumer of LoginLocked, logging JSON to this test's stderr, under a service name of its
    own (so its metrics are its own) unless `service` names one whose broker policy it needs."""
    configure_logging("test", json=True)
    service = service or f"svc{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await declare_consumer_queue(channel, service, LoginLocked.ROUTING_KEY)
        consumer = QueueConsumer(queue, Subscription(LoginLocked, handler), service=service,
                                 policy=RetryPolicy(0.01, 0.02, 10_000, database_budget_seconds))
        await consumer.start()
        try:
            yield service
        finally:
            await consumer.stop()


def counted(name: str, service: str) -> float:
    return sample(f"events_{name}_total", service=service, event_type="LoginLocked")


async def test_handled_events_are_counted_and_handlers_log_with_the_events_correlation_id(amqp_url, capsys):
    seen = []

    async def handler(envelope, payload):
        seen.append(current_correlation_id())
        get_logger().info("handled", candidate_id=payload.candidate_id)

    async with consuming(amqp_url, handler) as service:
        events = [envelope_for(event(), correlation_id=f"req-{n}") for n in range(3)]
        await publish(amqp_url, *[(e, LoginLocked.ROUTING_KEY) for e in events])
        await wait_until(lambda: _at_least(counted("consumed", service), 3), what="three events consumed")
    assert sorted(seen) == ["req-0", "req-1", "req-2"]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if '"handled"' in line]
    assert sorted(line["correlation_id"] for line in lines) == ["req-0", "req-1", "req-2"]
    assert {line["event_type"] for line in lines} == {"LoginLocked"}
    assert (counted("retried", service), counted("dead_lettered", service)) == (0, 0)


async def test_a_transient_failure_is_counted_as_a_retry_until_the_policys_delivery_limit_dead_letters_it(amqp_url):
    attempts = []

    async def failing(envelope, payload):
        attempts.append(envelope.event_id)
        raise ConnectionError("database away")

    service = "notifier"  # a service of the system: the broker policy of its queues dead-letters
    before = {name: counted(name, service) for name in ("retried", "dead_lettered", "consumed")}
    async with consuming(amqp_url, failing, service=service):
        await publish(amqp_url, (envelope_for(event()), LoginLocked.ROUTING_KEY))
        dlq = dead_letter_queue_name(queue_name(service, LoginLocked.ROUTING_KEY))
        await wait_until(lambda: queue_depth(amqp_url, dlq), what="the message in the dead-letter queue")
    # Every failure returned the message; the broker dead-lettered it past the limit it counts.
    assert len(attempts) == DELIVERY_LIMIT + 1
    assert {name: counted(name, service) - value for name, value in before.items()} == {
        "retried": DELIVERY_LIMIT + 1, "dead_lettered": 0, "consumed": 0}


async def test_while_the_database_is_unreachable_the_handler_runs_again_in_place_without_using_up_deliveries(amqp_url):
    deliveries = []

    async def database_down_twice(envelope, payload):
        deliveries.append(envelope.event_id)
        if len(deliveries) <= 2:
            raise AutoReconnect("connection refused")

    async with consuming(amqp_url, database_down_twice) as service:
        await publish(amqp_url, (envelope_for(event()), LoginLocked.ROUTING_KEY))
        await wait_until(lambda: _at_least(counted("consumed", service), 1), what="the event handled after the outage")
        assert len(deliveries) == 3
        assert (counted("retried", service), counted("dead_lettered", service)) == (0, 0)


async def test_a_handler_over_its_database_budget_runs_again_in_place_with_a_whole_budget(amqp_url, mongo_url):
    """The driver itself gives up on the transaction once the run's budget is spent
    (pymongo.timeout: ExecutionTimeout): that run is not the message's fault, so it costs none of
    its deliveries."""
    mongo = create_client(mongo_url)
    collection = mongo[unique_database("consumer")]["things"]
    runs, errors = [], []

    async def work(session):
        await collection.find_one({}, session=session)

    async def slow_first_time(envelope, payload):
        runs.append(pymongo._csot.remaining())
        if len(runs) == 1:
            await asyncio.sleep(0.6)  # the whole budget spent before the database is asked
        try:
            await run_in_transaction(mongo, work)
        except Exception as exc:
            errors.append(type(exc).__name__)
            raise

    try:
        async with consuming(amqp_url, slow_first_time, database_budget_seconds=0.5) as service:
            await publish(amqp_url, (envelope_for(event()), LoginLocked.ROUTING_KEY))
            await wait_until(lambda: _at_least(counted("consumed", service), 1),
                             what="the event handled at the second run")
            assert errors == ["ExecutionTimeout"]
            assert len(runs) == 2 and all(0.3 < budget <= 0.5 for budget in runs), runs
            assert (counted("retried", service), counted("dead_lettered", service)) == (0, 0)
    finally:
        await mongo.drop_database(collection.database.name)
        await mongo.close()


async def test_a_permanent_failure_is_counted_as_dead_lettered_at_once(amqp_url):
    async def refusing(envelope, payload):
        raise PermanentFailure("never")

    async with consuming(amqp_url, refusing) as service:
        await publish(amqp_url, (envelope_for(event()), LoginLocked.ROUTING_KEY))
        await wait_until(lambda: _at_least(counted("dead_lettered", service), 1), what="a dead letter")
        assert (counted("retried", service), counted("consumed", service)) == (0, 0)


async def _at_least(value: float, target: float) -> bool:
    return value >= target
