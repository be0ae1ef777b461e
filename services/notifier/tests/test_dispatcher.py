"""The dispatcher's bookkeeping around a send, with a fake repository and pool (pure logic; the
real SMTP server and database are in test_delivery and tests/reliability)."""

from datetime import UTC, datetime

from pymongo.errors import AutoReconnect

from crs_shared.clock import ManualClock
from notifier.config import Settings
from notifier.dispatcher import Dispatcher

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

    async def mark_sent(self, notification_id, owner, now):
        if self.failures_left:
            self.failures_left -= 1
            raise AutoReconnect("database unreachable")
        self.recorded.append((notification_id, owner))

    async def count(self, _query):
        return 0


class CountingPool:
    def __init__(self):
        self.sent = []

    async def send(self, message):
        self.sent.append(message["Message-ID"])


async def test_an_email_accepted_during_a_database_outage_is_recorded_once_the_database_is_back():
    repository, pool = OneRowRepository(failures_before_recorded=3), CountingPool()
    dispatcher = Dispatcher(repository, pool, ManualClock(NOW), Settings())

    assert await dispatcher.dispatch_once() == 1
    assert len(pool.sent) == 1
    assert [notification for notification, _owner in repository.recorded] == ["n1"]
    assert repository.failures_left == 0
