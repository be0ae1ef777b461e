"""Recording what each try of an email came to (sent, failed, or to retry), in groups."""

import asyncio

from pymongo.errors import BulkWriteError, PyMongoError

from crs_shared.clock import Clock
from crs_shared.logging import get_logger
from crs_shared.mongo import refused_writes
from notifier.repository import NotifierRepository, Outcome

log = get_logger(__name__)
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.1, 2.0


class Recorder:
    """Writes outcomes as they come: a write starts at once when none is under way, else once a
    group (`group` outcomes) is waiting, so a quiet notifier records each email as it is sent and a
    busy one a group a write. What arrives meanwhile goes in the next write. A crash loses only
    the outcomes not yet written: those emails are sent again after their lease, with their
    Message-ID.

    A write is retried in place while the database is unreachable: the SMTP server has those
    emails, so giving up would let their lease run out and another dispatcher send them again.
    Only an outage longer than the lease leaves that window open."""

    def __init__(self, repository: NotifierRepository, clock: Clock, group: int):
        self._repository, self._clock, self._group = repository, clock, group
        self._waiting: list[Outcome] = []
        self._writes: set[asyncio.Task] = set()

    def add(self, outcome: Outcome) -> None:
        self._waiting.append(outcome)
        self._start_writes()

    async def flush(self) -> None:
        """Writes everything added so far; returns once it is written."""
        while self._waiting or self._writes:
            while self._waiting:
                self._start_write()
            await asyncio.gather(*self._writes)

    def _start_writes(self) -> None:
        while self._waiting and (not self._writes or len(self._waiting) >= self._group):
            self._start_write()

    def _start_write(self) -> None:
        outcomes, self._waiting = self._waiting[:self._group], self._waiting[self._group:]
        task = asyncio.create_task(self._write(outcomes))
        self._writes.add(task)
        task.add_done_callback(self._written)

    def _written(self, task: asyncio.Task) -> None:
        self._writes.discard(task)
        self._start_writes()

    async def _write(self, outcomes: list[Outcome]) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self._repository.record(outcomes, self._clock.now())
                return
            except BulkWriteError as exc:
                if refused_writes(exc):  # the database refused a write: trying again would not help
                    log.error("outcomes not recorded", notifications=[o.row_id for o in outcomes], error=repr(exc))
                    return
                # Only the write concern failed: the writes may be rolled back, so they are made again.
                # A sent or failed mark is conditional on the row being queued, so made twice it changes
                # nothing; a retry's try may be counted twice in `attempts`.
                log.warning("outcomes not yet acknowledged by a majority; retrying", notifications=len(outcomes),
                            error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(2 * delay, RETRY_MAX_SECONDS)
            except PyMongoError as exc:
                log.warning("outcomes not yet recorded; retrying", notifications=len(outcomes), error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(2 * delay, RETRY_MAX_SECONDS)
