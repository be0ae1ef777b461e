"""One async function per command or event. Dependencies are passed in."""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from crs_shared.clock import Clock, to_millisecond
from crs_shared.domain.exams import ISSUED, RefusedRecord, ValidResult, check_part, find_exam
from crs_shared.logging import get_logger
from crs_shared.messaging.contracts import ReleasedResult, ResultsPublished, ResultsReleased
from crs_shared.messaging.envelope import Envelope
from crs_shared.messaging.inbox import handle_once
from crs_shared.messaging.outbox import add_event
from crs_shared.metrics import DUPLICATES
from crs_shared.mongo import Session, run_in_transaction
from crs_shared.read_cache import ReadThroughCache
from crs_shared.tokens import Revocations, TokenVerifier
from results.domain.errors import (
    BatchNotFound, ResultNotFound, StatementUnavailable, VerificationFailed, VerificationSuperseded,
)
from results.domain.release import announce_from, announced, announcement_due, released
from results.domain.verification import canonical_verification_number, family_names_match, new_verification_number
from results.repository import ResultsRepository, SittingTaken, VerificationNumberTaken
from results.statement import Statement, render_statement

SERVICE = "results"
WRITE_ATTEMPTS = 5
log = get_logger(__name__)


@dataclass(frozen=True)
class Dependencies:
    mongo: AsyncMongoClient
    repository: ResultsRepository
    outbox: AsyncCollection
    inbox: AsyncCollection
    clock: Clock
    verifier: TokenVerifier
    revocations: Revocations
    # Each candidate's results, released or not, by candidate ID (ResultsRepository.candidates_results).
    candidate_results: ReadThroughCache[str, list[dict]]
    public_base_url: str
    new_verification_number: Callable[[], str] = field(default=new_verification_number)
    after_commit: Callable[[], None] = lambda: None


# Consuming ResultsPublished.

@dataclass
class _Ingest:
    stored: int = 0
    corrected: int = 0
    rejected: list[RefusedRecord] = field(default_factory=list)
    repeated_part: bool = False
    announced: bool = False


async def store_results(deps: Dependencies, envelope: Envelope, part: ResultsPublished) -> None:
    """Validates each record of one part, and stores the valid ones, the part's report and the
    inbox entry in one transaction with a handful of bulk round trips, whatever the part's size.

    The same event again is caught by the inbox; the same (board, batch, part) under another event
    id by the part's own record. A candidate already shown for this exam and session under another
    batch is a correction: the new result replaces the shown one, which moves to the history. What
    was published last (the envelope's `occurred_at`) is shown, whatever order deliveries arrive in.

    Most parts are a sitting's first results, so a part is first written as all new, and the shown
    results are looked up only when the sitting's unique index refuses that (`SittingTaken`):
    looking them up for every part, dozens of round trips each, holds a release's results back by
    about a third.

    A part due to be announced by now (`results.domain.release.announce_from`) is announced
    (`ResultsReleased`) in the same transaction; any other then, by `announce_due_releases`."""
    now = deps.clock.now()
    exam = find_exam(part.exam)
    valid, refused = check_part(exam or part.exam, part.results)
    release_at = to_millisecond(part.release_at or now)
    announce_at = to_millisecond(announce_from(release_at, now, deps.candidate_results.longest_staleness_seconds))
    part_key = f"{part.board}:{part.batch_id}:{part.part}"
    candidate_ids = [r.candidate_id for r in valid]

    look_up_shown = False
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        outcome = _Ingest()

        async def work(session: Session) -> None:
            nonlocal outcome
            outcome = _Ingest()  # the driver may run this again after a transient error
            if await deps.repository.part_recorded(session, part_key):
                outcome.repeated_part = True
                return
            outcome.rejected = list(refused)
            shown = (await deps.repository.shown_results(session, exam.code, part.session, candidate_ids)
                     if exam and look_up_shown else {})
            new, replacing, history, late = [], [], [], 0
            showing = []  # the results this part shows, in its order
            for result in valid:
                earlier = shown.get(result.candidate_id)
                if earlier is not None and (earlier["board"], earlier["batch_id"]) == (part.board, part.batch_id):
                    outcome.rejected.append(RefusedRecord(result.candidate_id, [
                        f"already has a result for {exam.name} {part.session} in part {earlier['part']} of this batch"
                    ]))
                    continue
                document = _result_document(deps, result, part, envelope, release_at, now)
                if earlier is None:
                    new.append(document)
                    showing.append(document)
                elif earlier["published_at"] > to_millisecond(envelope.occurred_at):
                    # An older publication delivered late (a dead-lettered part put back, say): it goes
                    # straight to the history, and the newer result stays shown.
                    history.append(_history_document(document, earlier, now))
                    late += 1
                else:
                    document["_id"] = earlier["_id"]  # the candidate's result keeps its id; its content is replaced
                    document["correction"] = True
                    replacing.append(document)
                    showing.append(document)
                    history.append(_history_document(earlier, document, now))
            await deps.repository.write_results(session, new=new, replacing=replacing, history=history)
            outcome.stored, outcome.corrected = len(new) + len(replacing) + late, len(replacing)
            outcome.announced = announcement_due(announce_at, None, now)
            record = {
                "_id": part_key, "board": part.board, "batch_id": part.batch_id, "part": part.part, "parts": part.parts,
                "exam": exam.code if exam else part.exam, "session": part.session, "release_at": release_at,
                "announce_at": announce_at,
                "records": len(part.results), "stored": outcome.stored, "corrected": outcome.corrected,
                "rejected": [asdict(r) for r in outcome.rejected], "event_id": envelope.event_id,
                "correlation_id": envelope.correlation_id, "received_at": now,
                "announced_at": now if outcome.announced else None,
                # Whose results the announcement names when it is due (read again then: a later
                # correction may have replaced some).
                "to_announce": [] if outcome.announced else [doc["candidate_id"] for doc in showing],
            }
            await deps.repository.record_part(session, record)
            if outcome.announced:
                await _announce(deps, session, record, showing, now)

        try:
            # This process's readers see the part as soon as it is committed.
            with deps.candidate_results.changing(candidate_ids):
                handled = await handle_once(deps.mongo, deps.inbox, service=SERVICE, handler="store_results",
                                            envelope=envelope, now=now, work=work)
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

    if not handled or outcome.repeated_part:
        if handled:  # the same part again under an event id of its own (the inbox counts a repeated id)
            DUPLICATES.labels(SERVICE, part.EVENT_TYPE).inc()
        log.info("results part already stored; nothing changed",
                 board=part.board, batch_id=part.batch_id, part=part.part)
        return
    if outcome.announced:
        deps.after_commit()
    log.info("results part stored", board=part.board, batch_id=part.batch_id, part=part.part, parts=part.parts,
             stored=outcome.stored, corrected=outcome.corrected, rejected=len(outcome.rejected),
             announced=outcome.announced)


