"""A unit of work in memory, for handler unit tests (cosmicpython's FakeUnitOfWork): no database,
no session; it keeps what the handler published and which events it handled, once committed."""

from datetime import datetime

from crs_shared.messaging.contracts import EventPayload
from crs_shared.messaging.envelope import Envelope


class FakeUnitOfWork:
    session = None  # what a fake repository is given in place of a real session

    def __init__(self, units: "FakeUnitsOfWork", now: datetime):
        self.now = now
        self._units = units
        self._published: list[tuple[EventPayload, str | None]] = []
        self.committed = False

    def publish(self, event: EventPayload, *, correlation_id: str | None = None) -> None:
        self._published.append((event, correlation_id))

    async def __aenter__(self) -> "FakeUnitOfWork":
        return self

    async def __aexit__(self, kind, error, traceback) -> bool:
        if error is None:
            self.committed = True
            self._units.commits += 1
            self._units.published += [event for event, _ in self._published]
            self._units.correlation_ids += [correlation_id for _, correlation_id in self._published]
        return False


class FakeAttempts:
    def __init__(self, units: "FakeUnitsOfWork", now: datetime, inbox_key: str | None = None):
        self._units = units
        self._now = now
        self._inbox_key = inbox_key
        self.committed = False

    async def __aiter__(self):
        if self._inbox_key in self._units.handled:
            return
        uow = FakeUnitOfWork(self._units, self._now)
        yield uow
        if uow.committed:
            self.committed = True
            if self._inbox_key is not None:
                self._units.handled.add(self._inbox_key)


class FakeUnitsOfWork:
    def __init__(self) -> None:
        self.published: list[EventPayload] = []  # by committed units, in order
        self.correlation_ids: list[str | None] = []  # given with each, None: the default
        self.handled: set[str] = set()
        self.commits = 0

    def attempts(self, now: datetime) -> FakeAttempts:
        return FakeAttempts(self, now)

    def handling(self, envelope: Envelope, handler: str, now: datetime) -> FakeAttempts:
        return FakeAttempts(self, now, f"{handler}:{envelope.event_id}")
