"""The dispatcher's bookkeeping around a send, with a fake repository and pool (pure logic; the
real SMTP server and database are in test_delivery and tests/reliability)."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

from pymongo.errors import AutoReconnect

from crs_shared.clock import ManualClock
from notifier.config import Settings
from notifier.dispatcher import Dispatcher
from tests.support.waiting import wait_until

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ROW = {"_id": "n1", "kind": "registration_confirmation", "language": "en", "email": "amy@example.com",
       "context": {"candidate_id": "123456", "given_name": "Amy", "family_name": "Chen"},
       "correlation_id": "req-1", "attempts": 0, "created_at": NOW}


class OneRowRepository:
    def __init__(self, failures_before_recorded: int):
        self.failures_left = failures_before_recorded
        self.recorded: list[tuple[str, str]] = []
        self.leased = False

    async def lease_due(self, now, owner, lease, limit):
        if self.leased:
            return []
        self.leased = True
        return [dict(ROW)]

    async def mark_sent(self, notification_ids, owner, now):
        if self.failures_left:
            self.failures_left -= 1
            raise AutoReconnect("database unreachable")
        self.recorded.extend((notification_id, owner) for notification_id in notification_ids)

    async def count_queued(self):
        return 0


class CountingPool:
    def __init__(self):
        self.sent = []

    async def send(self, message, sender, recipients):
        self.sent.append(message["Message-ID"])


async def test_an_email_accepted_during_a_database_outage_is_recorded_once_the_database_is_back():
    repository, pool = OneRowRepository(failures_before_recorded=3), CountingPool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), Settings())

    assert await dispatcher.dispatch_once() == 1
    assert len(pool.sent) == 1
    assert [notification for notification, _owner in repository.recorded] == ["n1"]
    assert repository.failures_left == 0


class ManyRowsRepository:
    """A search leases `searchable`."""

    def __init__(self, searchable: list[str] = ()):
        self.searchable = list(searchable)
        self.searches_by_pass: Counter[asyncio.Task] = Counter()  # each pass of `run` is a task
        self.recorded: list[list[str]] = []
        self.owners: set[str] = set()
        self.released: list[tuple[list[str], str, datetime]] = []

    async def lease_due(self, now, owner, lease, limit):
        self.searches_by_pass[asyncio.current_task()] += 1
        ids, self.searchable = self.searchable, []
        return [dict(ROW, _id=i) for i in ids]

    @property
    def searches(self) -> int:
        return sum(self.searches_by_pass.values())

    async def mark_sent(self, notification_ids, owner, now):
        self.recorded.append(list(notification_ids))
        self.owners.add(owner)

    async def release(self, notification_ids, owner, now):
        self.released.append((list(notification_ids), owner, now))
        return len(notification_ids)

    async def lease_mailing(self, now, owner, lease):
        return None

    async def count_queued(self):
        return 0


async def test_rows_written_with_the_handover_lease_are_sent_without_leasing_them_again():
    repository, pool, clock, settings = ManyRowsRepository(), CountingPool(), ManualClock(NOW), Settings()
    dispatcher = Dispatcher(repository, pool, clock, settings)
    lease = dispatcher.handover_lease(NOW)
    assert lease["lease_until"] == NOW + timedelta(seconds=settings.send_lease_seconds)

    await dispatcher.hand_over([dict(ROW, _id="fresh", due_at=NOW, **lease)])
    assert await dispatcher.dispatch_once() == 1
    assert repository.searches == 0 and len(pool.sent) == 1  # sent, with no lease update
    assert repository.recorded == [["fresh"]] and repository.owners == {lease["lease_owner"]}

    # One that waited in the hand-over until less than half its lease was left is not sent here:
    # the search takes it once the lease ends.
    await dispatcher.hand_over([dict(ROW, _id="waited", due_at=NOW, **lease)])
    clock.advance(timedelta(seconds=settings.send_lease_seconds / 2 + 1))
    assert await dispatcher.dispatch_once() == 1
    assert repository.searches == 0 and len(pool.sent) == 1


async def test_rows_due_later_are_not_handed_over_but_left_to_the_search():
    repository, pool = ManyRowsRepository(searchable=["later"]), CountingPool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), Settings())

    later = NOW + timedelta(hours=1)
    await dispatcher.hand_over([dict(ROW, _id="later", due_at=later, lease_until=later, lease_owner=None)])
    assert await dispatcher.dispatch_once() == 1  # nothing handed over: a search
    assert repository.searches == 1
    assert repository.recorded == [["later"]] and len(pool.sent) == 1


async def test_sends_are_recorded_in_groups():
    repository, pool = ManyRowsRepository(searchable=[f"n{i}" for i in range(5)]), CountingPool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), Settings(dispatch_record_group=2))

    assert await dispatcher.dispatch_once() == 5
    assert len(pool.sent) == 5
    assert sorted(len(group) for group in repository.recorded) == [1, 2, 2]
    assert sorted(i for group in repository.recorded for i in group) == [f"n{i}" for i in range(5)]


async def test_rows_left_in_the_hand_over_at_a_stop_are_released_not_sent():
    repository, pool = ManyRowsRepository(), CountingPool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), Settings())
    lease = dispatcher.handover_lease(NOW)
    await dispatcher.hand_over([dict(ROW, _id=f"n{i}", due_at=NOW, **lease) for i in range(3)])

    dispatcher.stop()
    await dispatcher.run()

    assert pool.sent == [] and repository.searches == 0
    assert repository.released == [(["n0", "n1", "n2"], lease["lease_owner"], NOW)]


async def test_while_nothing_is_due_the_other_passes_search_passes_times_less_often_than_the_first():
    repository = ManyRowsRepository()
    dispatcher = Dispatcher(repository, CountingPool(), ManualClock(NOW),
                            Settings(dispatch_passes=4, dispatch_poll_seconds=0.02))
    running = asyncio.create_task(dispatcher.run())

    async def first_pass_searched_often() -> bool:
        return max(repository.searches_by_pass.values(), default=0) >= 24

    await wait_until(first_pass_searched_often, timeout=20, interval=0.01, what="the first pass's searches")
    dispatcher.stop()
    await running

    first, *others = sorted(repository.searches_by_pass.values(), reverse=True)
    assert len(others) == 3
    assert max(others) <= first // 2  # a quarter as often, with room for a loaded machine's timing


async def test_a_search_that_fills_its_batch_wakes_the_passes_asleep():
    # Polls far apart: only a wake-up can make a pass search a second time within the test.
    repository, pool = ManyRowsRepository(searchable=["n0", "n1"]), CountingPool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW),
                            Settings(dispatch_passes=3, dispatch_batch_size=2, dispatch_poll_seconds=3600))
    running = asyncio.create_task(dispatcher.run())

    async def every_pass_searched_again() -> bool:
        counts = repository.searches_by_pass.values()
        return len(counts) == 3 and min(counts) >= 2

    await wait_until(every_pass_searched_again, timeout=10, interval=0.01, what="a second search by every pass")
    dispatcher.stop()
    await running
    assert len(pool.sent) == 2 and repository.recorded == [["n0", "n1"]]


class MailingRepository:
    """One mailing for a search to take (`searchable`); `known` emails already have their row."""

    def __init__(self, searchable: dict | None = None, known: set[str] = frozenset()):
        self.searchable, self.known = searchable, known
        self.recorded: list[str] = []
        self.finished: list[tuple[str, str]] = []
        self.renewals = 0
        self.released: list[tuple[list[str], str]] = []

    async def lease_due(self, now, owner, lease, limit):
        return []

    async def lease_mailing(self, now, owner, lease):
        mailing, self.searchable = self.searchable, None
        return mailing and mailing | {"lease_until": now + lease, "lease_owner": owner}

    async def known_ids(self, session, notification_ids):
        return self.known.intersection(notification_ids)

    async def renew_mailing(self, mailing_id, owner, until):
        self.renewals += 1
        return True

    async def record_sent(self, emails, now):
        self.recorded.extend(email["_id"] for email in emails)

    async def finish_mailing(self, mailing_id, owner):
        self.finished.append((mailing_id, owner))

    async def release_mailings(self, mailing_ids, owner, now):
        self.released.append((list(mailing_ids), owner))
        return len(mailing_ids)

    async def count_queued(self):
        return 0


def mailing(emails: int, **lease) -> dict:
    return {"_id": "m1", "rows": [dict(ROW, _id=f"n{i}", due_at=NOW) for i in range(emails)], **lease}


async def test_a_mailing_handed_over_gets_a_row_for_each_email_sent_then_is_done():
    repository, pool = MailingRepository(), CountingPool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), Settings())
    lease = dispatcher.handover_lease(NOW)
    await dispatcher.hand_over_mailings([mailing(3, **lease)])

    assert await dispatcher.dispatch_once() == 3
    assert len(pool.sent) == 3 and sorted(repository.recorded) == ["n0", "n1", "n2"]  # inserted, never updated
    assert repository.finished == [("m1", lease["lease_owner"])]


async def test_a_mailing_taken_by_a_search_sends_only_its_emails_without_a_row_renewing_its_lease():
    repository = MailingRepository(searchable=mailing(5, lease_until=NOW, lease_owner=None), known={"n1"})
    pool = CountingPool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), Settings(dispatch_batch_size=1, dispatch_passes=2))

    assert await dispatcher.dispatch_once() == 4
    assert sorted(repository.recorded) == ["n0", "n2", "n3", "n4"] and len(pool.sent) == 4
    assert repository.renewals == 1  # before its second slice of two (a batch of one for each of two passes)
    [(finished, owner)] = repository.finished
    assert finished == "m1" and not owner.startswith("handover-")


class SeveralMailingsRepository(MailingRepository):
    def __init__(self, mailings: list[dict]):
        super().__init__()
        self.mailings = list(mailings)

    async def lease_mailing(self, now, owner, lease):
        return self.mailings.pop(0) | {"lease_until": now + lease, "lease_owner": owner} if self.mailings else None


async def test_a_pass_whose_search_found_a_few_emails_searches_again_at_once():
    # Five small mailings due together, polls far apart: each pass goes on searching while it finds any.
    small = [{"_id": f"m{k}", "rows": [dict(ROW, _id=f"m{k}-n0", due_at=NOW)]} for k in range(5)]
    repository, pool = SeveralMailingsRepository(small), CountingPool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), Settings(dispatch_passes=2, dispatch_poll_seconds=3600))
    running = asyncio.create_task(dispatcher.run())

    async def all_finished() -> bool:
        return len(repository.finished) == 5

    await wait_until(all_finished, timeout=10, interval=0.01, what="the five mailings sent")
    dispatcher.stop()
    await running
    assert sorted(repository.recorded) == [f"m{k}-n0" for k in range(5)] and len(pool.sent) == 5


async def test_a_mailing_whose_emails_are_left_in_the_hand_over_at_a_stop_is_released_not_sent():
    repository, pool = MailingRepository(), CountingPool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), Settings())
    lease = dispatcher.handover_lease(NOW)
    await dispatcher.hand_over_mailings([mailing(3, **lease)])

    dispatcher.stop()
    await dispatcher.run()

    assert pool.sent == [] and repository.finished == []
    assert repository.released == [(["m1"], lease["lease_owner"])]
