"""ServiceRuntime on the real broker and database: /readyz answers for both, and close() shuts
down in order: stop consuming, finish the handler in hand, flush the outbox, disconnect."""

import asyncio
import json

import httpx
from fastapi import FastAPI

from crs_shared.clock import SystemClock
from crs_shared.config import ServiceSettings
from crs_shared.http import install_edge
from crs_shared.logging import configure_logging
from crs_shared.messaging.consumer import Subscription
from crs_shared.messaging.contracts import LoginLocked, PasswordChanged
from crs_shared.messaging.outbox import outbox_document
from crs_shared.messaging.definitions import queue_name
from crs_shared.runtime import ServiceRuntime
from crs_shared.schema import migrate
from tests.support.apps import unique_database
from tests.support.broker import EventTap, envelope_for, publish, queue_depth
from tests.support.infrastructure import RabbitVhost, SecantusServer
from tests.support.waiting import wait_until

SERVICE = "runtimetest"


def settings(mongo_url: str, amqp_url: str, **overrides) -> ServiceSettings:
    return ServiceSettings(mongodb_url=mongo_url, amqp_url=amqp_url, database_name=unique_database("runtime"),
                           retry_backoff_seconds=0.05, **overrides)


def locked() -> LoginLocked:
    return LoginLocked(candidate_id="123456", locked_until="2026-11-25T10:30:00Z", failed_attempts=4)


async def readyz(runtime: ServiceRuntime, expected_status: int) -> dict | None:
    app = FastAPI()
    install_edge(app, runtime.settings, SERVICE, runtime.readiness)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        answer = await http.get("/readyz")
    return answer.json() if answer.status_code == expected_status else None


async def test_readyz_fails_when_the_broker_goes_away_and_shutdown_still_ends(mongo_url):
    vhost = RabbitVhost()  # our own, so deleting it takes the broker away from this runtime only
    runtime = ServiceRuntime(settings(mongo_url, vhost.url), SERVICE, SystemClock(), {})
    try:
        await migrate(runtime.db, runtime.schema)
        await runtime.start()
        await runtime.subscribe([Subscription(LoginLocked, lambda envelope, payload: asyncio.sleep(0))])
        assert await readyz(runtime, 200) == {"ready": True, "checks": {"mongodb": True, "rabbitmq": True}}
        vhost.delete()
        body = await wait_until(lambda: readyz(runtime, 503), what="/readyz to answer 503")
        assert body["checks"] == {"mongodb": True, "rabbitmq": False}
        pending = envelope_for(locked())
        await runtime.outbox.insert_one(outbox_document(pending, LoginLocked.ROUTING_KEY, SystemClock().now()))
    finally:
        # Without a broker nothing can be cancelled or published, but shutdown must still end (the
        # event stays in the outbox for the next process), well before an orchestrator's SIGKILL.
        await asyncio.wait_for(runtime.close(), timeout=30)


async def test_readyz_fails_when_mongodb_goes_away(amqp_url, tmp_path):
    mongodb = SecantusServer(tmp_path / "secantus.log")  # our own, so it can be stopped
    runtime = ServiceRuntime(settings(mongodb.url, amqp_url), SERVICE, SystemClock(), {})
    try:
        await migrate(runtime.db, runtime.schema)
        await runtime.start()
        assert await readyz(runtime, 200) is not None
        mongodb.stop()
        body = await wait_until(lambda: readyz(runtime, 503), what="/readyz to answer 503")
        assert body["checks"] == {"mongodb": False, "rabbitmq": True}
    finally:
        mongodb.stop()
        await runtime.close()


