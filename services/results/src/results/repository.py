"""The results database: the result shown for each candidate, exam and session; the earlier
versions that corrections replaced; and what arrived of each board batch."""

import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, InsertOne, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crs_shared.domain.exams import ValidResult
from crs_shared.mongo import Session, find_grouped, in_chunks
from crs_shared.tokens import REVOCATION_INDEXES, REVOCATIONS_COLLECTION
from results.domain.ingest import Late, PartArrival, Replacing, SortedPart

RESULTS = "results"
HISTORY = "result_history"
BATCH_PARTS = "batch_parts"
SITTING_INDEX = "one_result_per_sitting"
VERIFICATION_NUMBER_INDEX = "verification_number_unique"
INDEX_FIELDS = {SITTING_INDEX: ["candidate_id", "exam", "session"], VERIFICATION_NUMBER_INDEX: ["verification_number"]}


def _unique_index(name: str) -> IndexModel:
    return IndexModel([(field, ASCENDING) for field in INDEX_FIELDS[name]], unique=True, name=name)


INDEXES = {
    RESULTS: [
        # One shown result per candidate, exam and session: a later batch replaces it (a correction).
        _unique_index(SITTING_INDEX),
        _unique_index(VERIFICATION_NUMBER_INDEX),
    ],
    HISTORY: [
        IndexModel([("result_id", ASCENDING), ("replaced_at", ASCENDING)]),
        # Verification tells a replaced version's number (410) from an unknown one (404).
        IndexModel([("verification_number", ASCENDING)]),
    ],
    BATCH_PARTS: [
        IndexModel([("batch_id", ASCENDING), ("part", ASCENDING)]),
        IndexModel([("announced_at", ASCENDING), ("announce_at", ASCENDING)]),
    ],
    REVOCATIONS_COLLECTION: REVOCATION_INDEXES,
}


class VerificationNumberTaken(Exception):
    """A new result drew a verification number already in use; the write was not made."""


class SittingTaken(Exception):
    """A result written as new is for a candidate, exam and session that has one shown already (a
    correction, or a concurrent write of the same sitting); the write was not made."""


class ResultsRepository:
    def __init__(self, db: AsyncDatabase):
        self._results = db[RESULTS]
        self._history = db[HISTORY]
        self._parts = db[BATCH_PARTS]
        self.revocations = db[REVOCATIONS_COLLECTION]

    # Ingest, inside the caller's transaction.

    async def part_recorded(self, session: Session, part_key: str) -> bool:
        return await self._parts.find_one({"_id": part_key}, {"_id": 1}, session=session) is not None

    async def shown_results(
        self, session: Session, exam: str, exam_session: str, candidate_ids: list[str]
    ) -> dict[str, dict]:
        """The results shown now for these candidates at this sitting, by candidate ID."""
        return {doc["candidate_id"]: doc for chunk in in_chunks(candidate_ids) async for doc in self._results.find(
            {"exam": exam, "session": exam_session, "candidate_id": {"$in": chunk}}, session=session)}

    async def write_results(
        self, session: Session, *, new: list[dict], replacing: list[dict], history: list[dict]
    ) -> None:
        """New results and corrections in one bulk write; the replaced versions into the history."""
        writes = [InsertOne(doc) for doc in new] + [ReplaceOne({"_id": doc["_id"]}, doc) for doc in replacing]
        try:
            if writes:
                await self._results.bulk_write(writes, ordered=False, session=session)
        except (BulkWriteError, DuplicateKeyError) as exc:
            if _on_index(exc, SITTING_INDEX):
                raise SittingTaken() from exc
            if _on_index(exc, VERIFICATION_NUMBER_INDEX):
                raise VerificationNumberTaken() from exc
            raise
        if history:
            await self._history.insert_many(history, ordered=False, session=session)

    async def store_part(self, session: Session, arrival: PartArrival, sorted_part: SortedPart, *, announced: bool,
                         new_verification_number: Callable[[], str]) -> tuple[dict, list[dict]]:
        """Writes a sorted part: its results, the versions they replace, and the part's record (announced
        now, or with whose results to announce when due). Returns the record and the results it shows."""
        new, replacing, history, showing = [], [], [], []
        for stored in sorted_part.stored:
            document = _result_document(arrival, stored.result, new_verification_number())
            if isinstance(stored, Late):
                history.append(_history_document(document, stored.shown, arrival.received_at))
                continue
            if isinstance(stored, Replacing):
                # The candidate's result keeps its id; its content is replaced.
                document |= {"_id": stored.shown["_id"], "correction": True}
                replacing.append(document)
                history.append(_history_document(stored.shown, document, arrival.received_at))
            else:
                new.append(document)
            showing.append(document)
        await self.write_results(session, new=new, replacing=replacing, history=history)
        record = _part_document(arrival, sorted_part, announced, showing)
        await self._parts.insert_one(record, session=session)
        return record, showing

    # Announcing releases, inside the caller's transaction.

    async def claim_due_release(self, session: Session, now: datetime) -> dict | None:
        """Marks one part whose release is due announced, and returns it; None if none is due. A
        conditional update: of replicas claiming at once, one gets each part."""
        return await self._parts.find_one_and_update(
            _announcement_due(now), {"$set": {"announced_at": now}}, sort=[("announce_at", ASCENDING)], session=session)

    # Reading. What a candidate or verifier may see is decided by the release rule,
    # `results.domain.release`: in memory for a candidate's list, as `_released_at(now)` otherwise.

    async def candidates_results(self, candidate_ids: list[str]) -> dict[str, list[dict]]:
        """Every result shown for each of the candidates, released or not, newest session first."""
        return await find_grouped(self._results, "candidate_id", candidate_ids,
                                  sort=[("session", DESCENDING), ("exam", ASCENDING)])

    async def released_result(self, candidate_id: str, result_id: str, now: datetime) -> dict | None:
        return await self._results.find_one({"_id": result_id, "candidate_id": candidate_id, **_released_at(now)})

    async def released_by_verification_number(self, number: str, now: datetime) -> dict | None:
        return await self._results.find_one({"verification_number": number, **_released_at(now)})

    async def replaced_by_verification_number(self, number: str, now: datetime) -> dict | None:
        """A released version with this number that a correction replaced."""
        return await self._history.find_one({"verification_number": number, **_released_at(now)})

    async def batch_parts(self, batch_id: str) -> list[dict]:
        return [doc async for doc in self._parts.find({"batch_id": batch_id}).sort("part", ASCENDING)]

    async def history(self, result_id: str) -> list[dict]:
        return [doc async for doc in self._history.find({"result_id": result_id}).sort("replaced_at", ASCENDING)]

    async def count_results(self, query: dict | None = None) -> int:
        return await self._results.count_documents(query or {})

    async def find_results(self, query: dict) -> list[dict]:
        return [doc async for doc in self._results.find(query)]


