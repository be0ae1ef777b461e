"""The results emails end to end, the results service and the notifier as processes: an email only
for a result the candidate can see (stored and released), exactly one "now available" per
candidate, exam and session, "has been updated" for a correction, and a late registrant's right
after the confirmation. Never one for a refused record or a part not yet released."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crs_shared.mongo import create_client
from services.notifier.tests.conftest import all_sent, registered
from services.results.tests.conftest import record, results_part
from tests.support.broker import envelope_for, publish
from tests.support.stack import ServiceProcess, service_env
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
READY, UPDATED = "is now available", "has been updated"


@pytest.fixture
def services(mongo_url, amqp_url, smtp, tmp_path):
    env = {name: service_env(mongo_url, amqp_url, smtp.port, name) for name in ("results", "notifier")}
    env["results"]["JWKS_URL"] = "http://127.0.0.1:9/jwks.json"  # no token is checked here
    started = {name: ServiceProcess(name, env[name], tmp_path).start() for name in env}
    yield started
    for process in started.values():
        process.stop()


def subjects(smtp, address: str) -> list[str]:
    return [str(m["Subject"]) for m in smtp.messages_to(address)]


async def test_results_emails_follow_what_each_candidate_can_see(services, mongo_url, amqp_url, smtp):
    amqp = lambda *events: publish(amqp_url, *[(envelope_for(e), e.ROUTING_KEY) for e in events])  # noqa: E731
    early, refused, held, late = (registered() for _ in range(4))

    async def emails(candidate, count: int) -> list[str]:
        async def arrived():
            found = subjects(smtp, candidate.email)
            return found if len(found) >= count else None
        return await wait_until(arrived, timeout=60, what=f"{count} emails to {candidate.candidate_id}")

    await amqp(early, refused, held)
    for candidate in (early, refused, held):
        await emails(candidate, 1)

    released = results_part([record(early.candidate_id), record(late.candidate_id),
                             record(refused.candidate_id, grade="A")],  # its grade disagrees with its scores
                            batch_id=f"now-{uuid.uuid4().hex[:6]}")
    embargoed = results_part([record(held.candidate_id)], batch_id=f"held-{uuid.uuid4().hex[:6]}",
                             release_at=datetime.now(UTC) + timedelta(hours=1))
    await amqp(embargoed, released)
    [_, ready] = await emails(early, 2)
    assert READY in ready
    # When it arrived, the result was one the candidate could see: stored, and released.
    mongo = create_client(mongo_url)
    try:
        stored = await mongo[services["results"].env["DATABASE_NAME"]]["results"].find_one(
            {"candidate_id": early.candidate_id})
    finally:
        await mongo.close()
    assert stored is not None and stored["release_at"] <= datetime.now(UTC)

    await amqp(late)  # registers after the batch was released
    assert [READY in s for s in await emails(late, 2)] == [False, True]

    correction = results_part([record(early.candidate_id, overall=175)], batch_id=f"fix-{uuid.uuid4().hex[:6]}")
    await amqp(correction)
    [*_, updated] = await emails(early, 3)
    assert UPDATED in updated

    notifier_db = services["notifier"].env["DATABASE_NAME"]
    await wait_until(lambda: all_sent(mongo_url, notifier_db), what="nothing left to send")
    assert [READY in s for s in subjects(smtp, early.email)] == [False, True, False]
    assert len(subjects(smtp, refused.email)) == 1  # its record was refused: only the confirmation
    assert len(subjects(smtp, held.email)) == 1  # not released yet: only the confirmation
    assert len(subjects(smtp, late.email)) == 2
