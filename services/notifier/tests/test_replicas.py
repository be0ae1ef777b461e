"""Two notifier processes over 800 registrations and 800 released results in two parts: 1,600
emails, none twice, counted once every row is recorded sent and again a lease later (a row whose
lease ran out would have been sent again by then). (tests/test_scaling.py runs two replicas of
every service together.)"""

from datetime import UTC, datetime

import httpx
from pymongo import AsyncMongoClient

from crs_shared.messaging.contracts import ReleasedResult, ResultsReleased
from services.notifier.tests.conftest import registered
from tests.support.broker import envelope_for, publish
from tests.support.stack import ServiceProcess, service_env
from tests.support.waiting import stays, wait_until

RESULTS, PART = 800, 400
# Long enough that a send slowed by a busy machine still ends within its timeout (a quarter of it):
# a timed-out send that the server took would be sent again, and counted twice.
LEASE_SECONDS = 10.0


async def test_two_replicas_send_each_email_exactly_once(mongo_url, amqp_url, smtp, tmp_path):
    env = service_env(mongo_url, amqp_url, smtp.port, "notifier") | {
        "SEND_LEASE_SECONDS": str(LEASE_SECONDS), "SMTP_TIMEOUT_SECONDS": str(LEASE_SECONDS / 4)}
    replicas = [ServiceProcess("notifier", env, tmp_path).start() for _ in range(2)]
    try:
        contacts = [registered() for _ in range(RESULTS)]
        await publish(amqp_url, *[(envelope_for(c), c.ROUTING_KEY) for c in contacts])
        await wait_until(lambda: _count(smtp, RESULTS), timeout=240, what=f"{RESULTS} confirmation emails")

        records = [ReleasedResult(candidate_id=c.candidate_id, result_id=f"r-{c.candidate_id}", status="issued",
                                  correction=False) for c in contacts]
        parts = [ResultsReleased(board="Cambridge", batch_id="replicas", part=i + 1, exam="B2_FIRST", session="2026-06",
                                 released_at=datetime.now(UTC), results=records[i * PART:(i + 1) * PART])
                 for i in range(2)]
        await publish(amqp_url, *[(envelope_for(p), p.ROUTING_KEY) for p in parts])
        await wait_until(lambda: _count(smtp, 2 * RESULTS), timeout=240, what=f"{RESULTS} results emails")
        await wait_until(lambda: _all_recorded_sent(mongo_url, env["DATABASE_NAME"], 2 * RESULTS), timeout=60,
                         what="every row recorded sent")
        assert await stays(lambda: _count(smtp, 2 * RESULTS, exactly=True), seconds=LEASE_SECONDS + 1), \
            f"{len(smtp.messages())} emails a lease later"

        messages = smtp.messages()
        message_ids = [m["Message-ID"] for m in messages]
        assert len(messages) == 2 * RESULTS and len(set(message_ids)) == 2 * RESULTS
        per_address = {}
        for m in messages:
            per_address.setdefault(str(m["To"]), []).append(m["Subject"])
        assert all(len(subjects) == 2 for subjects in per_address.values())

        # Both replicas did part of the work, as their own metrics show.
        sent = []
        async with httpx.AsyncClient() as http:
            for replica in replicas:
                text = (await http.get(f"{replica.url}/metrics")).text
                sent.append(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                                if line.startswith("notifications_total{") and 'outcome="sent"' in line))
        assert sum(sent) == 2 * RESULTS and all(n > 0 for n in sent), sent
    finally:
        for replica in replicas:
            replica.stop()


async def _count(smtp, target: int, *, exactly: bool = False) -> bool:
    found = len(list(smtp.folder.glob("*.eml")))
    return found == target if exactly else found >= target


async def _all_recorded_sent(mongo_url: str, database: str, rows: int) -> bool:
    client = AsyncMongoClient(mongo_url)
    try:
        notifications = client[database].notifications
        return (await notifications.count_documents({"status": "sent"}) == rows
                and await notifications.count_documents({"status": {"$ne": "sent"}}) == 0)
    finally:
        await client.close()