def _result_document(deps: Dependencies, result: ValidResult, part: ResultsPublished, envelope: Envelope,
                     release_at: datetime, now: datetime) -> dict:
    return {
        "_id": uuid.uuid4().hex,
        "candidate_id": result.candidate_id,
        "given_name": result.given_name,
        "family_name": result.family_name,
        "exam": result.exam.code,
        "session": part.session,
        "status": result.status,
        "overall_score": result.overall_score,
        "grade": result.grade,
        "cefr_level": result.cefr_level,
        "skills": result.skills,
        "release_at": release_at,
        "verification_number": deps.new_verification_number(),
        "board": part.board,
        "batch_id": part.batch_id,
        "part": part.part,
        "event_id": envelope.event_id,
        "published_at": envelope.occurred_at,
        "stored_at": now,
        "correction": False,  # True once it replaces a shown result
    }


def _history_document(version: dict, shown: dict, now: datetime) -> dict:
    """A version of a result that `shown` replaces (or, when it arrived late, never replaced)."""
    kept = {k: v for k, v in version.items() if k != "_id"}
    return {**kept, "_id": uuid.uuid4().hex, "result_id": shown["_id"], "replaced_at": now,
            "replaced_by": {"board": shown["board"], "batch_id": shown["batch_id"], "part": shown["part"]}}


# Announcing releases.

async def announce_due_releases(deps: Dependencies) -> int:
    """Announces each part whose announcement is due (`announce_at` passed) and not yet made, each
    in one transaction with the conditional update that claims it, so that any number of replicas
    running this at once announce each part once. Returns how many parts this call announced."""
    claimed = 0
    while part := await run_in_transaction(deps.mongo, partial(_announce_due_part, deps, deps.clock.now())):
        claimed += 1
        log.info("results part release announced", board=part["board"], batch_id=part["batch_id"], part=part["part"],
                 release_at=part["release_at"].isoformat(), correlation_id=part["correlation_id"])
    if claimed:
        deps.after_commit()
    return claimed


async def _announce_due_part(deps: Dependencies, now: datetime, session: Session) -> dict | None:
    part = await deps.repository.claim_due_release(session, now)
    if part is None:
        return None
    shown = await deps.repository.shown_results(session, part["exam"], part["session"], part["to_announce"])
    await _announce(deps, session, part, announced(part, shown), now)
    return part


async def _announce(deps: Dependencies, session: Session, part: dict, results: list[dict], now: datetime) -> None:
    """`ResultsReleased` for these results of the part, into the outbox; nothing for none."""
    if not results:
        return
    event = ResultsReleased(
        board=part["board"], batch_id=part["batch_id"], part=part["part"], exam=part["exam"], session=part["session"],
        released_at=part["release_at"],
        results=[ReleasedResult(candidate_id=doc["candidate_id"], result_id=doc["_id"], status=doc["status"],
                                correction=doc["correction"]) for doc in results],
    )
    await add_event(deps.outbox, session, event, producer=SERVICE, correlation_id=part["correlation_id"], now=now)


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
