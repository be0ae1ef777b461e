"""A whole system under steady traffic, on servers each fault test chooses (the session's or ones it
may stop), with the ledger that checks the outcome."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pymongo import AsyncMongoClient

from tests.reliability.ledger import Ledger
from tests.reliability.traffic import Board, Candidates, Stack, Workload
from tests.support.infrastructure import SmtpCapture
from tests.support.stack import wait_for_entries
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


@dataclass
class System:
    stack: Stack
    workload: Workload
    board: Board
    candidates: Candidates
    ledger: Ledger
    mongo_url: str

    async def publish_entries(self) -> None:
        """Every candidate's entry, published and stored by registration, so that each candidate
        registers at the first try."""
        await self.board.publish_entries()
        await wait_for_entries(self.stack["registration"], [c.candidate_id for c in self.workload.candidates])

    async def register_early(self) -> None:
        """Entries, then the early candidates registered and known to the notifier, so each is owed
        exactly one results email when the batch comes."""
        await self.publish_entries()
        await self.candidates.register_all(self.workload.early)
        await self.wait_for_contacts()

    async def wait_for_contacts(self) -> None:
        await wait_until(lambda: self.contacts(len(self.workload.early)), timeout=60,
                         what="the notifier to know every early candidate")

    def steady_traffic(self, late: list | None = None) -> asyncio.Future:
        """Late candidates registering and early ones logging in, side by side."""
        late = self.workload.late if late is None else late
        return asyncio.gather(self.candidates.register_all(late), self.candidates.log_in_all(self.workload.early))

    async def not_ready(self) -> dict[str, int] | None:
        """Each service's /readyz status, once every one answers 503."""
        async with httpx.AsyncClient(timeout=30) as http:
            statuses = {name: (await http.get(f"{process.url}/readyz")).status_code
                        for name, process in self.stack.services.items()}
        return statuses if set(statuses.values()) == {503} else None

    async def contacts(self, at_least: int) -> bool:
        """The notifier knows `at_least` candidates and has sent (and recorded) every email it had to."""
        client = AsyncMongoClient(self.mongo_url, serverSelectionTimeoutMS=5000)
        try:
            db = client[self.stack.database("notifier")]
            return (await db.contacts.count_documents({"email": {"$exists": True}}) >= at_least
                    and await db.notifications.count_documents({"status": "queued"}) == 0)
        finally:
            await client.close()

    async def publish_results_with_fault(self, fault: Callable[[], None]) -> asyncio.Future:
        """Starts publishing the batch and runs `fault` once the broker has confirmed its first part and
        before the second is sent, so the fault always strikes mid-batch. Returns the publishing task,
        once the fault has happened."""
        struck = asyncio.Event()

        def after_part(part: int, _size: int) -> None:
            if part == 1 and not struck.is_set():
                fault()  # blocking on purpose: the board sends nothing more until the fault is in place
                struck.set()

        publishing = asyncio.ensure_future(self.board.publish_results(on_confirmed=after_part))
        await asyncio.wait_for(struck.wait(), timeout=60)
        return publishing

    async def parts_stored(self) -> int:
        client = AsyncMongoClient(self.mongo_url, serverSelectionTimeoutMS=5000)
        try:
            return await client[self.stack.database("results")].batch_parts.count_documents(
                {"batch_id": self.workload.batch_id})
        finally:
            await client.close()


# Fault hooks by service ({service: env}), or a function of the workload that returns them.
Faults = dict[str, dict[str, str]] | Callable[[Workload], dict[str, dict[str, str]]]


@pytest.fixture
def make_system(tmp_path: Path):
    """make_system(mongo_url, amqp_url, smtp, faults=Faults) starts the four services. Ask for it
    after the servers' fixtures, so the services stop before their servers go."""
    stacks: list[Stack] = []

    def make(mongo_url: str, amqp_url: str, smtp: SmtpCapture, *, results: int = 2500, early: int = 20,
             late: int = 20, faults: Faults | None = None, **env: str) -> System:
        stack = Stack(mongo_url, amqp_url, smtp.port, tmp_path, **env)
        stacks.append(stack)
        workload = Workload.generate(results=results, early=early, late=late)
        stack.start(**((faults(workload) if callable(faults) else faults) or {}))
        return System(stack, workload, Board(amqp_url, workload), Candidates(stack),
                      Ledger(stack, mongo_url, amqp_url, workload, smtp), mongo_url)

    yield make
    for stack in stacks:
        stack.stop()
