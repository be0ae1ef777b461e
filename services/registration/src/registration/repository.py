"""The registration database: the roster of published entries, the registered candidates, and
the count of Secret Number guesses per ID."""

import uuid
from datetime import datetime

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.errors import DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from crs_shared.messaging.contracts import EntriesPublished
from crs_shared.mongo import Session
from registration.domain.guess_limit import GuessLimit

ENTRIES = "entries"
ENTRY_PARTS = "entry_parts"
CANDIDATES = "candidates"
GUESSES = "secret_number_guesses"

INDEXES = {
    ENTRIES: [IndexModel([("batch_id", ASCENDING)])],
    ENTRY_PARTS: [IndexModel([("board", ASCENDING), ("batch_id", ASCENDING)])],
    CANDIDATES: [IndexModel([("email", ASCENDING)])],
    # One counter per ID guessed, known or not, so that random IDs cannot fill the database: each
    # expires once it holds nothing any more (its window, hold and checks all over). The TTL
    # sweep only cleans up; every time is also checked in the updates.
    GUESSES: [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl")],
}


class RegistrationRepository:
    def __init__(self, db: AsyncDatabase):
        self._entries = db[ENTRIES]
        self._entry_parts = db[ENTRY_PARTS]
        self._candidates = db[CANDIDATES]
        self._guesses = db[GUESSES]

    async def find_entry(self, candidate_id: str) -> dict | None:
        return await self._entries.find_one({"_id": candidate_id})

    async def store_entries(self, session: Session, entries: list[dict]) -> None:
        """Upserts by candidate ID in one bulk write: sending the same entries again changes nothing."""
        if entries:
            await self._entries.bulk_write(
                [UpdateOne({"_id": e["_id"]}, {"$set": e}, upsert=True) for e in entries], ordered=False, session=session
            )

    async def record_entry_part(self, session: Session, part: EntriesPublished, now: datetime) -> None:
        await self._entry_parts.update_one(
            {"_id": part.key},
            {"$set": {"board": part.board, "batch_id": part.batch_id, "part": part.part, "parts": part.parts,
                      "entries": len(part.entries)},
             "$setOnInsert": {"received_at": now}},
            upsert=True, session=session,
        )

    async def is_registered(self, candidate_id: str) -> bool:
        return await self._candidates.find_one({"_id": candidate_id}, {"_id": 1}) is not None

    async def insert_candidate(self, session: Session, candidate: dict) -> None:
        await self._candidates.insert_one(candidate, session=session)

    async def count_candidates(self) -> int:
        return await self._candidates.count_documents({})

    # Guess counters: {_id: candidate ID, wrong, window_ends_at, held_until, checks: [{id, at}],
    # expires_at}. They change only in single-document updates whose condition or pipeline
    # decides inside the write, so concurrent attempts can never both take the last slot
    # (domain/guess_limit.py has the rule).

    async def reserve_check(self, candidate_id: str, now: datetime, limit: GuessLimit) -> str | None:
        """Reserves a check slot for one attempt: the id of the reservation, or None if the ID is
        held or its wrong numbers and the checks in hand leave no slot free."""
        check_id = uuid.uuid4().hex
        live = _live_checks(limit.stale_before(now))
        room = {"$and": [{"$not": [_held(now)]},
                         {"$lt": [{"$add": [_counted_wrong(now), {"$size": live}]}, limit.threshold]}]}
        reserved = {"checks": {"$concatArrays": [live, [{"id": check_id, "at": now}]]},
                    "expires_at": {"$max": ["$expires_at", limit.lease_ends(now)]}}
        # Whether a slot is free is decided inside the update, which leaves a counter without one
        # as it was: a condition in the filter would have to be a top-level `$expr`, and
        # SecantusDB reads the whole collection for a filter with a top-level `$` key.
        reserve = [{"$set": {field: {"$cond": [room, value, f"${field}"]} for field, value in reserved.items()}}]
        try:
            result = await self._guesses.update_one({"_id": candidate_id}, reserve, upsert=True)
        except DuplicateKeyError:  # a simultaneous first guess created the counter in between
            result = await self._guesses.update_one({"_id": candidate_id}, reserve)
        return check_id if result.modified_count == 1 or result.upserted_id is not None else None

    async def release_check(self, candidate_id: str, check_id: str) -> None:
        """The reserved check found the right number: it frees its slot and counts nothing."""
        await self._guesses.update_one({"_id": candidate_id}, {"$pull": {"checks": {"id": check_id}}})

    async def record_wrong(self, candidate_id: str, check_id: str, now: datetime, limit: GuessLimit) -> None:
        """Turns the reserved check into a wrong number; the `threshold`-th of a window holds the
        ID and starts the count again from nothing."""
        counted = {"$add": [_counted_wrong(now), 1]}
        reached = {"$gte": ["$wrong", limit.threshold]}
        await self._guesses.update_one({"_id": candidate_id}, [
            {"$set": {"checks": {"$filter": {"input": {"$ifNull": ["$checks", []]},
                                             "cond": {"$ne": ["$$this.id", check_id]}}},
                      "wrong": counted,
                      "window_ends_at": {"$cond": [_window_open(now), "$window_ends_at", limit.window_ends(now)]}}},
            {"$set": {"wrong": {"$cond": [reached, 0, "$wrong"]},
                      "window_ends_at": {"$cond": [reached, None, "$window_ends_at"]},
                      "held_until": {"$cond": [reached, limit.held_until(now), {"$ifNull": ["$held_until", None]}]}}},
            {"$set": {"expires_at": {"$max": ["$expires_at", "$window_ends_at", "$held_until"]}}},
        ], upsert=True)

    async def held_until(self, candidate_id: str) -> datetime | None:
        counter = await self._guesses.find_one({"_id": candidate_id}, {"held_until": 1})
        return counter.get("held_until") if counter else None

    async def lift_hold(self, candidate_id: str) -> None:
        """Forgets the hold and the count; checks in hand stay, and are recorded when they end."""
        await self._guesses.update_one({"_id": candidate_id},
                                       {"$set": {"wrong": 0, "window_ends_at": None, "held_until": None}})


def _held(now: datetime) -> dict:
    return {"$gt": ["$held_until", now]}  # a missing or null `held_until` is never greater


def _window_open(now: datetime) -> dict:
    return {"$gt": ["$window_ends_at", now]}


def _counted_wrong(now: datetime) -> dict:
    """The wrong numbers that still count: those of a window that has not ended."""
    return {"$cond": [_window_open(now), {"$ifNull": ["$wrong", 0]}, 0]}


def _live_checks(stale_before: datetime) -> dict:
    """The reserved checks, less those a crashed process left behind."""
    return {"$filter": {"input": {"$ifNull": ["$checks", []]}, "cond": {"$gt": ["$$this.at", stale_before]}}}
