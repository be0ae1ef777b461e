"""Leasing against the real database: a search takes the rows free to take (their `lease_until`
passed), never a row another pass holds, one due later, or one sent or failed."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crs_shared.mongo import create_client
from notifier.domain.notifications import Status
from notifier.repository import FINISHED, NotifierRepository

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def row(notification_id: str) -> dict:
    return {"_id": notification_id, "kind": "results_ready", "candidate_id": "C1", "email": "c1@example.com",
            "language": "en", "context": {}, "status": Status.QUEUED, "due_at": NOW, "lease_until": NOW,
            "lease_owner": None, "attempts": 0, "created_at": NOW}


@pytest.fixture
async def repository(mongo_url):
    client = create_client(mongo_url)
    yield NotifierRepository(client[f"notifier_repo_{uuid.uuid4().hex[:8]}"])
    await client.close()


async def add(repository: NotifierRepository, rows: list[dict]) -> None:
    await repository._notifications.insert_many([dict(r) for r in rows])


async def test_a_search_leases_the_longest_free_rows_and_none_leased_due_later_or_finished(repository):
    later = NOW + timedelta(hours=1)
    await add(repository, [
        row("b"), dict(row("a"), lease_until=NOW - timedelta(minutes=1)),
        dict(row("later"), due_at=later, lease_until=later),
        dict(row("held"), lease_until=NOW + LEASE, lease_owner="another dispatcher"),
        dict(row("sent"), status=Status.SENT, lease_until=FINISHED),
        dict(row("early"), due_at=later),  # free to take by its lease, but not due: never sent early
    ])

    leased = await repository.lease_due(NOW, "pass-1", LEASE, 1)

    assert [(r["_id"], r["lease_owner"], r["lease_until"]) for r in leased] == [("a", "pass-1", NOW + LEASE)]
    assert [r["_id"] for r in await repository.lease_due(NOW, "pass-2", LEASE, 50)] == ["b"]
    assert await repository.lease_due(NOW, "pass-3", LEASE, 50) == []
    assert (await repository.get("held"))["lease_owner"] == "another dispatcher"


async def test_a_row_sent_or_failed_is_never_free_again_until_requeued(repository):
    await add(repository, [row("sent"), row("failed")])
    assert len(await repository.lease_due(NOW, "pass-1", LEASE, 50)) == 2
    await repository.mark_sent(["sent"], "pass-1", NOW)
    await repository.mark_failed("failed", "pass-1", NOW, "mailbox unavailable")

    a_year_on = NOW + timedelta(days=365)
    assert await repository.lease_due(a_year_on, "pass-2", LEASE, 50) == []

    assert await repository.requeue_failed(a_year_on) == 1
    assert [r["_id"] for r in await repository.lease_due(a_year_on, "pass-3", LEASE, 50)] == ["failed"]
