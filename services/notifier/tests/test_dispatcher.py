"""The dispatcher's bookkeeping around each send, with a fake repository and pool (the real SMTP
server and database are in test_delivery, test_sending and tests/reliability)."""

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from pymongo.errors import AutoReconnect

from crs_shared.clock import ManualClock
from notifier.config import Settings
from notifier.dispatcher import Dispatcher
from notifier.mailer import PermanentSendError, SmtpConfigurationError, TransientSendError
from tests.support.waiting import wait_until

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ROW = {"_id": "n1", "kind": "registration_confirmation", "language": "en", "email": "amy@example.com",
       "context": {"candidate_id": "123456", "given_name": "Amy", "family_name": "Chen"},
       "correlation_id": "req-1", "attempts": 0, "created_at": NOW, "due_at": NOW}


def row(notification_id: str, **fields) -> dict:
    return dict(ROW, _id=notification_id, email=f"{notification_id}@example.com", **fields)


class FakeRepository:
    """A search leases `searchable` once; `record` fails `record_failures` times first."""

    def __init__(self, searchable: list[dict] = (), record_failures: int = 0, extendable: bool = True):
        self.searchable, self.record_failures, self.extendable = list(searchable), record_failures, extendable
        self.searches = 0
        self.outcomes: list = []
        self.writes: list[list] = []
        self.extended: list[str] = []
        self.released: list[tuple[list[str], str]] = []

    async def lease_due(self, now, owner, lease, limit):
        self.searches += 1
        taken, self.searchable = self.searchable[:limit], self.searchable[limit:]
        return [dict(r, lease_until=now + lease, lease_owner=owner) for r in taken]

    async def extend_lease(self, notification_id, owner, until):
        self.extended.append(notification_id)
        return self.extendable

    async def record(self, outcomes, now):
        if self.record_failures:
            self.record_failures -= 1
            raise AutoReconnect("database unreachable")
        self.writes.append(list(outcomes))
        self.outcomes.extend(outcomes)

    async def release(self, notification_ids, owner, now):
        self.released.append((list(notification_ids), owner))
        return len(notification_ids)

    async def count_queued(self):
        return 0

    def by_row(self) -> dict:
        return {o.row_id: o for o in self.outcomes}


class FakePool:
    """Sends instantly, except to the addresses in `fails` (which raise) and while `gate` is closed."""

    size = 2
    fault = None  # never paused (the pause itself: test_smtp_security.py)

    def __init__(self, fails: dict[str, Exception] | None = None, per_second: float | None = None):
        self.fails = fails or {}
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.waiting = 0
        self._per_second = per_second

    def per_second(self):
        return self._per_second

    @contextlib.asynccontextmanager
    async def connection(self):
        yield self

    async def send(self, message, sender, recipients):
        self.waiting += 1
        await self.gate.wait()
        self.waiting -= 1
        if recipients[0] in self.fails:
            raise self.fails[recipients[0]]
        self.sent.append(recipients[0])


@contextlib.asynccontextmanager
async def running(dispatcher: Dispatcher):
    task = asyncio.create_task(dispatcher.run())
    try:
        yield
    finally:
        dispatcher.stop()
        await task


def settings(**overrides) -> Settings:
    return Settings(**({"dispatch_poll_seconds": 0.01, "send_retry_base_seconds": 1} | overrides))


async def recorded(repository: FakeRepository, count: int):
    async def check():
        return len(repository.outcomes) >= count
    await wait_until(check, timeout=10, interval=0.01, what=f"{count} outcomes recorded")


async def test_one_emails_failure_is_its_own_and_every_outcome_is_recorded():
    rows = [row(f"n{i}") for i in range(6)]
    pool = FakePool(fails={"n1@example.com": PermanentSendError("SMTP 550: no such mailbox"),
                           "n2@example.com": TransientSendError("SMTP 451: try later"),
                           "n3@example.com": RuntimeError("a bug in one email's path")})
    rows[4]["email"] = "josé@example.com"  # cannot be encoded: fails before any send
    repository = FakeRepository(searchable=rows)
    async with running(Dispatcher(repository, pool, ManualClock(NOW), settings())):
        await recorded(repository, 6)

    outcomes = repository.by_row()
    assert sorted(pool.sent) == ["n0@example.com", "n5@example.com"]
    assert outcomes["n0"].sent and outcomes["n5"].sent
    assert (outcomes["n1"].error, outcomes["n1"].retry_at) == ("SMTP 550: no such mailbox", None)
    assert "cannot be sent to" in outcomes["n4"].error and outcomes["n4"].retry_at is None
    for transient in ("n2", "n3"):  # tried again on its own schedule
        assert not outcomes[transient].sent and outcomes[transient].retry_at > NOW


async def test_a_passing_failure_of_an_email_past_the_retry_window_fails_it():
    old = row("old", created_at=NOW - timedelta(days=2))
    repository = FakeRepository(searchable=[old])
    pool = FakePool(fails={"old@example.com": TransientSendError("connection refused")})
    async with running(Dispatcher(repository, pool, ManualClock(NOW), settings())):
        await recorded(repository, 1)
    [outcome] = repository.outcomes
    assert (outcome.error, outcome.retry_at) == ("gave up retrying: connection refused", None)


async def test_an_email_accepted_during_a_database_outage_is_recorded_once_the_database_is_back():
    repository, pool = FakeRepository(searchable=[row("n1")], record_failures=3), FakePool()
    async with running(Dispatcher(repository, pool, ManualClock(NOW), settings())):
        await recorded(repository, 1)
    assert pool.sent == ["n1@example.com"] and [o.row_id for o in repository.outcomes] == ["n1"]
    assert repository.record_failures == 0


