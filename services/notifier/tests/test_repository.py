"""Leasing against the real database: rows handed over are leased by `_id` and, when all of them
were still free, not read back; rows another pass holds stay with it."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crs_shared.mongo import create_client
from notifier.domain.notifications import Status
from notifier.repository import NotifierRepository

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


async def test_rows_handed_over_are_leased_by_id_and_returned_with_their_lease(repository):
    rows = [row(f"n{i}") for i in range(3)]
    await add(repository, rows)

    leased = await repository.lease_due(NOW, "pass-1", LEASE, 50, among=rows)

    assert [r["_id"] for r in leased] == ["n0", "n1", "n2"]
    assert all(r["lease_owner"] == "pass-1" and r["lease_until"] == NOW + LEASE for r in leased)
    stored = await repository.find({"lease_owner": "pass-1"})
    assert sorted(r["_id"] for r in stored) == ["n0", "n1", "n2"]


async def test_a_handed_over_row_another_pass_holds_or_sent_stays_out_of_the_lease(repository):
    rows = [row(f"n{i}") for i in range(3)]
    await add(repository, rows)
    assert len(await repository.lease_due(NOW, "other", LEASE, 50, among=rows[:1])) == 1
    await repository.mark_sent(["n0"], "other", NOW)
    assert len(await repository.lease_due(NOW, "other", LEASE, 50, among=rows[1:2])) == 1

    leased = await repository.lease_due(NOW, "pass-2", LEASE, 50, among=rows)

    assert [r["_id"] for r in leased] == ["n2"]
    assert (await repository.get("n0"))["status"] == Status.SENT
    assert (await repository.get("n1"))["lease_owner"] == "other"


async def test_a_search_leases_the_earliest_due_and_nothing_due_later(repository):
    later = dict(row("later"), due_at=NOW + timedelta(hours=1))
    await add(repository, [row("b"), dict(row("a"), due_at=NOW - timedelta(minutes=1)), later])

    leased = await repository.lease_due(NOW, "pass-3", LEASE, 1)

    assert [r["_id"] for r in leased] == ["a"]
    assert [r["_id"] for r in await repository.lease_due(NOW, "pass-4", LEASE, 50)] == ["b"]
