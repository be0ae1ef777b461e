"""Delivery through trouble: SMTP outages, permanent refusals, embargoes and restarts."""

from datetime import UTC, datetime, timedelta

from aiosmtpd.controller import Controller

from crs_shared.clock import ManualClock
from notifier.main import create_app
from services.notifier.tests.conftest import registered
from services.notifier.tests.test_emails import results_part
from tests.support.apps import serving
from tests.support.broker import envelope_for, publish
from tests.support.infrastructure import SmtpCapture, free_port
from tests.support.metrics import sample
from tests.support.waiting import wait_until


async def _value(value):
    return value


async def test_mail_waits_out_an_smtp_outage_and_arrives_once(settings, tmp_path):
    port = free_port()  # nothing listens here yet: the SMTP server is "down"
    settings = settings.model_copy(update={"smtp_port": port})
    events = [registered() for _ in range(5)]
    before = {outcome: confirmations(outcome) for outcome in ("sent", "retried")}
    async with serving(create_app(settings)) as http:
        repository = http._transport.app.state.dependencies.repository
        await publish(settings.amqp_url, *[(envelope_for(e), e.ROUTING_KEY) for e in events])
        await wait_until(lambda: _all_retrying(repository, len(events)), what="every email to have failed once")
        smtp = SmtpCapture(tmp_path / "late-mail", port=port)  # the server comes back
        try:
            for event in events:
                await wait_until(lambda: _value(smtp.messages_to(event.email)), timeout=30, what="the late email")
            await wait_until(lambda: _zero(repository.count({"status": "queued"})), what="nothing left to send")
            assert all(len(smtp.messages_to(e.email)) == 1 for e in events)
            assert confirmations("sent") - before["sent"] == len(events)
            assert confirmations("retried") - before["retried"] >= len(events)
        finally:
            smtp.stop()


def confirmations(outcome: str) -> float:
    return sample("notifications_total", kind="registration_confirmation", outcome=outcome)


async def _all_retrying(repository, count):
    return await repository.count({"status": "queued", "attempts": {"$gte": 1}}) >= count


async def _zero(awaitable):
    return await awaitable == 0


class RefusingHandler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 Mailbox does not exist"


async def test_a_permanent_refusal_is_marked_failed_listed_and_can_be_retried(settings, tmp_path):
    port = free_port()
    refusing = Controller(RefusingHandler(), hostname="127.0.0.1", port=port)
    refusing.start()
    settings = settings.model_copy(update={"smtp_port": port})
    event = registered()
    operator = {"Authorization": f"Bearer {settings.operator_token}"}
    failed_before = confirmations("failed")
    try:
        async with serving(create_app(settings)) as http:
            await publish(settings.amqp_url, (envelope_for(event), event.ROUTING_KEY))

            async def failed():
                body = (await http.get("/api/notifier/notifications/failed", headers=operator)).json()
                return [f for f in body["failed"] if f["candidate_id"] == event.candidate_id]
            [row] = await wait_until(failed, what="the refused email listed as failed")
            assert "550" in row["reason"]
            assert confirmations("failed") - failed_before == 1
            assert (await http.get("/api/notifier/notifications/failed")).status_code == 401

            refusing.stop()
            smtp = SmtpCapture(tmp_path / "mail-after-fix", port=port)
            try:
                requeued = await http.post("/api/notifier/notifications/failed/retry", headers=operator)
                assert requeued.json()["requeued"] >= 1
                await wait_until(lambda: _value(smtp.messages_to(event.email)), what="the email after the retry")
            finally:
                smtp.stop()
    finally:
        if refusing.loop.is_running():
            refusing.stop()


async def test_an_embargoed_batch_sends_nothing_before_release_and_survives_a_restart(settings, smtp):
    clock = ManualClock(datetime.now(UTC))
    contact = registered()
    release_at = clock.now() + timedelta(hours=2)
    part = results_part(contact.candidate_id, release_at=release_at)

    async with serving(create_app(settings, clock)) as http:
        app = http._transport.app
        await publish(settings.amqp_url, (envelope_for(contact), contact.ROUTING_KEY))
        await wait_until(lambda: _value(smtp.messages_to(contact.email)), what="the confirmation email")
        await publish(settings.amqp_url, (envelope_for(part), part.ROUTING_KEY))
        repository = app.state.dependencies.repository
        await wait_until(lambda: repository.count({"candidate_id": contact.candidate_id, "kind": "results_ready"}),
                         what="the results email to be scheduled")
        clock.advance(timedelta(hours=2) - timedelta(seconds=1))
        # One second early, the dispatcher's own search finds nothing due.
        assert await repository.lease_due(clock.now(), "probe", timedelta(seconds=60), 50) == []
        assert len(smtp.messages_to(contact.email)) == 1
    # The notifier restarts between scheduling and release; the schedule is in its database.
    clock.advance(timedelta(seconds=2))
    async with serving(create_app(settings, clock)):
        async def results_email():
            return [m for m in smtp.messages_to(contact.email) if "is now available" in m["Subject"]]
        await wait_until(results_email, what="the results email after release_at")
    assert len(smtp.messages_to(contact.email)) == 2
