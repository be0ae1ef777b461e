"""The broker's accounts, as the deployments define them (crs_shared.messaging.definitions), on the
real RabbitMQ: an exam board may publish its two events and nothing else; a service may not touch
another service's queues nor the shared exchange; and the delivery limit is the broker policy's,
which can change under declared queues."""

import contextlib
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aio_pika
import aiormq.exceptions
import pytest

from crs_shared.messaging import definitions
from crs_shared.messaging.consumer import QueueConsumer, RetryPolicy, Subscription
from crs_shared.messaging.contracts import (
    CandidateRegistered, EntriesPublished, Entry, PasswordResetRequested, ResultRecord, ResultsPublished,
)
from crs_shared.messaging.definitions import EXCHANGE, dead_letter_queue_name, queue_name
from crs_shared.messaging.publisher import EventPublisher, PublishError
from crs_shared.messaging.topology import declare_consumer_queue, declare_exchange
from tests.support.broker import envelope_for, queue_depth
from tests.support.infrastructure import RABBITMQ_HOST, RabbitVhost, import_definitions, rabbitmqctl
from tests.support.waiting import value, wait_until

ROOT = Path(__file__).resolve().parents[2]

Refused = aiormq.exceptions.ChannelAccessRefused


@dataclass
class Broker:
    vhost: RabbitVhost
    urls: dict[str, str]  # "board" and each service -> its account's URL

    async def connect(self, account: str) -> aio_pika.abc.AbstractConnection:
        return await aio_pika.connect(self.urls[account])


@pytest.fixture(scope="module")
def broker() -> Broker:
    """A vhost with the system's definitions and the accounts a deployment makes: one a service and
    one for a board. User names are global on the broker, so this module's carry a suffix of its own."""
    suffix = uuid.uuid4().hex[:8]
    names = {**{s: f"{definitions.service_user(s)}-{suffix}" for s in definitions.SERVICES}, "board": f"board-test-{suffix}"}
    passwords = {account: secrets.token_urlsafe(16) for account in names}
    with contextlib.ExitStack() as cleanup:
        vhost = RabbitVhost()
        cleanup.callback(vhost.delete)
        document = definitions.accounts(vhost.name, {s: passwords[s] for s in definitions.SERVICES},
                                        {names["board"]: passwords["board"]})
        renamed = {definitions.service_user(s): names[s] for s in definitions.SERVICES}
        for item in document["users"]:
            item["name"] = renamed.get(item["name"], item["name"])
        for item in document["permissions"] + document["topic_permissions"]:
            item["user"] = renamed.get(item["user"], item["user"])
        for name in names.values():
            cleanup.callback(rabbitmqctl, "delete_user", name)
        import_definitions(document)
        yield Broker(vhost, {account: f"amqp://{name}:{passwords[account]}@{RABBITMQ_HOST}:5672/"
                                      f"{quote(vhost.name, safe='')}" for account, name in names.items()})


async def declared_queue(broker: Broker, service: str, routing_key: str) -> str:
    """The service's consumer queue, declared with its own account as the service does at start."""
    async with await broker.connect(service) as connection:
        await declare_consumer_queue(await connection.channel(), service, routing_key)
    return queue_name(service, routing_key)


async def publish_as(broker: Broker, account: str, routing_key: str, payload) -> None:
    async with await broker.connect(account) as connection:
        publisher = EventPublisher(connection)
        await publisher.start()
        await publisher.publish(envelope_for(payload), routing_key)


async def refused(operation) -> str:
    """The broker's refusal of `operation()`, as its message says it."""
    with pytest.raises(Refused) as refusal:
        await operation()
    return str(refusal.value)


def entries() -> EntriesPublished:
    entry = Entry(candidate_id="T12345678", secret_number="4821", given_name="Amy", family_name="Chen",
                  exam="B2_FIRST", session="2026-06", centre="GB001")
    return EntriesPublished(board="Test Board", batch_id=str(uuid.uuid4()), part=1, parts=1, entries=[entry])


def results() -> ResultsPublished:
    return ResultsPublished(board="Test Board", batch_id=str(uuid.uuid4()), part=1, parts=1, exam="B2_FIRST",
                            session="2026-06", results=[ResultRecord(candidate_id="T12345678", status="issued")])


async def test_a_board_publishes_results_and_entries(broker):
    results_queue = await declared_queue(broker, "results", ResultsPublished.ROUTING_KEY)
    entries_queue = await declared_queue(broker, "registration", EntriesPublished.ROUTING_KEY)
    await publish_as(broker, "board", ResultsPublished.ROUTING_KEY, results())
    await publish_as(broker, "board", EntriesPublished.ROUTING_KEY, entries())
    assert await queue_depth(broker.vhost.url, results_queue) >= 1
    assert await queue_depth(broker.vhost.url, entries_queue) >= 1


