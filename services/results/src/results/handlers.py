"""One async function per command or event. Dependencies are passed in."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from crs_shared.clock import Clock, to_millisecond
from crs_shared.domain.exams import ISSUED, RefusedRecord, ValidResult, check_part, find_exam
from crs_shared.logging import get_logger
from crs_shared.messaging.contracts import ReleasedResult, ResultsPublished, ResultsReleased
from crs_shared.messaging.envelope import Envelope
from crs_shared.metrics import DUPLICATES
from crs_shared.read_cache import ReadThroughCache
from crs_shared.tokens import Revocations, TokenVerifier
from crs_shared.unit_of_work import UnitOfWork, UnitsOfWork
from results.domain.errors import (
    BatchNotFound, ResultNotFound, StatementUnavailable, VerificationFailed, VerificationSuperseded,
)
from results.domain.ingest import PartArrival, SortedPart, sort_part
from results.domain.release import announce_from, announced, announcement_due, released
from results.domain.verification import canonical_verification_number, family_names_match, new_verification_number
from results.repository import ResultsRepository, SittingTaken, VerificationNumberTaken
from results.statement import Statement, render_statement

SERVICE = "results"
WRITE_ATTEMPTS = 5
log = get_logger(__name__)


@dataclass(frozen=True)
class Dependencies:
    uow: UnitsOfWork
    repository: ResultsRepository
    clock: Clock
    verifier: TokenVerifier
    revocations: Revocations
    # Each candidate's results, released or not, by candidate ID (ResultsRepository.candidates_results).
    candidate_results: ReadThroughCache[str, list[dict]]
    public_base_url: str
    new_verification_number: Callable[[], str] = field(default=new_verification_number)


# Consuming ResultsPublished.

@dataclass(frozen=True)
class _Ingest:
    sorted_part: SortedPart | None = None  # None: this part was stored before, under another event id
    announced: bool = False


async def store_results(deps: Dependencies, envelope: Envelope, part: ResultsPublished) -> None:
    """Stores one part (`results.domain.ingest` says how its records are sorted), its report and the
    inbox entry in one transaction with a handful of bulk round trips, whatever the part's size."""
    arrival = _arrival(deps, envelope, part)
    valid, refused = check_part(arrival.exam or part.exam, part.results)
    look_up_shown = False
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            # This process's readers see the part as soon as it is committed.
            with deps.candidate_results.changing([r.candidate_id for r in valid]):
                ingest = await _write_part(deps, envelope, arrival, valid, refused, look_up_shown=look_up_shown)
            break
        except SittingTaken:
            log.info("part holds results for sittings already shown; writing it again with those looked up",
                     board=part.board, batch_id=part.batch_id, part=part.part, attempt=attempt)
            if attempt == WRITE_ATTEMPTS:
                raise
            look_up_shown = True
        except VerificationNumberTaken:
            log.warning("verification number collision; retrying the part with fresh numbers", attempt=attempt)
            if attempt == WRITE_ATTEMPTS:
                raise
    _log_ingest(part, ingest)


def _arrival(deps: Dependencies, envelope: Envelope, part: ResultsPublished) -> PartArrival:
    now = deps.clock.now()
    release_at = to_millisecond(part.release_at or now)
    return PartArrival(
        part=part, exam=find_exam(part.exam), event_id=envelope.event_id, correlation_id=envelope.correlation_id,
        published_at=to_millisecond(envelope.occurred_at), received_at=now, release_at=release_at,
        announce_at=to_millisecond(announce_from(release_at, now, deps.candidate_results.longest_staleness_seconds)),
    )


async def _write_part(deps: Dependencies, envelope: Envelope, arrival: PartArrival, valid: list[ValidResult],
                      refused: list[RefusedRecord], *, look_up_shown: bool) -> _Ingest | None:
    """The part written once (None if the inbox knows its event). Most parts are a sitting's first
    results, so a part is first written as all new, and the shown results are looked up only when
    the sitting's unique index refuses that (`SittingTaken`): looking them up for every part, dozens
    of round trips each, holds a release's results back by about a third."""
    handling = deps.uow.handling(envelope, "store_results", arrival.received_at)
    async for uow in handling:
        async with uow:
            ingest = await _store_part(deps, uow, arrival, valid, refused, look_up_shown=look_up_shown)
    return ingest if handling.committed else None


async def _store_part(deps: Dependencies, uow: UnitOfWork, arrival: PartArrival, valid: list[ValidResult],
                      refused: list[RefusedRecord], *, look_up_shown: bool) -> _Ingest:
    """A part due to be announced by now (`results.domain.release.announce_from`) is announced
    (`ResultsReleased`) in the same transaction; any other then, by `announce_due_releases`."""
    part = arrival.part
    if await deps.repository.part_recorded(uow.session, part.key):
        return _Ingest()
    shown = (await deps.repository.shown_results(uow.session, arrival.exam.code, part.session,
                                                 [r.candidate_id for r in valid])
             if arrival.exam and look_up_shown else {})
    sorted_part = sort_part(arrival, valid, refused, shown)
    announced = announcement_due(arrival.announce_at, None, arrival.received_at)
    record, showing = await deps.repository.store_part(uow.session, arrival, sorted_part, announced=announced,
                                                       new_verification_number=deps.new_verification_number)
    if announced:
        _announce(uow, record, showing)
    return _Ingest(sorted_part, announced)


