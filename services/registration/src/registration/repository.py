"""The registration database: the roster of published entries and the registered candidates."""

from datetime import datetime

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from crs_shared.mongo import Session

ENTRIES = "entries"
ENTRY_PARTS = "entry_parts"
CANDIDATES = "candidates"

INDEXES = {
    ENTRIES: [IndexModel([("batch_id", ASCENDING)])],
    ENTRY_PARTS: [IndexModel([("board", ASCENDING), ("batch_id", ASCENDING)])],
    CANDIDATES: [IndexModel([("email", ASCENDING)])],
}


class RegistrationRepository:
    def __init__(self, db: AsyncDatabase):
        self._entries = db[ENTRIES]
        self._entry_parts = db[ENTRY_PARTS]
        self._candidates = db[CANDIDATES]

    async def find_entry(self, candidate_id: str) -> dict | None:
        return await self._entries.find_one({"_id": candidate_id})

    async def store_entries(self, session: Session, entries: list[dict]) -> None:
        """Upserts by candidate ID in one bulk write: sending the same entries again changes nothing."""
        if entries:
            await self._entries.bulk_write(
                [UpdateOne({"_id": e["_id"]}, {"$set": e}, upsert=True) for e in entries], ordered=False, session=session
            )

    async def record_entry_part(
        self, session: Session, *, board: str, batch_id: str, part: int, parts: int, count: int, now: datetime
    ) -> None:
        await self._entry_parts.update_one(
            {"_id": f"{board}:{batch_id}:{part}"},
            {"$set": {"board": board, "batch_id": batch_id, "part": part, "parts": parts, "entries": count},
             "$setOnInsert": {"received_at": now}},
            upsert=True, session=session,
        )

    async def is_registered(self, candidate_id: str) -> bool:
        return await self._candidates.find_one({"_id": candidate_id}, {"_id": 1}) is not None

    async def insert_candidate(self, session: Session, candidate: dict) -> None:
        await self._candidates.insert_one(candidate, session=session)

    async def count_candidates(self) -> int:
        return await self._candidates.count_documents({})
