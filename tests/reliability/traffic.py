"""The steady traffic every fault test runs through the system: a board's entries and result batch
(published with the board tools' own code), candidates registering and logging in over HTTP.

Two groups of candidates keep what each must receive exact, whenever the fault strikes:
- `early`: in the result batch, registered before it is published: one confirmation and one results
  email each (if their result is issued);
- `late`: not in the batch, registering while the fault happens: one confirmation email each."""

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from crs_shared.domain.exams import ISSUED, find_exam
from crs_shared.messaging.contracts import EntriesPublished, Entry, ResultRecord, ResultsPublished
from crs_tools import entries_publish, results_publish, sample_data
from crs_tools.board_publish import BatchNotPublished, PreparedBatch, prepare_batch, publish_batch
from tests.support.stack import ServiceSet

PASSWORD = "abcdef12"
BOARD = "Reliability Board"
EXAM, SESSION = find_exam("B2_FIRST"), "2026-06"
# What a person tries again after. Not 500: a fault must answer 503 (or close the connection), and
# a 500 fails the test at once.
RETRYABLE = {429, 502, 503, 504}


class Stack(ServiceSet):
    def __init__(self, mongo_url: str, amqp_url: str, smtp_port: int, folder: Path, **env: str):
        # A dispatcher killed mid-send holds its lease this long (60 s by default): short, to keep the
        # tests short; a send may take at most a quarter of it.
        short_lease = {"SEND_LEASE_SECONDS": "6", "SMTP_TIMEOUT_SECONDS": "1.5"}
        super().__init__(mongo_url, amqp_url, smtp_port, folder, **(short_lease | env))


@dataclass(frozen=True)
class Candidate:
    entry: Entry
    email: str

    @property
    def candidate_id(self) -> str:
        return self.entry.candidate_id


@dataclass
class Workload:
    """What the board publishes and who registers, from the same generator as `sample-data`."""

    early: list[Candidate]
    late: list[Candidate]
    results: list[ResultRecord]
    batch_id: str = field(default_factory=lambda: f"reliability-{uuid.uuid4().hex[:10]}")
    batch: PreparedBatch = field(init=False)

    def __post_init__(self):
        build = lambda part, parts, records: ResultsPublished(  # noqa: E731
            board=BOARD, batch_id=self.batch_id, part=part, parts=parts, exam=EXAM.code, session=SESSION,
            results=records)
        self.batch = prepare_batch(self.results, batch_id=self.batch_id, make_part=build)

    @property
    def candidates(self) -> list[Candidate]:
        return self.early + self.late

    def issued_ids(self) -> set[str]:
        return {r.candidate_id for r in self.results if r.status == ISSUED}

    @classmethod
    def generate(cls, *, results: int, early: int, late: int, seed: int | None = None) -> "Workload":
        seed = seed if seed is not None else random.randrange(1 << 30)
        rows = list(sample_data.rows(results, EXAM, SESSION, seed))
        late_rows = list(sample_data.rows(late, EXAM, SESSION, seed + 1, first=9_000_001))
        entry = lambda row: entries_publish.to_entry(dict(zip(entries_publish.COLUMNS, row)))  # noqa: E731
        candidate = lambda row: Candidate(entry(row), f"{row[0].lower()}@example.com")  # noqa: E731
        return cls(
            # In the last part, so a fault that strikes after part 1 finds none of their emails in flight.
            early=[candidate(e) for e, _ in rows[-early:]], late=[candidate(e) for e, _ in late_rows],
            results=[results_publish.to_result(EXAM, dict(zip(results_publish.COLUMNS, r))) for _, r in rows],
        )