async def test_rows_written_with_the_handover_lease_are_sent_without_leasing_them_again():
    repository, pool = FakeRepository(), FakePool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), settings(dispatch_poll_seconds=3600))
    [lease] = dispatcher.handover_leases(NOW, 1)
    assert lease["lease_until"] == NOW + timedelta(seconds=60)
    async with running(dispatcher):
        # A row written without the lease (no room, or due later) is the search's, not the hand-over's.
        await dispatcher.hand_over([row("fresh", **lease), row("free", lease_until=NOW, lease_owner=None)])
        await recorded(repository, 1)
    assert pool.sent == ["fresh@example.com"] and repository.outcomes[0].owner == lease["lease_owner"]
    assert repository.extended == []  # sent as it was, under the lease it was written with


async def test_right_before_a_send_a_short_lease_is_extended_or_the_email_left_to_its_new_holder():
    clock = ManualClock(NOW)
    for extendable, sent in ((True, ["waited@example.com"]), (False, [])):
        repository, pool = FakeRepository(extendable=extendable), FakePool()
        dispatcher = Dispatcher(repository, pool, clock, settings(dispatch_poll_seconds=3600))
        [lease] = dispatcher.handover_leases(clock.now(), 1)
        clock.advance(timedelta(seconds=31))  # less than half the lease left
        async with running(dispatcher):
            await dispatcher.hand_over([row("waited", **lease)])

            async def tried():
                return repository.extended == ["waited"]
            await wait_until(tried, timeout=10, interval=0.01, what="the lease checked")
        assert pool.sent == sent
        assert len(repository.outcomes) == len(sent)  # nothing recorded for a row another dispatcher holds


async def test_sends_are_recorded_in_groups_and_at_once_when_no_write_is_under_way():
    repository, pool = FakeRepository(searchable=[row(f"n{i}") for i in range(7)]), FakePool()
    pool.gate.clear()  # all seven wait for the SMTP server together
    async with running(Dispatcher(repository, pool, ManualClock(NOW), settings(dispatch_record_group=3))):
        async def all_waiting():
            return pool.waiting == 7
        await wait_until(all_waiting, timeout=10, interval=0.01, what="seven sends under way")
        pool.gate.set()
        await recorded(repository, 7)
    assert all(len(write) <= 3 for write in repository.writes) and len(repository.writes) >= 3


async def test_no_more_emails_are_taken_up_than_the_pool_can_send_in_a_quarter_of_the_lease():
    # 1 email a second, a 60 s lease: 15 at once. The pool's floor (its size, 2) is below that.
    pool = FakePool(per_second=1.0)
    repository = FakeRepository(searchable=[row(f"n{i}") for i in range(40)])
    pool.gate.clear()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), settings())
    assert dispatcher.in_flight_limit() == 15
    async with running(dispatcher):
        async def taken_up():
            return pool.waiting == 15
        await wait_until(taken_up, timeout=10, interval=0.01, what="15 emails taken up")
        assert len(repository.searchable) == 25
        # No room left for the hand-over either: rows due now are written free for any replica.
        assert dispatcher.handover_leases(NOW, 2) == [None, None]
        pool.gate.set()
        await recorded(repository, 40)
    assert len(pool.sent) == 40


async def test_rows_left_in_the_hand_over_at_a_stop_are_released_not_sent():
    repository, pool = FakeRepository(), FakePool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), settings())
    [lease] = dispatcher.handover_leases(NOW, 1)
    await dispatcher.hand_over([row(f"n{i}", **lease) for i in range(3)])

    dispatcher.stop()
    await dispatcher.run()

    assert pool.sent == [] and repository.searches == 0
    assert repository.released == [(["n0", "n1", "n2"], lease["lease_owner"])]


async def test_a_stop_finishes_and_records_the_emails_taken_up():
    repository, pool = FakeRepository(searchable=[row(f"n{i}") for i in range(4)]), FakePool()
    pool.gate.clear()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), settings())
    task = asyncio.create_task(dispatcher.run())

    async def all_waiting():
        return pool.waiting == 4
    await wait_until(all_waiting, timeout=10, interval=0.01, what="four sends under way")
    dispatcher.stop()
    pool.gate.set()
    await task
    assert len(pool.sent) == 4 and len(repository.outcomes) == 4


async def test_while_the_pool_is_paused_an_email_is_put_back_untried_and_nothing_more_is_taken_up():
    rows = [row(f"n{i}") for i in range(5)]
    pool = FakePool(fails={"n0@example.com": SmtpConfigurationError("the SMTP server refused the login")})
    pool.resumed = asyncio.Event()
    repository = FakeRepository(searchable=rows[:1])
    async with running(Dispatcher(repository, pool, ManualClock(NOW), settings())):
        await recorded(repository, 1)
        pool.fault = "the SMTP server refused the login"  # as the real pool does on that error
        repository.searchable = rows[1:]
        searches = repository.searches
        await asyncio.sleep(0.1)  # ten poll intervals
        assert repository.searches == searches and len(repository.outcomes) == 1
        pool.fault = None
        pool.resumed.set()
        await recorded(repository, 5)
    [put_back] = [o for o in repository.outcomes if o.row_id == "n0"]
    assert (put_back.sent, put_back.retry_at, put_back.counts) == (False, NOW, False)
    assert put_back.error == "the SMTP server refused the login"
    assert sorted(pool.sent) == [f"n{i}@example.com" for i in range(1, 5)]