async def test_close_stops_consuming_finishes_the_handler_in_hand_then_flushes_the_outbox(mongo_url, amqp_url, capsys):
    configure_logging(SERVICE, json=True)
    # The relay sleeps between passes unless woken, so only close() will publish what is put in the outbox.
    runtime = ServiceRuntime(settings(mongo_url, amqp_url, outbox_poll_seconds=600), SERVICE, SystemClock(), {})
    started, release, handled = asyncio.Event(), asyncio.Event(), []

    async def slow(envelope, _payload):
        started.set()
        await release.wait()
        handled.append(envelope.event_id)

    await migrate(runtime.db, runtime.schema)
    await runtime.start()
    await runtime.subscribe([Subscription(LoginLocked, slow)])
    queue = queue_name(SERVICE, LoginLocked.ROUTING_KEY)
    in_hand, later = envelope_for(locked()), envelope_for(locked())
    await publish(amqp_url, (in_hand, LoginLocked.ROUTING_KEY))
    await asyncio.wait_for(started.wait(), timeout=20)

    async with EventTap(amqp_url, PasswordChanged.ROUTING_KEY) as tap:
        pending = envelope_for(PasswordChanged(candidate_id="123456", changed_at="2026-11-25T10:30:00Z"))
        await runtime.outbox.insert_one(outbox_document(pending, PasswordChanged.ROUTING_KEY, SystemClock().now()))
        closing = asyncio.create_task(runtime.close())
        logged = []

        async def cancelled() -> bool:
            logged.append(capsys.readouterr().err)
            return '"shutdown: stopped consuming"' in "".join(logged)

        await wait_until(cancelled, what="the consumer to be cancelled")
        await publish(amqp_url, (later, LoginLocked.ROUTING_KEY))  # after the cancel: left for another replica
        await wait_until(lambda: _equals(queue_depth(amqp_url, queue), 1), what="the later event to wait in its queue")
        assert not closing.done() and tap.messages == []  # waiting for the handler in hand; outbox not flushed yet
        release.set()
        await asyncio.wait_for(closing, timeout=30)
        await wait_until(lambda: _equals(_count(tap.messages), 1), what="the pending event to be published")

    assert handled == [in_hand.event_id]  # finished, and acked: only the later event is still queued
    assert await queue_depth(amqp_url, queue) == 1
    assert [e.event_id for e in tap.envelopes()] == [pending.event_id]
    logged.append(capsys.readouterr().err)
    steps = [json.loads(line) for line in "".join(logged).splitlines() if '"shutdown:' in line]
    assert [step["event"] for step in steps] == [
        "shutdown: stopped consuming", "shutdown: in-flight handlers finished", "shutdown: outbox flushed",
        "shutdown: connections closed"]
    assert (steps[0]["in_flight"], steps[1]["unfinished"], steps[2]["published"]) == (1, 0, 1)


async def test_a_periodic_task_outlives_a_failed_pass_and_close_lets_the_pass_in_hand_finish_first(
        mongo_url, amqp_url, capsys):
    configure_logging(SERVICE, json=True)
    # Only close() will publish what the pass puts in the outbox.
    runtime = ServiceRuntime(settings(mongo_url, amqp_url, outbox_poll_seconds=600), SERVICE, SystemClock(), {})
    passes, in_hand, release = [], asyncio.Event(), asyncio.Event()
    changed = envelope_for(PasswordChanged(candidate_id="123456", changed_at="2026-11-25T10:30:00Z"))

    async def work() -> None:
        passes.append(len(passes) + 1)
        if len(passes) == 1:
            raise RuntimeError("the database is away")
        in_hand.set()
        await release.wait()
        await runtime.outbox.insert_one(outbox_document(changed, PasswordChanged.ROUTING_KEY, SystemClock().now()))

    await migrate(runtime.db, runtime.schema)
    await runtime.start()
    async with EventTap(amqp_url, PasswordChanged.ROUTING_KEY) as tap:
        runtime.run_periodically("announcer", 0.01, work)
        await asyncio.wait_for(in_hand.wait(), timeout=20)
        closing = asyncio.create_task(runtime.close())
        asyncio.get_running_loop().call_soon(release.set)  # after close() has begun
        await asyncio.wait_for(closing, timeout=30)
        await wait_until(lambda: _equals(_count(tap.messages), 1), what="the pass's event to be published")

    assert passes == [1, 2]
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [failed] = [line for line in lines if line["event"] == "periodic task failed; will retry"]
    assert (failed["task"], failed["error"]) == (f"{SERVICE}-announcer", "RuntimeError('the database is away')")
    steps = [line for line in lines if line["event"].startswith("shutdown:")]
    assert [step["event"] for step in steps] == [
        "shutdown: periodic tasks stopped", "shutdown: outbox flushed", "shutdown: connections closed"]
    assert steps[1]["published"] == 1  # what the pass in hand wrote, once it had finished


async def _equals(value, expected) -> bool:
    return await value == expected


async def _count(items) -> int:
    return len(items)

