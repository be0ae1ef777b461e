"""SIGTERM in the middle of work loses nothing and does nothing twice: the process stops consuming,
finishes what it has in hand, flushes its outbox, closes its connections and exits 0; a new
process takes the rest from the queues."""

import json
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from crs_shared.mongo import create_client
from services.notifier.tests.conftest import all_sent, registered
from services.results.tests.conftest import record, results_part
from tests.support.broker import envelope_for, publish
from tests.support.stack import ServiceProcess, service_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
OPERATOR_TOKEN = "operator-token-for-tests"
EXIT_BOUND = 60  # seconds from SIGTERM to exit; generous for a shared 2-core machine
PARTS, PER_PART = 5, 1000
CONTACTS = 300


@pytest.fixture
def processes(mongo_url, amqp_url, smtp):  # (so the processes stop before the servers they use)
    started: list[ServiceProcess] = []

    def start(name: str, env: dict[str, str], tmp_path, **extra_env: str) -> ServiceProcess:
        process = ServiceProcess(name, env, tmp_path).start(**extra_env)
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


def shutdown_steps(log: str) -> list[str]:
    """The `shutdown: ...` lines of a JSON log, in order."""
    events = []
    for line in log.splitlines():
        if line.startswith("{"):
            event = json.loads(line).get("event", "")
            if event.startswith("shutdown:"):
                events.append(event)
    return events


async def test_sigterm_during_a_results_batch_loses_nothing_and_stores_nothing_twice(
    processes, mongo_url, amqp_url, smtp, tmp_path
):
    env = service_env(mongo_url, amqp_url, smtp.port, "results") | {"OPERATOR_TOKEN": OPERATOR_TOKEN}
    # One part in hand at a time, so the SIGTERM lands with parts still queued.
    first = processes("results", env, tmp_path, AMQP_PREFETCH="1")
    batch_id = f"shutdown-{uuid.uuid4().hex[:8]}"
    candidate_ids = [f"G{n:07d}" for n in range(PARTS * PER_PART)]
    parts = [results_part([record(c) for c in candidate_ids[i * PER_PART:(i + 1) * PER_PART]],
                          batch_id=batch_id, part=i + 1, parts=PARTS) for i in range(PARTS)]
    await publish(amqp_url, *[(envelope_for(p), p.ROUTING_KEY) for p in parts])

    mongo = create_client(mongo_url)
    db = mongo[env["DATABASE_NAME"]]
    try:
        async def parts_stored():
            return await db["batch_parts"].count_documents({"batch_id": batch_id})

        await wait_until(parts_stored, timeout=120, what="the first part to be stored")
        assert first.terminate(timeout=EXIT_BOUND) == 0
        stored_by_first = await parts_stored()
        assert stored_by_first < PARTS, "the whole batch was stored before the SIGTERM; nothing was left to prove"
        assert shutdown_steps(first.log()) == [
            "shutdown: periodic tasks stopped", "shutdown: stopped consuming", "shutdown: in-flight handlers finished",
            "shutdown: outbox flushed", "shutdown: connections closed"]
        assert '"unfinished": 0' in first.log()

        second = processes("results", env, tmp_path)
        operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        async with httpx.AsyncClient(base_url=second.url, headers=operator) as http:
            async def complete():
                report = (await http.get(f"/api/results/batches/{batch_id}")).json()
                return report if report.get("complete") else None

            report = await wait_until(complete, timeout=180, what="the batch report to be complete")
        assert report["parts_received"] == PARTS and report["records_received"] == PARTS * PER_PART
        assert report["results_stored"] == PARTS * PER_PART
        assert report["results_corrected"] == 0 and report["results_rejected"] == 0
        assert await db["results"].count_documents({}) == PARTS * PER_PART
        assert sorted(await db["results"].distinct("candidate_id")) == candidate_ids
        assert await db["result_history"].count_documents({}) == 0  # nothing replaced, so nothing stored twice
        # Every part handled by the first process was acked before it closed: none came back.
        assert "already stored" not in second.log()
        assert second.log().count('"results part stored"') == PARTS - stored_by_first
    finally:
        await mongo.close()


async def test_sigterm_while_emails_are_being_sent_sends_each_email_once(
    processes, mongo_url, amqp_url, smtp, tmp_path
):
    env = service_env(mongo_url, amqp_url, smtp.port, "notifier")
    # Sends spaced out, so the SIGTERM lands while the dispatcher has leased emails in hand; and
    # fewer in hand than the pace alone allows (75: 5 a second for a quarter of the 60 s lease),
    # which a graceful stop sends. 5 a second, so that most emails are still unsent at the SIGTERM
    # even when writing the 300 rows takes most of a minute (at 40 a second, 8 s of writing on a
    # busy machine once let all 300 go first).
    first = processes("notifier", env, tmp_path, SMTP_MAX_PER_SECOND="5", DISPATCH_IN_FLIGHT="10")
    contacts = [registered() for _ in range(CONTACTS)]
    await publish(amqp_url, *[(envelope_for(c), c.ROUTING_KEY) for c in contacts])

    mongo = create_client(mongo_url)
    notifications = mongo[env["DATABASE_NAME"]]["notifications"]
    try:
        async def every_row_written_and_some_sent():
            return await notifications.count_documents({}) == CONTACTS and await _at_least(smtp, 5)

        await wait_until(every_row_written_and_some_sent, timeout=120, what="every row written, the first emails")
        assert first.terminate(timeout=EXIT_BOUND) == 0
        sent_by_first = len(smtp.messages())
        assert sent_by_first < CONTACTS, "every email was sent before the SIGTERM; nothing was left to prove"
        assert shutdown_steps(first.log()) == [
            "shutdown: stopped consuming", "shutdown: in-flight handlers finished", "shutdown: dispatcher stopped",
            "shutdown: outbox flushed", "shutdown: connections closed"]
        # What the first process did not send, it does not hold: the next process need not wait out a lease.
        now = datetime.now(UTC)
        assert await notifications.count_documents({"status": "queued"}) == CONTACTS - sent_by_first
        assert await notifications.count_documents({"status": "queued", "lease_until": {"$gt": now}}) == 0
    finally:
        await mongo.close()

    processes("notifier", env, tmp_path)
    await wait_until(lambda: _at_least(smtp, CONTACTS), timeout=180, what=f"{CONTACTS} emails")
    await wait_until(lambda: all_sent(mongo_url, env["DATABASE_NAME"]), what="no notification left to send")
    messages = smtp.messages()
    recipients = sorted(str(m["To"]) for m in messages)
    assert recipients == sorted(c.email for c in contacts)  # each candidate exactly once
    assert len({m["Message-ID"] for m in messages}) == CONTACTS


async def _at_least(smtp, count: int) -> bool:
    return len(list(smtp.folder.glob("*.eml"))) >= count
