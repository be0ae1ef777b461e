"""Delivery through trouble: SMTP outages and permanent refusals. (An embargo is the results
service's: it releases the results, and their emails, at `release_at`; tests/test_results_emails.py.)"""

from aiosmtpd.controller import Controller

from notifier.main import create_app
from services.notifier.tests.conftest import registered
from tests.support.apps import serving
from tests.support.broker import envelope_for, publish
from tests.support.infrastructure import SmtpCapture, free_port
from tests.support.metrics import sample
from tests.support.waiting import value, wait_until


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
                await wait_until(lambda: value(smtp.messages_to(event.email)), timeout=30, what="the late email")
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
                await wait_until(lambda: value(smtp.messages_to(event.email)), what="the email after the retry")
            finally:
                smtp.stop()
    finally:
        if refusing.loop.is_running():
            refusing.stop()
