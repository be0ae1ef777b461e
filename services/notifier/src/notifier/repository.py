"""The notifier's own database: contacts (built from CandidateRegistered) and notifications.

A notification row is created queued, leased by one dispatcher before its send, and marked sent
after it: a redelivered event finds its row and adds nothing; a crashed send is retried once its
lease runs out; two replicas never hold the same lease."""

from datetime import datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from crs_shared.mongo import Session, in_chunks
from notifier.domain.notifications import Status

CONTACTS = "contacts"
NOTIFICATIONS = "notifications"

INDEXES = {
    CONTACTS: [],
    NOTIFICATIONS: [
        IndexModel([("status", ASCENDING), ("due_at", ASCENDING)]),
        IndexModel([("candidate_id", ASCENDING)]),
    ],
}


class NotifierRepository:
    def __init__(self, db: AsyncDatabase):
        self._contacts = db[CONTACTS]
        self._notifications = db[NOTIFICATIONS]

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

    async def lease_due(self, now: datetime, owner: str, lease: timedelta, limit: int,
                        among: list[dict] | None = None) -> list[dict]:
        """Leases up to `limit` due notifications to `owner` (a token new for each pass) and returns
        them: the earliest due, or those rows of `among` (just written by this process) that are
        still due and unleased."""
        due = {"status": Status.QUEUED, "due_at": {"$lte": now}, "lease_until": {"$lte": now}}
        earliest = self._notifications.find(due, {"_id": 1}).sort("due_at", ASCENDING).limit(limit)
        ids = [row["_id"] for row in among] if among is not None else [doc["_id"] async for doc in earliest]
        if not ids:
            return []
        leased = {"lease_until": now + lease, "lease_owner": owner}
        result = await self._notifications.update_many({"_id": {"$in": ids}, **due}, {"$set": leased})
        if among is not None and result.modified_count == len(ids):
            return [row | leased for row in among]  # all of them, untouched since: no need to read them back
        return [doc async for doc in self._notifications.find({"_id": {"$in": ids}, "lease_owner": owner})]

    async def mark_sent(self, notification_ids: list[str], owner: str, now: datetime) -> None:
        # The context goes once it is sent: it may hold a reset link, which must not rest here.
        await self._notifications.update_many(
            {"_id": {"$in": notification_ids}, "lease_owner": owner},
            {"$set": {"status": Status.SENT, "sent_at": now}, "$unset": {"context": ""}, "$inc": {"attempts": 1}},
        )

    async def schedule_retry(self, notification_id: str, owner: str, at: datetime, error: str) -> None:
        await self._notifications.update_one(
            {"_id": notification_id, "lease_owner": owner},
            {"$set": {"lease_until": at, "last_error": error}, "$inc": {"attempts": 1}},
        )

    async def mark_failed(self, notification_id: str, owner: str, now: datetime, reason: str) -> None:
        await self._notifications.update_one(
            {"_id": notification_id, "lease_owner": owner},
            {"$set": {"status": Status.FAILED, "failed_at": now, "last_error": reason}, "$inc": {"attempts": 1}},
        )

    async def requeue_failed(self, now: datetime) -> int:
        result = await self._notifications.update_many(
            {"status": Status.FAILED}, {"$set": {"status": Status.QUEUED, "lease_until": now, "attempts": 0}}
        )
        return result.modified_count

    async def find(self, query: dict, limit: int = 100) -> list[dict]:
        return [doc async for doc in self._notifications.find(query).limit(limit)]

    async def count(self, query: dict) -> int:
        return await self._notifications.count_documents(query)

    async def get(self, notification_id: str) -> dict | None:
        return await self._notifications.find_one({"_id": notification_id})
