"""SMTP outage: the mail server goes away while results emails (and the confirmations of candidates
registering meanwhile) are due, and comes back on the same port. Mail is delayed, not lost, and
sent once."""

import pytest
from pymongo import AsyncMongoClient

from tests.reliability.report import record
from tests.support.faults import RestartableSmtp
from tests.support.waiting import wait_until

PROMISE = "The mail server is down while emails are due: they wait and are sent once it is back."


@pytest.fixture
def smtp_server(tmp_path):
    server = RestartableSmtp(tmp_path / "mail")
    yield server
    server.stop()


async def test_mail_due_during_an_smtp_outage_is_sent_once_afterwards(mongo_url, amqp_url, smtp_server, make_system):
    # Retries start 1 s apart here (5 s by default), so the wait after the outage stays short.
    system = make_system(mongo_url, amqp_url, smtp_server, SEND_RETRY_BASE_SECONDS="1")
    await system.register_early()
    sent_before = len(smtp_server.messages())

    smtp_server.stop()
    traffic = system.steady_traffic()
    await system.board.publish_results()
    await traffic
    notifier_db = system.stack.database("notifier")
    due = len(system.ledger.expected_emails()) - sent_before
    failed_once = await wait_until(lambda: _failed_at_least_once(mongo_url, notifier_db, due), timeout=60,
                                   what=f"all {due} due emails to have failed at least once while SMTP is down")
    sent_during_outage = len(smtp_server.messages()) - sent_before
    smtp_server.start()

    outcome = await system.ledger.settled()
    record("SMTP outage", PROMISE, outcome.counts(), emails_sent_before_outage=sent_before,
           emails_due_during_outage=due, failed_sends_during_outage=failed_once,
           emails_sent_during_outage=sent_during_outage)

    assert sent_during_outage == 0
    assert outcome.exact, outcome.counts()
    assert outcome.dead_lettered == {}


async def _failed_at_least_once(mongo_url: str, database: str, count: int) -> int | None:
    client = AsyncMongoClient(mongo_url)
    try:
        failed = await client[database].notifications.count_documents({"status": "queued", "attempts": {"$gte": 1}})
    finally:
        await client.close()
    return failed if failed >= count else None
