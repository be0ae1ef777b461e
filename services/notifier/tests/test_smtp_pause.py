"""Pausing, end to end with the real broker and database: two notifier replicas paused by a
password the relay of test_smtp_security refuses (STARTTLS and a login), one shut down while
paused, then the relay takes the password: every email once, none failed, and the password in no
log line nor /readyz. And a recipient refused with 530 fails that email alone, pausing nothing."""

import asyncio
import contextlib

import pytest

from aiosmtpd.controller import Controller

from notifier.main import create_app
from services.notifier.tests.test_mailer_faults import Handler
from services.notifier.tests.conftest import registered
from services.notifier.tests.test_smtp_security import PASSWORD, USER, ca, ca_file, relay, relay_settings  # noqa: F401
from tests.support.apps import serving
from tests.support.broker import envelope_for, publish
from tests.support.infrastructure import free_port
from tests.support.waiting import wait_until

WRONG = "wrong-Pa55word-xyzzy"


async def test_a_replica_stopped_while_paused_leaves_its_emails_to_the_other(settings, relay, ca_file, capfd):
    settings = relay_settings(settings, relay, ca_file, smtp_password=WRONG)
    events = [registered() for _ in range(30)]
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(serving(create_app(settings)))
        second_stack = contextlib.AsyncExitStack()
        second = await second_stack.enter_async_context(serving(create_app(settings)))
        repository = first._transport.app.state.dependencies.repository
        await publish(settings.amqp_url, *[(envelope_for(e), e.ROUTING_KEY) for e in events])

        async def both_paused():
            answers = [await http.get("/readyz") for http in (first, second)]
            return all(a.status_code == 503 for a in answers) and [a.json() for a in answers]
        bodies = await wait_until(both_paused, timeout=30, what="both replicas paused")
        assert WRONG not in str(bodies)

        async def all_written():
            return await repository.count({"candidate_id": {"$in": [e.candidate_id for e in events]}}) == len(events)
        await wait_until(all_written, timeout=30, what="the rows written")

        loop = asyncio.get_running_loop()
        started = loop.time()
        await second_stack.aclose()  # the second replica stops while paused
        assert loop.time() - started < 10, f"shutdown while paused took {loop.time() - started:.1f} s"
        rows = await repository.find({"candidate_id": {"$in": [e.candidate_id for e in events]}})
        assert {(r["status"], r["attempts"]) for r in rows} == {("queued", 0)}

        relay.accepted = {USER: WRONG}  # the relay now takes the notifier's password

        async def all_sent():
            return await repository.count({"candidate_id": {"$in": [e.candidate_id for e in events]},
                                           "status": "sent"}) == len(events)
        await wait_until(all_sent, timeout=60, what="every email sent by the remaining replica")
        assert sorted(len(relay.sent_to(e.email)) for e in events) == [1] * len(events)
        assert await repository.failed() == []
    out, err = capfd.readouterr()
    assert WRONG not in out + err and PASSWORD not in out + err


async def test_a_recipient_refused_with_530_fails_that_email_and_pauses_nothing(settings, capfd):
    poisoned = registered()
    handler = Handler(refused_recipient=poisoned.email)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings = type(settings)(**(settings.model_dump() | {"smtp_port": port}))
    others = [registered() for _ in range(3)]
    try:
        async with serving(create_app(settings)) as http:
            repository = http._transport.app.state.dependencies.repository
            await publish(settings.amqp_url, *[(envelope_for(e), e.ROUTING_KEY) for e in [poisoned, *others]])

            async def done():
                rows = await repository.find({"candidate_id": poisoned.candidate_id, "status": "failed"})
                return rows and all(e.email in handler.delivered for e in others) and rows[0]
            row = await wait_until(done, timeout=30, what="the refused email failed and the others sent")
            assert "SMTP 530" in row["last_error"] and row["attempts"] == 1
            assert (await http.get("/readyz")).status_code == 200
    finally:
        controller.stop()
    out, err = capfd.readouterr()
    assert "sending paused" not in out + err