def _result_document(arrival: PartArrival, result: ValidResult, verification_number: str) -> dict:
    part = arrival.part
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
        "release_at": arrival.release_at,
        "verification_number": verification_number,
        "board": part.board,
        "batch_id": part.batch_id,
        "part": part.part,
        "event_id": arrival.event_id,
        "published_at": arrival.published_at,
        "stored_at": arrival.received_at,
        "correction": False,  # True once it replaces a shown result
    }


def _history_document(version: dict, shown: dict, now: datetime) -> dict:
    """A version of a result that `shown` replaces (or, when it arrived late, never replaced)."""
    kept = {k: v for k, v in version.items() if k != "_id"}
    return {**kept, "_id": uuid.uuid4().hex, "result_id": shown["_id"], "replaced_at": now,
            "replaced_by": {"board": shown["board"], "batch_id": shown["batch_id"], "part": shown["part"]}}


def _part_document(arrival: PartArrival, sorted_part: SortedPart, announced: bool, showing: list[dict]) -> dict:
    part, now = arrival.part, arrival.received_at
    return {
        "_id": part.key, "board": part.board, "batch_id": part.batch_id, "part": part.part, "parts": part.parts,
        "exam": arrival.exam_code, "session": part.session, "release_at": arrival.release_at,
        "announce_at": arrival.announce_at,
        "records": len(part.results), "stored": len(sorted_part.stored), "corrected": sorted_part.corrected,
        "rejected": [asdict(r) for r in sorted_part.refused], "event_id": arrival.event_id,
        "correlation_id": arrival.correlation_id, "received_at": now,
        "announced_at": now if announced else None,
        # Whose results the announcement names when it is due (read again then: a later
        # correction may have replaced some).
        "to_announce": [] if announced else [doc["candidate_id"] for doc in showing],
    }


def _released_at(now: datetime) -> dict:
    """`results.domain.release.is_released` as a filter."""
    return {"release_at": {"$lte": now}}


def _announcement_due(now: datetime) -> dict:
    """`results.domain.release.announcement_due` as a filter. Only a part that records `announced_at`
    null is ever due: parts stored before releases were announced have no such field."""
    return {"announced_at": {"$type": "null"}, "announce_at": {"$lte": now}}


def _on_index(exc: BulkWriteError | DuplicateKeyError, index: str) -> bool:
    """Whether a duplicate key is one of this index (and not, say, of another unique index)."""
    details = exc.details or {}
    errors = details.get("writeErrors", [details]) if isinstance(exc, BulkWriteError) else [details]
    fields = INDEX_FIELDS[index]
    return any(
        error.get("code") == 11000
        and (list(error.get("keyPattern") or {}) == fields or index in error.get("errmsg", ""))
        for error in errors
    )