def _log_ingest(part: ResultsPublished, ingest: _Ingest | None) -> None:
    if ingest is None or ingest.sorted_part is None:
        if ingest is not None:  # the same part again under an event id of its own (the inbox counts a repeated id)
            DUPLICATES.labels(SERVICE, part.EVENT_TYPE).inc()
        log.info("results part already stored; nothing changed",
                 board=part.board, batch_id=part.batch_id, part=part.part)
        return
    stored = ingest.sorted_part
    log.info("results part stored", board=part.board, batch_id=part.batch_id, part=part.part, parts=part.parts,
             stored=len(stored.stored), corrected=stored.corrected, rejected=len(stored.refused),
             announced=ingest.announced)


# Announcing releases.

async def announce_due_releases(deps: Dependencies) -> int:
    """Announces each part whose announcement is due (`announce_at` passed) and not yet made, each
    in one transaction with the conditional update that claims it, so that any number of replicas
    running this at once announce each part once. Returns how many parts this call announced."""
    claimed = 0
    while part := await _announce_due_part(deps, deps.clock.now()):
        claimed += 1
        log.info("results part release announced", board=part["board"], batch_id=part["batch_id"], part=part["part"],
                 release_at=part["release_at"].isoformat(), correlation_id=part["correlation_id"])
    return claimed


async def _announce_due_part(deps: Dependencies, now: datetime) -> dict | None:
    async for uow in deps.uow.attempts(now):
        async with uow:
            part = await deps.repository.claim_due_release(uow.session, now)
            if part is not None:
                shown = await deps.repository.shown_results(uow.session, part["exam"], part["session"],
                                                            part["to_announce"])
                _announce(uow, part, announced(part, shown))
    return part


def _announce(uow: UnitOfWork, part: dict, results: list[dict]) -> None:
    """`ResultsReleased` for these results of the part, into the outbox; nothing for none."""
    if not results:
        return
    uow.publish(ResultsReleased(
        board=part["board"], batch_id=part["batch_id"], part=part["part"], exam=part["exam"], session=part["session"],
        released_at=part["release_at"],
        results=[ReleasedResult(candidate_id=doc["candidate_id"], result_id=doc["_id"], status=doc["status"],
                                correction=doc["correction"]) for doc in results],
    ), correlation_id=part["correlation_id"])


# Reading results.

async def my_results(deps: Dependencies, candidate_id: str) -> list[dict]:
    """The candidate's released results, from a list at most `results_cache_seconds` old."""
    return released(await deps.candidate_results.get(candidate_id), deps.clock.now())


async def statement_pdf(deps: Dependencies, candidate_id: str, result_id: str) -> tuple[dict, bytes]:
    """The caller's own released result and its Statement of Results."""
    result = await deps.repository.released_result(candidate_id, result_id, deps.clock.now())
    if result is None:
        raise ResultNotFound()
    if result["status"] != ISSUED:
        raise StatementUnavailable()
    statement = Statement(
        candidate_id=result["candidate_id"], given_name=result["given_name"], family_name=result["family_name"],
        exam=find_exam(result["exam"]), session=result["session"], skills=result["skills"],
        overall_score=result["overall_score"], grade=result["grade"], cefr_level=result["cefr_level"],
        verification_number=result["verification_number"], released_at=result["release_at"],
        verification_url=verification_url(deps.public_base_url, result["verification_number"]),
    )
    # Drawing a PDF is CPU work: off the event loop.
    return result, await asyncio.to_thread(render_statement, statement)


def verification_url(public_base_url: str, number: str) -> str:
    return f"{public_base_url.rstrip('/')}/verify?number={number}"


async def verify(deps: Dependencies, number: str, family_name: str) -> dict:
    """The released, issued result with this number, if the family name is also right.
    VerificationSuperseded if such a result was since replaced by a correction."""
    canonical = canonical_verification_number(number)
    if canonical is None:
        raise VerificationFailed()
    now = deps.clock.now()
    result = await deps.repository.released_by_verification_number(canonical, now)
    if _verifies(result, family_name):
        return result
    if result is None and _verifies(await deps.repository.replaced_by_verification_number(canonical, now), family_name):
        raise VerificationSuperseded()
    raise VerificationFailed()


def _verifies(result: dict | None, family_name: str) -> bool:
    return result is not None and result["status"] == ISSUED and family_names_match(result["family_name"], family_name)


# Operators.

@dataclass(frozen=True)
class BatchReport:
    batch_id: str
    board: str
    exam: str
    session: str
    release_at: datetime
    parts_expected: int
    parts_received: list[int]
    records_received: int
    results_stored: int
    results_corrected: int
    rejections: list[dict]

    @property
    def missing_parts(self) -> list[int]:
        return sorted(set(range(1, self.parts_expected + 1)) - set(self.parts_received))


async def batch_report(deps: Dependencies, batch_id: str) -> BatchReport:
    parts = await deps.repository.batch_parts(batch_id)
    if not parts:
        raise BatchNotFound()
    first = parts[0]
    return BatchReport(
        batch_id=batch_id, board=first["board"], exam=first["exam"], session=first["session"],
        release_at=first["release_at"], parts_expected=max(p["parts"] for p in parts),
        parts_received=[p["part"] for p in parts], records_received=sum(p["records"] for p in parts),
        results_stored=sum(p["stored"] for p in parts), results_corrected=sum(p["corrected"] for p in parts),
        rejections=[{**r, "part": p["part"]} for p in parts for r in p["rejected"]],
    )