async def test_entries_publish_works_with_a_boards_publish_only_account(broker):
    queue = await declared_queue(broker, "registration", EntriesPublished.ROUTING_KEY)
    before = await queue_depth(broker.vhost.url, queue)
    ran = subprocess.run([str(Path(sys.executable).parent / "entries-publish"), str(ROOT / "deploy/sample-data/entries.csv"),
                          "--board", "Test Board", "--amqp-url", broker.urls["board"]],
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert await queue_depth(broker.vhost.url, queue) == before + 1  # the sample's one part


def test_on_a_broker_without_the_definitions_entries_publish_says_what_to_load(tmp_path):
    bare = f"crs-test-bare-{uuid.uuid4().hex[:8]}"  # a vhost as a broker has it before the definitions
    rabbitmqctl("add_vhost", bare)
    try:
        rabbitmqctl("set_permissions", "-p", bare, "guest", ".*", ".*", ".*")
        ran = subprocess.run([str(Path(sys.executable).parent / "entries-publish"),
                              str(ROOT / "deploy/sample-data/entries.csv"), "--board", "Test Board",
                              "--amqp-url", f"amqp://guest:guest@{RABBITMQ_HOST}:5672/{bare}"],
                             capture_output=True, text=True, timeout=120)
    finally:
        rabbitmqctl("delete_vhost", bare)
    assert ran.returncode != 0
    assert (f"is not ready: the exchange {EXCHANGE} does not exist on this broker's virtual host: load the "
            "system's broker definitions first") in ran.stderr


async def test_a_board_may_not_forge_a_services_event(broker):
    auth_queue = await declared_queue(broker, "auth", CandidateRegistered.ROUTING_KEY)
    with pytest.raises(PublishError) as refusal:
        await publish_as(broker, "board", CandidateRegistered.ROUTING_KEY, forged_registration())
    assert isinstance(refusal.value.__cause__, Refused)
    assert f"access to topic '{CandidateRegistered.ROUTING_KEY}' in exchange '{EXCHANGE}'" in str(refusal.value.__cause__)
    assert await queue_depth(broker.vhost.url, auth_queue) == 0


async def test_a_board_may_not_declare_bind_or_consume(broker):
    queue = await declared_queue(broker, "results", ResultsPublished.ROUTING_KEY)
    async with await broker.connect("board") as connection:
        assert "access to queue 'board-own'" in await refused(
            lambda: _on_new_channel(connection, lambda channel: channel.declare_queue("board-own")))
        assert f"access to queue '{queue}'" in await refused(
            lambda: _on_new_channel(connection, lambda channel: _consume(channel, queue)))
        assert f"access to exchange '{EXCHANGE}'" in await refused(
            lambda: _on_new_channel(connection, lambda channel: channel.declare_exchange(
                EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)))


async def test_a_service_may_not_read_or_change_another_services_queues_nor_the_exchange(broker):
    queue = await declared_queue(broker, "registration", EntriesPublished.ROUTING_KEY)
    async with await broker.connect("notifier") as connection:
        assert f"access to queue '{queue}'" in await refused(
            lambda: _on_new_channel(connection, lambda channel: _consume(channel, queue)))
        assert f"access to queue '{dead_letter_queue_name(queue)}'" in await refused(
            lambda: _on_new_channel(connection, lambda channel: _consume(channel, dead_letter_queue_name(queue))))
        assert "access to queue 'registration.mine'" in await refused(
            lambda: _on_new_channel(connection, lambda channel: channel.declare_queue("registration.mine", durable=True)))
        assert f"access to exchange '{EXCHANGE}'" in await refused(
            lambda: _on_new_channel(connection, lambda channel: channel.exchange_delete(EXCHANGE)))
        # Its own queue it declares and consumes.
        own = await declare_consumer_queue(await connection.channel(), "notifier", CandidateRegistered.ROUTING_KEY)
        await own.consume(_ignore)


async def test_a_service_may_publish_and_bind_only_its_own_events(broker):
    """Topic permissions: the results account may not forge CandidateRegistered, nor bind a queue
    of its own to every event ('#') or to the reset links meant for the notifier."""
    auth_queue = await declared_queue(broker, "auth", CandidateRegistered.ROUTING_KEY)
    with pytest.raises(PublishError) as refusal:
        await publish_as(broker, "results", CandidateRegistered.ROUTING_KEY, forged_registration())
    assert f"access to topic '{CandidateRegistered.ROUTING_KEY}'" in str(refusal.value.__cause__)
    assert await queue_depth(broker.vhost.url, auth_queue) == 0
    async with await broker.connect("results") as connection:
        spy = await (await connection.channel()).declare_queue("results.spy", auto_delete=True)
        for key in ("#", PasswordResetRequested.ROUTING_KEY):
            assert f"access to topic '{key}'" in await refused(
                lambda key=key: _on_new_channel(connection, lambda channel: _bind(channel, spy.name, key)))
        # What it consumes, it binds (as declare_consumer_queue does at start).
        await _on_new_channel(connection, lambda channel: _bind(channel, spy.name, ResultsPublished.ROUTING_KEY))


@pytest.mark.parametrize("header", ["CC", "BCC"])
async def test_a_copy_a_board_routes_by_cc_or_bcc_is_dead_lettered_unhandled(broker, header):
    """The broker checks a publisher's topic permission against the routing key only: a board's
    results.published with `CC: candidate.registered` reaches auth's queue. The consumer refuses
    the copy (its routing key is not the queue's), so the forged registration is never handled."""
    queue = await declared_queue(broker, "auth", CandidateRegistered.ROUTING_KEY)
    handled = []

    async def store(envelope, payload):
        handled.append(payload)

    async with await broker.connect("auth") as connection:
        declared = await declare_consumer_queue(await connection.channel(), "auth", CandidateRegistered.ROUTING_KEY)
        await declared.purge()
        consumer = QueueConsumer(declared, Subscription(CandidateRegistered, store), service="auth",
                                 policy=RetryPolicy(0.01, 0.02))
        await consumer.start()
        try:
            dead_before = await queue_depth(broker.vhost.url, dead_letter_queue_name(queue))
            await publish_raw(broker.urls["board"], ResultsPublished.ROUTING_KEY, forged_registration(),
                              headers={header: [CandidateRegistered.ROUTING_KEY]})

            async def dead_lettered():
                return await queue_depth(broker.vhost.url, dead_letter_queue_name(queue)) == dead_before + 1
            await wait_until(dead_lettered, what="the CC'd copy in auth's dead-letter queue")
        finally:
            await consumer.stop()
    assert handled == []


async def test_a_delivery_count_header_written_by_a_publisher_changes_no_retry(broker):
    """A quorum queue sets x-delivery-count on a redelivery only: on a first delivery the header is
    the publisher's. A board's "x" there must not stop the message being retried after a passing fault."""
    service, key = "registration", EntriesPublished.ROUTING_KEY
    attempts = []

    async def fails_once(envelope, payload):
        attempts.append(envelope.event_id)
        if len(attempts) == 1:
            raise RuntimeError("a passing fault")

    async with await broker.connect(service) as connection:
        declared = await declare_consumer_queue(await connection.channel(), service, key)
        await declared.purge()
        consumer = QueueConsumer(declared, Subscription(EntriesPublished, fails_once), service=service,
                                 policy=RetryPolicy(0.01, 0.02))
        await consumer.start()
        try:
            await publish_raw(broker.urls["board"], key, entries(), headers={"x-delivery-count": "x"})
            await wait_until(lambda: value(len(attempts) >= 2), timeout=10,
                             what="the message handled again after its passing fault")
        finally:
            await consumer.stop()


async def test_a_changed_delivery_limit_applies_to_a_queue_declared_before_it(broker):
    service, key = "registration", EntriesPublished.ROUTING_KEY
    queue = await declared_queue(broker, service, key)  # under the definitions' limit
    async with await aio_pika.connect(broker.vhost.url) as administrator:  # what earlier tests left in it
        await (await (await administrator.channel()).declare_queue(queue, passive=True)).purge()
    new_limit = definitions.DELIVERY_LIMIT - 3
    import_definitions({"policies": definitions.policies(broker.vhost.name, new_limit)})
    attempts = []

    async def failing(envelope, payload):
        attempts.append(envelope.event_id)
        raise RuntimeError("a fault of this message's handling")

    # The service starts again: its declaration, with no limit of its own, is the same as before.
    async with await broker.connect(service) as connection:
        declared = await declare_consumer_queue(await connection.channel(), service, key)
        consumer = QueueConsumer(declared, Subscription(EntriesPublished, failing), service=service,
                                 policy=RetryPolicy(0.01, 0.02))
        await consumer.start()
        await publish_as(broker, "board", key, entries())
        await wait_until(lambda: queue_depth(broker.vhost.url, dead_letter_queue_name(queue)),
                         what="the failing message in the dead-letter queue")
        await consumer.stop()
    assert len(attempts) == new_limit + 1
    assert await queue_depth(broker.vhost.url, queue) == 0


async def _on_new_channel(connection, operation):
    return await operation(await connection.channel())


async def _consume(channel, queue: str):
    declared = await channel.declare_queue(queue, passive=True)
    return await declared.consume(_ignore)


async def _ignore(message) -> None:
    pass


async def _bind(channel, queue: str, routing_key: str):
    return await (await channel.declare_queue(queue, passive=True)).bind(EXCHANGE, routing_key=routing_key)


def forged_registration() -> CandidateRegistered:
    return CandidateRegistered(candidate_id="T12345678", email="x@example.org", given_name="Amy", family_name="Chen",
                               password_hash="$argon2id$chosen-by-the-forger", registered_at="2026-06-01T00:00:00Z")


async def publish_raw(url: str, routing_key: str, payload, headers: dict) -> None:
    """Publishes to the exchange with confirms and headers of the caller's choosing, as any client may."""
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EXCHANGE, ensure=False)
        await exchange.publish(aio_pika.Message(envelope_for(payload).to_json(), headers=headers),
                               routing_key=routing_key)
