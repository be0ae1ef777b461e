"""Leasing against the real database: a search takes the rows free to take (their `lease_until`
passed), never a row another pass holds, one due later, or one sent or failed; and mailings, leased
as a whole, whose emails get the rows a queued row would have after the same outcome."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pymongo import ASCENDING

from crs_shared.mongo import create_client
from notifier.domain.notifications import Status
from notifier.repository import FINISHED, GAVE_UP, NotifierRepository

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


async def test_a_released_row_is_free_at_once_and_only_the_owners_queued_rows_are_released(repository):
    held, others = {"lease_until": NOW + LEASE, "lease_owner": "handover-1"}, {"lease_owner": "pass-2"}
    await add(repository, [dict(row("handed"), **held), dict(row("sent"), **held),
                           dict(row("another's"), **held | others), dict(row("not named"), **held)])
    await repository.mark_sent(["sent"], "handover-1", NOW)

    assert await repository.release(["handed", "sent", "another's"], "handover-1", NOW) == 1

    assert [r["_id"] for r in await repository.lease_due(NOW, "pass-3", LEASE, 50)] == ["handed"]
    assert (await repository.get("sent"))["lease_until"] == FINISHED


LINK = "https://results.example.org/reset-password?token=SECRET123"


def reset_row(notification_id: str, **fields) -> dict:
    context = {"candidate_id": "C1", "given_name": "Amy", "reset_url": LINK, "expires_at": NOW}
    return dict(row(notification_id), kind="password_reset", context=context, **fields)


async def test_a_failed_row_loses_its_reset_link_as_a_sent_one_loses_its_context(repository):
    await add(repository, [reset_row("sent", lease_owner="pass-1"), reset_row("failed", lease_owner="pass-1")])
    await repository.mark_sent(["sent"], "pass-1", NOW)
    await repository.mark_failed("failed", "pass-1", NOW, "mailbox unavailable")
    email = {k: v for k, v in reset_row("of-a-mailing").items() if k != "lease_until"} | {
        "mailing": "m1", "lease_until": NOW + LEASE, "lease_owner": "handover-1"}
    await repository.record_failed(email, NOW, "mailbox unavailable")

    assert "context" not in await repository.get("sent")
    for failed in ("failed", "of-a-mailing"):
        kept = (await repository.get(failed))["context"]
        assert kept == {"candidate_id": "C1", "given_name": "Amy", "expires_at": NOW}, failed
    assert "SECRET123" not in str(await repository.failed())


async def test_a_failed_password_reset_is_not_queued_again_the_other_failed_rows_are(repository):
    await add(repository, [reset_row("reset", lease_owner="pass-1"), dict(row("results"), lease_owner="pass-1")])
    for failed in ("reset", "results"):
        await repository.mark_failed(failed, "pass-1", NOW, "mailbox unavailable")

    assert await repository.requeue_failed(NOW) == 1
    assert [r["_id"] for r in await repository.failed()] == ["reset"]
    assert [r["_id"] for r in await repository.lease_due(NOW, "pass-2", LEASE, 50)] == ["results"]


async def test_failed_rows_of_an_older_notifier_lose_their_reset_links_at_the_upgrade(repository):
    failed = {"status": Status.FAILED, "lease_until": GAVE_UP}
    await add(repository, [reset_row("failed", **failed), reset_row("queued"), dict(row("other"), **failed)])

    await repository.upgrade()

    assert "reset_url" not in (await repository.get("failed"))["context"]
    assert (await repository.get("queued"))["context"]["reset_url"] == LINK  # still to be sent
    assert (await repository.get("other"))["context"] == {}


async def test_the_queue_counts_every_row_not_finished_and_the_failed_are_listed_on_their_own(repository):
    later, held = NOW + timedelta(hours=1), {"lease_until": NOW + LEASE, "lease_owner": "pass-1"}
    await add(repository, [row("free"), dict(row("held"), **held), dict(row("later"), due_at=later, lease_until=later),
                           dict(row("sent"), **held), dict(row("failed"), **held)])
    await repository.mark_sent(["sent"], "pass-1", NOW)
    await repository.mark_failed("failed", "pass-1", NOW, "mailbox unavailable")

    assert await repository.count_queued() == 3
    assert [(r["_id"], r["last_error"]) for r in await repository.failed()] == [("failed", "mailbox unavailable")]
    await repository.requeue_failed(NOW)
    assert (await repository.count_queued(), await repository.failed()) == (4, [])


async def test_a_database_made_by_an_older_notifier_is_upgraded_once_and_its_retired_indexes_dropped(repository):
    notifications = repository._notifications
    await notifications.create_index([("status", ASCENDING), ("due_at", ASCENDING)])
    await notifications.create_index([("candidate_id", ASCENDING)])
    await add(repository, [row("queued"), dict(row("failed"), status=Status.FAILED, lease_until=FINISHED),
                           dict(row("sent"), status=Status.SENT, lease_until=NOW)])  # the marks of then

    await repository.upgrade()
    await repository.upgrade()  # a second replica, or the next start: nothing left to do

    assert list(await notifications.index_information()) == ["_id_"]
    assert [r["_id"] for r in await repository.failed()] == ["failed"]
    assert (await repository.get("sent"))["lease_until"] == FINISHED
    assert await repository.count_queued() == 1
    assert [r["_id"] for r in await repository.lease_due(NOW + LEASE, "pass-1", LEASE, 50)] == ["queued"]


def mailing(mailing_id: str, candidate_ids: list[str], source: str = "board:batch", **fields) -> dict:
    rows = [{k: v for k, v in dict(row(f"results_ready:{c}:{source}"), candidate_id=c).items()
             if k not in ("lease_until", "lease_owner")} for c in candidate_ids]
    return {"_id": mailing_id, "source": source, "candidate_ids": candidate_ids, "emails": len(rows), "rows": rows,
            "due_at": NOW, "lease_until": NOW, "lease_owner": None, "created_at": NOW} | fields


async def test_a_mailing_is_leased_as_a_whole_when_free_and_due_and_held_until_finished(repository):
    later = NOW + timedelta(hours=1)
    for m in (mailing("free", ["C1"]), mailing("held", ["C2"], lease_until=NOW + LEASE, lease_owner="other"),
              mailing("later", ["C3"], due_at=later, lease_until=later)):
        await repository.add_mailing(None, m)

    leased = await repository.lease_mailing(NOW, "pass-1", LEASE)
    assert (leased["_id"], leased["lease_owner"], leased["lease_until"]) == ("free", "pass-1", NOW + LEASE)
    assert await repository.lease_mailing(NOW, "pass-2", LEASE) is None
    assert await repository.renew_mailing("free", "pass-2", NOW) is False
    assert await repository.renew_mailing("free", "pass-1", NOW + 2 * LEASE) is True
    await repository.finish_mailing("free", "pass-2")  # not its owner: nothing happens
    assert await repository.count_mailings({"_id": "free"}) == 1
    await repository.finish_mailing("free", "pass-1")
    assert await repository.count_mailings({}) == 2
    # An hour on, the other holder's lease has ended too (it died, say): the longest free first.
    assert [(await repository.lease_mailing(later, owner, LEASE))["_id"] for owner in ("pass-3", "pass-4")] == \
        ["held", "later"]
    assert await repository.release_mailings(["later"], "pass-4", later) == 1
    assert (await repository.lease_mailing(later, "pass-5", LEASE))["_id"] == "later"


async def test_candidates_in_a_mailing_of_the_same_source_are_found_and_counted_as_queued(repository):
    await repository.add_mailing(None, mailing("part-1", ["C1", "C2"]))
    await repository.add_mailing(None, mailing("other-batch", ["C3"], source="board:other"))
    assert await repository.in_mailings(None, "board:batch", ["C2", "C3", "C4"]) == {"C2"}
    assert await repository.count_queued() == 3


async def test_a_mailing_email_gets_the_row_a_queued_row_gets_after_the_same_outcome(repository):
    await add(repository, [dict(row("sent"), lease_owner="pass-1"), dict(row("failed"), lease_owner="pass-1"),
                           dict(row("retried"), lease_owner="pass-1")])
    await repository.mark_sent(["sent"], "pass-1", NOW)
    await repository.mark_failed("failed", "pass-1", NOW, "mailbox unavailable")
    retry_at = NOW + timedelta(minutes=5)
    await repository.schedule_retry("retried", "pass-1", retry_at, "server busy")

    def email(notification_id: str) -> dict:
        return {k: v for k, v in row(f"m-{notification_id}").items() if k != "lease_until"} | {
            "mailing": "m1", "lease_until": NOW + LEASE, "lease_owner": "handover-1"}
    await repository.record_sent([email("sent")], NOW)
    await repository.record_failed(email("failed"), NOW, "mailbox unavailable")
    await repository.record_retry(email("retried"), retry_at, "server busy")
    await repository.record_sent([email("sent")], NOW + LEASE)  # recorded before a crash: kept as it was

    for outcome in ("sent", "failed", "retried"):
        as_row, as_email = await repository.get(outcome), await repository.get(f"m-{outcome}")
        assert {k: v for k, v in as_email.items() if k not in ("_id", "lease_owner")} == \
            {k: v for k, v in as_row.items() if k not in ("_id", "lease_owner")}, outcome
    assert [r["_id"] for r in await repository.lease_due(retry_at, "pass-2", LEASE, 50)] == ["m-retried", "retried"]