class Board:
    """The exam board, publishing as `entries-publish` and `results-publish` do. When the broker does
    not confirm every part, it does what the tool tells its user: run again with the same batch id."""

    def __init__(self, amqp_url: str, workload: Workload):
        self.amqp_url, self.workload = amqp_url, workload
        self.results_attempts = 0  # runs of results-publish it took to have every part confirmed

    async def publish_entries(self) -> None:
        entries = [c.entry for c in self.workload.candidates]
        build = lambda part, parts, chunk: EntriesPublished(  # noqa: E731
            board=BOARD, batch_id=f"{self.workload.batch_id}-entries", part=part, parts=parts, entries=chunk)
        await self._publish(prepare_batch(entries, batch_id=f"{self.workload.batch_id}-entries", make_part=build))

    async def publish_results(self, on_confirmed: Callable[[int, int], None] = lambda part, size: None) -> None:
        """`on_confirmed(part, size)` runs as each part is confirmed: a fault may strike there, mid-batch."""
        self.results_attempts = await self._publish(self.workload.batch, on_confirmed)

    async def _publish(self, batch: PreparedBatch, on_confirmed=lambda part, size: None, timeout: float = 90) -> int:
        deadline = time.monotonic() + timeout
        attempts = 0
        while True:
            attempts += 1
            try:
                await publish_batch(batch, self.amqp_url, on_confirmed=on_confirmed, confirm_timeout=10)
                return attempts
            except BatchNotPublished as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the board could not publish within {timeout}s: {exc.report()}") from exc
                await asyncio.sleep(0.5)  # a board operator's pause before running the command again


@dataclass
class HttpLog:
    """Every answer the candidates got, by status, and the first body of each non-2xx status."""

    statuses: dict[int, int] = field(default_factory=dict)
    samples: dict[int, dict] = field(default_factory=dict)

    def note(self, response: httpx.Response) -> None:
        self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
        if response.status_code >= 400 and response.status_code not in self.samples:
            try:
                self.samples[response.status_code] = response.json()
            except ValueError:
                self.samples[response.status_code] = {"text": response.text[:200]}


class Candidates:
    """Candidates at the HTTP APIs. Like people, they try again after a 503 or a dropped connection;
    a 409 after such a retry means the first attempt went through."""

    def __init__(self, stack: Stack, timeout: float = 90):
        self.stack, self.timeout = stack, timeout
        self.log = HttpLog()

    async def register(self, candidate: Candidate) -> None:
        body = {"candidate_id": candidate.candidate_id, "secret_number": candidate.entry.secret_number,
                "email": candidate.email, "password": PASSWORD, "password_confirm": PASSWORD, "accept_terms": True}
        # Their entries are stored before anyone registers (System.publish_entries): a 400 would
        # be a wrong guess, and five hold the ID.
        await self._until(lambda http: http.post(f"{self.stack['registration'].url}/api/registration/candidates",
                                                 json=body), done={201, 409}, retry=set(),
                          what=f"{candidate.candidate_id} to be registered")

    async def log_in(self, candidate: Candidate) -> None:
        # 401: auth may not have had CandidateRegistered yet.
        await self._until(lambda http: http.post(f"{self.stack['auth'].url}/api/auth/login",
                                                 json={"candidate_id": candidate.candidate_id, "password": PASSWORD}),
                          done={200}, retry={401}, what=f"{candidate.candidate_id} to log in")

    async def register_all(self, candidates: list[Candidate], concurrency: int = 4) -> None:
        await _bounded(concurrency, [self.register(c) for c in candidates])

    async def log_in_all(self, candidates: list[Candidate], concurrency: int = 4) -> None:
        await _bounded(concurrency, [self.log_in(c) for c in candidates])

    async def _until(self, request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]], *, done: set[int],
                     retry: set[int], what: str) -> httpx.Response:
        deadline = time.monotonic() + self.timeout
        async with httpx.AsyncClient(timeout=30) as http:
            while True:
                try:
                    response = await request(http)
                    self.log.note(response)
                    if response.status_code in done:
                        return response
                    if response.status_code not in RETRYABLE | retry:
                        raise AssertionError(f"{what}: unexpected {response.status_code} {response.text[:300]}")
                except httpx.TransportError:
                    self.log.statuses[0] = self.log.statuses.get(0, 0) + 1  # 0: no answer at all
                if time.monotonic() > deadline:
                    raise AssertionError(f"{what}: not done after {self.timeout}s; answers so far {self.log.statuses}")
                await asyncio.sleep(0.2)  # a person's pause before trying again


async def _bounded(concurrency: int, jobs: list[Awaitable]) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def run(job):
        async with gate:
            await job

    await asyncio.gather(*(run(job) for job in jobs))
