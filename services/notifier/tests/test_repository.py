"""Leasing and recording against the real database: a search takes the rows free to take (their
`lease_until` passed), never a row another dispatcher holds, one due later, one following a
confirmation, or one sent or failed; an outcome changes only what it may."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import ASCENDING
from pymongo.errors import BulkWriteError

from crs_shared.clock import ManualClock
from crs_shared.mongo import create_client
from notifier.domain.notifications import Status
from notifier.recording import Recorder
from notifier.repository import FINISHED, FOLLOWS, NotifierRepository, Outcome
from tests.support.apps import unique_database

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


def row(notification_id: str) -> dict:
    return {"_id": notification_id, "kind": "results_ready", "candidate_id": "C1", "email": "c1@example.com",
            "language": "en", "context": {"reset_url": "secret"}, "status": Status.QUEUED, "due_at": NOW,
            "lease_until": NOW, "lease_owner": None, "attempts": 0, "created_at": NOW}


@pytest.fixture
async def repository(mongo_url):
    client = create_client(mongo_url)
    yield NotifierRepository(client[unique_database("notifier_repo")])
    await client.close()


async def add(repository: NotifierRepository, rows: list[dict]) -> None:
    await repository._notifications.insert_many([dict(r) for r in rows])


def sent(row_id: str, owner: str = "pass-1", then: tuple[str, ...] = ()) -> Outcome:
    return Outcome(row_id, owner, sent=True, then=then)


def failed(row_id: str, reason: str, owner: str = "pass-1", then: tuple[str, ...] = ()) -> Outcome:
    return Outcome(row_id, owner, sent=False, error=reason, then=then)


async def test_a_search_leases_the_longest_free_rows_and_none_leased_due_later_following_or_finished(repository):
    later = NOW + timedelta(hours=1)
    await add(repository, [
        row("b"), dict(row("a"), lease_until=NOW - timedelta(minutes=1)),
        dict(row("later"), due_at=later, lease_until=later),
        dict(row("held"), lease_until=NOW + LEASE, lease_owner="another dispatcher"),
        dict(row("following"), lease_until=FOLLOWS),
        dict(row("sent"), status=Status.SENT, lease_until=FINISHED),
        dict(row("early"), due_at=later),  # free to take by its lease, but not due: never sent early
    ])

    leased = await repository.lease_due(NOW, "pass-1", LEASE, 1)

    assert [(r["_id"], r["lease_owner"], r["lease_until"]) for r in leased] == [("a", "pass-1", NOW + LEASE)]
    assert [r["_id"] for r in await repository.lease_due(NOW, "pass-2", LEASE, 50)] == ["b"]
    assert await repository.lease_due(NOW, "pass-3", LEASE, 50) == []
    assert (await repository.get("held"))["lease_owner"] == "another dispatcher"


async def test_outcomes_are_recorded_in_one_write_and_a_finished_row_keeps_no_context(repository):
    await add(repository, [dict(row(i), lease_owner="pass-1") for i in ("sent", "failed", "retried")])
    retry_at = NOW + timedelta(minutes=5)
    await repository.record([sent("sent"), failed("failed", "mailbox unavailable"),
                             Outcome("retried", "pass-1", sent=False, error="server busy", retry_at=retry_at)], NOW)

    as_sent, as_failed, as_retried = [await repository.get(i) for i in ("sent", "failed", "retried")]
    assert (as_sent["status"], as_sent["lease_until"], as_sent["attempts"]) == (Status.SENT, FINISHED, 1)
    assert (as_failed["status"], as_failed["last_error"]) == (Status.FAILED, "mailbox unavailable")
    assert "context" not in as_sent and "context" not in as_failed  # a reset link does not rest here
    assert (as_retried["status"], as_retried["lease_until"], as_retried["last_error"]) == \
        (Status.QUEUED, retry_at, "server busy")
    assert as_retried["context"] == {"reset_url": "secret"}
    assert [r["_id"] for r in await repository.lease_due(retry_at, "pass-2", LEASE, 50)] == ["retried"]


async def test_a_sent_email_is_recorded_whoever_holds_it_and_a_failure_only_by_its_holder(repository):
    await add(repository, [dict(row("sent"), lease_owner="pass-2"), dict(row("failed"), lease_owner="pass-2")])
    await repository.record([sent("sent", owner="pass-1"), failed("failed", "refused", owner="pass-1")], NOW)
    assert (await repository.get("sent"))["status"] == Status.SENT
    assert (await repository.get("failed"))["status"] == Status.QUEUED
    await repository.record([sent("sent", owner="pass-2")], NOW + LEASE)  # recorded already: unchanged
    assert (await repository.get("sent"))["sent_at"] == NOW


async def test_the_rows_that_follow_an_email_become_due_once_it_is_sent_or_failed(repository):
    held = {"lease_until": NOW + LEASE, "lease_owner": "pass-1"}
    await add(repository, [dict(row("confirmation"), **held), dict(row("results"), lease_until=FOLLOWS),
                           dict(row("other confirmation"), **held), dict(row("reset"), lease_until=FOLLOWS)])
    await repository.record([Outcome("confirmation", "pass-1", sent=False, error="busy", retry_at=NOW + LEASE,
                                     then=("results",))], NOW)
    assert await repository.lease_due(NOW, "pass-2", LEASE, 50) == []  # a retry is not done yet

    await repository.record([sent("confirmation", then=("results",)),
                             failed("other confirmation", "refused", then=("reset",))], NOW)
    assert sorted(r["_id"] for r in await repository.lease_due(NOW, "pass-2", LEASE, 50)) == ["reset", "results"]


async def test_a_lease_is_extended_only_by_its_holder_and_a_released_row_is_free_at_once(repository):
    held = {"lease_until": NOW + LEASE, "lease_owner": "handover-1"}
    await add(repository, [dict(row("handed"), **held), dict(row("sent"), **held),
                           dict(row("another's"), **held | {"lease_owner": "pass-2"})])
    assert await repository.extend_lease("handed", "handover-1", NOW + 2 * LEASE) is True
    assert await repository.extend_lease("another's", "handover-1", NOW + 2 * LEASE) is False
    await repository.record([sent("sent")], NOW)
    assert await repository.extend_lease("sent", "handover-1", NOW + 2 * LEASE) is False

    assert await repository.release(["handed", "sent", "another's"], "handover-1", NOW) == 1
    assert [r["_id"] for r in await repository.lease_due(NOW, "pass-3", LEASE, 50)] == ["handed"]
    assert (await repository.get("sent"))["lease_until"] == FINISHED


async def test_the_queue_counts_every_row_not_finished_and_the_failed_are_listed_and_requeued(repository):
    later, held = NOW + timedelta(hours=1), {"lease_until": NOW + LEASE, "lease_owner": "pass-1"}
    await add(repository, [row("free"), dict(row("held"), **held), dict(row("later"), due_at=later, lease_until=later),
                           dict(row("following"), lease_until=FOLLOWS), dict(row("sent"), **held),
                           dict(row("failed"), **held)])
    await repository.record([sent("sent"), failed("failed", "mailbox unavailable")], NOW)

    assert await repository.count_queued() == 4
    assert [(r["_id"], r["last_error"]) for r in await repository.failed()] == [("failed", "mailbox unavailable")]
    assert [r["_id"] for r in await repository.failed_of(["results_ready"])] == ["failed"]
    assert await repository.requeue([{"_id": "failed", "context": {"session": "2026-06"}}], NOW) == 1
    assert (await repository.count_queued(), await repository.failed()) == (5, [])
    assert (await repository.get("failed"))["context"] == {"session": "2026-06"}


async def test_a_contact_keeps_the_emails_that_wait_for_its_registration(repository):
    await repository.keep_waiting(None, {"C1": [{"_id": "a"}], "C2": [{"_id": "b"}]})
    await repository.keep_waiting(None, {"C1": [{"_id": "c"}]})
    before = await repository.register_contact(None, {"_id": "C1", "email": "c1@example.com"})
    assert before["waiting"] == [{"_id": "a"}, {"_id": "c"}]
    assert await repository.find_contact(None, "C1") == {"_id": "C1", "email": "c1@example.com"}
    assert [c["_id"] for c in await repository.find_contacts(None, ["C1", "C2", "C3"])] == ["C1", "C2"]


async def test_a_database_made_by_an_older_notifier_is_upgraded_once(repository):
    notifications = repository._notifications
    await notifications.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
    await notifications.create_index([("candidate_id", ASCENDING)])
    await add(repository, [row("queued"), dict(row("failed"), status=Status.FAILED, lease_until=FINISHED),
                           dict(row("sent"), status=Status.SENT, lease_until=NOW)])  # the marks of then
    # A results part's emails in a mailing, one of them sent already (it has its row).
    mailed = [{k: v for k, v in row(i).items() if k not in ("lease_until", "lease_owner")} for i in ("m1", "sent")]
    await repository._db["mailings"].insert_one({"_id": "m", "rows": mailed, "lease_until": NOW})
    await repository._db["mailing_sources"].insert_one({"_id": "board:batch", "mailings": 1})

    await repository.upgrade(NOW)
    await repository.upgrade(NOW)  # a second replica, or the next start: nothing left to do

    assert list(await notifications.index_information()) == ["_id_"]
    assert set(await repository._db.list_collection_names()) == {"notifications"}
    assert [r["_id"] for r in await repository.failed()] == ["failed"]
    assert (await repository.get("sent"))["lease_until"] == FINISHED
    assert await repository.count_queued() == 2
    assert sorted(r["_id"] for r in await repository.lease_due(NOW + LEASE, "pass-1", LEASE, 50)) == ["m1", "queued"]


async def test_two_replicas_starting_at_once_both_upgrade_an_older_database(repository):
    # notifier-migrate runs in each pod's init container: two of them at once must both finish.
    mailed = [{k: v for k, v in row(f"m{i}").items() if k not in ("lease_until", "lease_owner")} for i in range(50)]
    await repository._db["mailings"].insert_one({"_id": "m", "rows": mailed, "lease_until": NOW})
    other = NotifierRepository(repository._db)

    await asyncio.gather(repository.upgrade(NOW), other.upgrade(NOW))

    assert await repository.count_queued() == 50


# What PyMongo raises when the writes were applied on the primary but a majority did not acknowledge
# them in time (a failover under way): they may be rolled back. SecantusDB has no fail points to
# make one (docs/mongodb.md lists the check for a replica set).
def unacknowledged(inserted: int) -> BulkWriteError:
    return BulkWriteError({"writeErrors": [], "nInserted": inserted, "writeConcernErrors": [
        {"code": 64, "codeName": "WriteConcernFailed", "errmsg": "waiting for replication timed out"}]})


async def test_an_upgrade_whose_rows_a_majority_did_not_acknowledge_fails_rather_than_drops_the_mailing(
        repository, monkeypatch):
    mailed = [{k: v for k, v in row("m1").items() if k not in ("lease_until", "lease_owner")}]
    await repository._db["mailings"].insert_one({"_id": "m", "rows": mailed, "lease_until": NOW})

    async def insert_many(documents, ordered):
        raise unacknowledged(len(documents))
    monkeypatch.setattr(repository._notifications, "insert_many", insert_many)

    with pytest.raises(BulkWriteError):
        await repository.upgrade(NOW)
    assert await repository._db["mailings"].count_documents({}) == 1  # kept, for the next migrate


async def test_outcomes_a_majority_did_not_acknowledge_are_written_again(repository):
    await add(repository, [row("a")])
    await repository.lease_due(NOW, "pass-1", LEASE, 1)
    record, tries = repository.record, []

    async def unacknowledged_once(outcomes, now):
        tries.append(now)
        await record(outcomes, now)
        if len(tries) == 1:
            raise unacknowledged(len(outcomes))
    repository.record = unacknowledged_once

    recorder = Recorder(repository, ManualClock(NOW), group=1)
    recorder.add(sent("a"))
    await recorder.flush()

    assert len(tries) == 2
    assert (await repository.get("a"))["status"] == Status.SENT
