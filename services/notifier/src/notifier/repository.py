"""The notifier's own database: contacts (built from CandidateRegistered) and notifications.

A notification row is created queued, leased by one dispatcher before its send, and marked sent
after it: a redelivered event finds its row and adds nothing; a crashed send is retried once its
lease runs out; two replicas never hold the same lease."""

import contextlib
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from crs_shared.mongo import Session, in_chunks
from notifier.domain.notifications import Status

CONTACTS = "contacts"
NOTIFICATIONS = "notifications"

# A queued row is free to take once its `lease_until` has passed: it holds the end of a
# dispatcher's lease, the due time of a row due later, or the time of its next try. A sent row
# holds FINISHED, a failed one GAVE_UP. So a search is one range of one index, and reads only rows it
# can take however many are queued, leased or finished (by status, SecantusDB read every queued row
# to check its lease: 0.6 s a search with 20,000 leased on release day); the queue is the range
# before GAVE_UP, and the failed rows one point. That one index is the only one: each secondary
# index costs SecantusDB on every row's insert and every update (a status index a quarter to a third,
# bench/README.md), and a row is inserted and updated once an email.
GAVE_UP = datetime(9999, 12, 30, tzinfo=UTC)
FINISHED = datetime(9999, 12, 31, tzinfo=UTC)
QUEUED_ROWS = {"lease_until": {"$lt": GAVE_UP}, "status": Status.QUEUED}
FAILED_ROWS = {"lease_until": GAVE_UP, "status": Status.FAILED}

INDEXES = {
    CONTACTS: [],
    NOTIFICATIONS: [IndexModel([("lease_until", ASCENDING)])],
}
# Indexes of older databases, which cost every write and serve no query now: `candidate_id`'s
# (before the search went by `lease_until`) and the status index (before GAVE_UP; while it is
# there, the rows' marks are not yet upgraded).
STATUS_INDEX = "status_1_due_at_1"
RETIRED_INDEXES = (STATUS_INDEX, "candidate_id_1")


class NotifierRepository:
    def __init__(self, db: AsyncDatabase):
        self._contacts = db[CONTACTS]
        self._notifications = db[NOTIFICATIONS]

    async def upgrade(self) -> None:
        """Brings a database made by an older notifier in line, once: its finished rows get their
        marks, then the retired indexes go. Run again after a crash in between, it does it again."""
        retired = [name for name in await self._notifications.index_information() if name in RETIRED_INDEXES]
        if STATUS_INDEX in retired:
            for status, mark in ((Status.FAILED, GAVE_UP), (Status.SENT, FINISHED)):
                await self._notifications.update_many({"status": status, "lease_until": {"$ne": mark}},
                                                      {"$set": {"lease_until": mark}})
        for name in retired:
            with contextlib.suppress(OperationFailure):  # another replica dropped it first
                await self._notifications.drop_index(name)

    async def upsert_contact(self, session: Session, contact: dict) -> None:
        await self._contacts.update_one({"_id": contact["_id"]}, {"$set": contact}, upsert=True, session=session)

    async def find_contact(self, session: Session, candidate_id: str) -> dict | None:
        return await self._contacts.find_one({"_id": candidate_id}, session=session)

    async def find_contacts(self, session: Session, candidate_ids: list[str]) -> list[dict]:
        return [c for chunk in in_chunks(candidate_ids)
                async for c in self._contacts.find({"_id": {"$in": chunk}}, session=session)]

    async def add_notifications(self, session: Session, notifications: list[dict]) -> list[dict]:
        """Their unique `_id`s (source, candidate, kind) refuse a second row for the same email.
        Returns the rows added."""
        if notifications:
            await self._notifications.insert_many(notifications, session=session)
        return notifications

    async def known_ids(self, session: Session, notification_ids: list[str]) -> set[str]:
        return {d["_id"] for chunk in in_chunks(notification_ids)
                async for d in self._notifications.find({"_id": {"$in": chunk}}, {"_id": 1}, session=session)}

    async def lease_due(self, now: datetime, owner: str, lease: timedelta, limit: int) -> list[dict]:
        """Leases up to `limit` rows free to take, the longest free first, to `owner` (a token new
        for each pass) and returns them. `due_at` is checked too: a row is never sent before it is due."""
        free = {"lease_until": {"$lte": now}, "status": Status.QUEUED, "due_at": {"$lte": now}}
        found = self._notifications.find(free, {"_id": 1}).sort("lease_until", ASCENDING).limit(limit)
        ids = [doc["_id"] async for doc in found]
        if not ids:
            return []
        await self._notifications.update_many({"_id": {"$in": ids}, **free},
                                              {"$set": {"lease_until": now + lease, "lease_owner": owner}})
        return [doc async for doc in self._notifications.find({"_id": {"$in": ids}, "lease_owner": owner})]

    async def mark_sent(self, notification_ids: list[str], owner: str, now: datetime) -> None:
        # The context goes once it is sent: it may hold a reset link, which must not rest here.
        await self._notifications.update_many(
            {"_id": {"$in": notification_ids}, "lease_owner": owner},
            {"$set": {"status": Status.SENT, "sent_at": now, "lease_until": FINISHED}, "$unset": {"context": ""},
             "$inc": {"attempts": 1}},
        )

    async def schedule_retry(self, notification_id: str, owner: str, at: datetime, error: str) -> None:
        await self._notifications.update_one(
            {"_id": notification_id, "lease_owner": owner},
            {"$set": {"lease_until": at, "last_error": error}, "$inc": {"attempts": 1}},
        )

    async def release(self, notification_ids: list[str], owner: str, now: datetime) -> int:
        """Ends `owner`'s lease on those of these rows still queued, so any replica takes them now."""
        released = 0
        for chunk in in_chunks(notification_ids):
            result = await self._notifications.update_many(
                {"_id": {"$in": chunk}, "lease_owner": owner, "status": Status.QUEUED}, {"$set": {"lease_until": now}})
            released += result.modified_count
        return released

    async def mark_failed(self, notification_id: str, owner: str, now: datetime, reason: str) -> None:
        await self._notifications.update_one(
            {"_id": notification_id, "lease_owner": owner},
            {"$set": {"status": Status.FAILED, "failed_at": now, "last_error": reason, "lease_until": GAVE_UP},
             "$inc": {"attempts": 1}},
        )

    async def requeue_failed(self, now: datetime) -> int:
        result = await self._notifications.update_many(
            FAILED_ROWS, {"$set": {"status": Status.QUEUED, "lease_until": now, "attempts": 0}}
        )
        return result.modified_count

    async def failed(self, limit: int = 100) -> list[dict]:
        return await self.find(FAILED_ROWS, limit)

    async def count_queued(self) -> int:
        return await self.count(QUEUED_ROWS)

    async def find(self, query: dict, limit: int = 100) -> list[dict]:
        return [doc async for doc in self._notifications.find(query).limit(limit)]

    async def count(self, query: dict) -> int:
        return await self._notifications.count_documents(query)

    async def get(self, notification_id: str) -> dict | None:
        return await self._notifications.find_one({"_id": notification_id})
