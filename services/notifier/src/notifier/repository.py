"""The notifier's own database: contacts (built from CandidateRegistered), notifications and
mailings.

A notification row is created queued, leased by one dispatcher before its send, and marked sent
after it: a redelivered event finds its row and adds nothing; a crashed send is retried once its
lease runs out; two replicas never hold the same lease.

A results part's emails are one mailing instead: one document holding the rows it will become,
leased as a whole, and each email's row is written once the email has an outcome (sent, failed,
or queued for a retry), so a part's email costs one write, not an insert and an update (each
document written costs SecantusDB about the same, and an email's update was half of release
day's database time: bench/README.md, change 29). An email's state is in one place: its
mailing until it has a row, its row after. A mailing is deleted once every email of it has its row."""

import contextlib
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

from crs_shared.mongo import Session, in_chunks
from notifier.domain.notifications import Kind, Status

CONTACTS = "contacts"
NOTIFICATIONS = "notifications"
MAILINGS = "mailings"
# One document per source with mailings: each mailing's transaction writes it, so two parts of one
# batch committing at once conflict and one runs again, and then sees the other's candidates.
MAILING_SOURCES = "mailing_sources"

# A queued row is free to take once its `lease_until` has passed: it holds the end of a
# dispatcher's lease, the due time of a row due later, or the time of its next try. A sent row
# holds FINISHED, a failed one GAVE_UP. So a search is one range of one index, and reads only rows it
# can take however many are queued, leased or finished (by status, SecantusDB read every queued row
# to check its lease: 0.6 s a search with 20,000 leased on release day); the queue is the range
# before GAVE_UP, and the failed rows one point. That one index is the only one: each secondary
# index costs SecantusDB on every row's insert and every update (a status index a quarter to a third,
# bench/README.md), and a row is inserted and updated once an email (a mailing's, inserted once).
GAVE_UP = datetime(9999, 12, 30, tzinfo=UTC)
FINISHED = datetime(9999, 12, 31, tzinfo=UTC)
DUPLICATE_KEY = 11000
QUEUED_ROWS = {"lease_until": {"$lt": GAVE_UP}, "status": Status.QUEUED}
FAILED_ROWS = {"lease_until": GAVE_UP, "status": Status.FAILED}

INDEXES = {
    CONTACTS: [],
    NOTIFICATIONS: [IndexModel([("lease_until", ASCENDING)])],
    # A mailing is free to take once `lease_until` has passed, as a row is; its candidates are
    # indexed so a later part of the same batch leaves out those already in a mailing.
    MAILINGS: [IndexModel([("lease_until", ASCENDING)]),
               IndexModel([("source", ASCENDING), ("candidate_ids", ASCENDING)])],
    MAILING_SOURCES: [],
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
        self._mailings = db[MAILINGS]
        self._mailing_sources = db[MAILING_SOURCES]

    async def upgrade(self) -> None:
        """Brings a database made by an older notifier in line, once: its finished rows get their
        marks, its failed rows lose their reset links, then the retired indexes go. Run again after
        a crash in between, it does it again."""
        retired = [name for name in await self._notifications.index_information() if name in RETIRED_INDEXES]
        if STATUS_INDEX in retired:
            for status, mark in ((Status.FAILED, GAVE_UP), (Status.SENT, FINISHED)):
                await self._notifications.update_many({"status": status, "lease_until": {"$ne": mark}},
                                                      {"$set": {"lease_until": mark}})
        holding = {"$or": [{path: {"$exists": True}} for path in FAILED_DROPS]}
        await self._notifications.update_many(FAILED_ROWS | holding, {"$unset": dict.fromkeys(FAILED_DROPS, "")})
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

    async def known_ids(self, session: Session | None, notification_ids: list[str]) -> set[str]:
        return {d["_id"] for chunk in in_chunks(notification_ids)
                async for d in self._notifications.find({"_id": {"$in": chunk}}, {"_id": 1}, session=session)}

    # Mailings

    async def add_mailing(self, session: Session, mailing: dict) -> None:
        await self._mailing_sources.update_one({"_id": mailing["source"]}, {"$inc": {"mailings": 1}}, upsert=True,
                                               session=session)
        await self._mailings.insert_one(mailing, session=session)

    async def in_mailings(self, session: Session, source: str, candidate_ids: list[str]) -> set[str]:
        """Those of these candidates already in a mailing of `source` (one not done yet)."""
        found: set[str] = set()
        for chunk in in_chunks(candidate_ids):
            async for mailing in self._mailings.find({"source": source, "candidate_ids": {"$in": chunk}},
                                                     {"candidate_ids": 1}, session=session):
                found.update(set(chunk).intersection(mailing["candidate_ids"]))
        return found

    async def lease_mailing(self, now: datetime, owner: str, lease: timedelta) -> dict | None:
        """Leases the mailing free the longest, if any, to `owner` and returns it."""
        free = {"lease_until": {"$lte": now}, "due_at": {"$lte": now}}
        found = await self._mailings.find_one(free, {"_id": 1}, sort=[("lease_until", ASCENDING)])
        if found is None:
            return None
        leased = await self._mailings.update_one({"_id": found["_id"], **free},
                                                 {"$set": {"lease_until": now + lease, "lease_owner": owner}})
        if leased.modified_count == 0:  # another dispatcher took it first
            return None
        return await self._mailings.find_one({"_id": found["_id"], "lease_owner": owner})

    async def renew_mailing(self, mailing_id: str, owner: str, until: datetime) -> bool:
        """False if `owner` no longer holds the mailing."""
        result = await self._mailings.update_one({"_id": mailing_id, "lease_owner": owner},
                                                 {"$set": {"lease_until": until}})
        return result.matched_count == 1

    async def finish_mailing(self, mailing_id: str, owner: str) -> None:
        """Every email of the mailing has its row."""
        await self._mailings.delete_one({"_id": mailing_id, "lease_owner": owner})

    async def release_mailings(self, mailing_ids: list[str], owner: str, now: datetime) -> int:
        result = await self._mailings.update_many({"_id": {"$in": mailing_ids}, "lease_owner": owner},
                                                  {"$set": {"lease_until": now}})
        return result.modified_count

    # A mailing's email gets its row once it has an outcome, the row `mark_sent`, `mark_failed` or
    # `schedule_retry` makes of a queued one (the same `_sent`, `_failed` or `_retry` changes). A
    # row already there (its outcome recorded before a crash, the mailing taken again) is kept as it is.

    async def record_sent(self, emails: list[dict], now: datetime) -> None:
        await self._record([_outcome(email, _sent(now), drop=SENT_DROPS) for email in emails])

    async def record_failed(self, email: dict, now: datetime, reason: str) -> None:
        await self._record([_outcome(email, _failed(now, reason), drop=FAILED_DROPS)])

    async def record_retry(self, email: dict, at: datetime, error: str) -> None:
        await self._record([_outcome(email, _retry(at, error))])

    async def _record(self, rows: list[dict]) -> None:
        try:
            await self._notifications.insert_many(rows, ordered=False)
        except BulkWriteError as exc:
            if any(error["code"] != DUPLICATE_KEY for error in exc.details["writeErrors"]):
                raise

    # Rows

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
        await self._notifications.update_many(
            {"_id": {"$in": notification_ids}, "lease_owner": owner},
            {"$set": _sent(now), "$unset": dict.fromkeys(SENT_DROPS, ""), "$inc": {"attempts": 1}},
        )

    async def schedule_retry(self, notification_id: str, owner: str, at: datetime, error: str) -> None:
        await self._notifications.update_one(
            {"_id": notification_id, "lease_owner": owner},
            {"$set": _retry(at, error), "$inc": {"attempts": 1}},
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
            {"$set": _failed(now, reason), "$unset": dict.fromkeys(FAILED_DROPS, ""), "$inc": {"attempts": 1}},
        )

    async def requeue_failed(self, now: datetime) -> int:
        """Every failed row but the password resets, whose links are gone: the candidate asks again."""
        result = await self._notifications.update_many(
            {**FAILED_ROWS, "kind": {"$ne": Kind.PASSWORD_RESET}},
            {"$set": {"status": Status.QUEUED, "lease_until": now, "attempts": 0}},
        )
        return result.modified_count

    async def failed(self, limit: int = 100) -> list[dict]:
        return await self.find(FAILED_ROWS, limit)

    async def count_queued(self) -> int:
        """Queued rows, and the emails of the mailings not done yet."""
        in_mailings = [mailing["emails"] async for mailing in self._mailings.find({}, {"emails": 1})]
        return await self.count(QUEUED_ROWS) + sum(in_mailings)

    async def count_mailings(self, query: dict) -> int:
        return await self._mailings.count_documents(query)

    async def find(self, query: dict, limit: int = 100) -> list[dict]:
        return [doc async for doc in self._notifications.find(query).limit(limit)]

    async def count(self, query: dict) -> int:
        return await self._notifications.count_documents(query)

    async def get(self, notification_id: str) -> dict | None:
        return await self._notifications.find_one({"_id": notification_id})


# What each outcome of a try changes in a row, whether it updates a queued row or makes a
# mailing's email its row. A reset link must not rest here: a sent row loses its context, and a
# failed one its link (the rest stays, for an operator to queue it again).
SENT_DROPS = ("context",)
FAILED_DROPS = ("context.reset_url",)


def _sent(now: datetime) -> dict:
    return {"status": Status.SENT, "sent_at": now, "lease_until": FINISHED}


def _failed(now: datetime, reason: str) -> dict:
    return {"status": Status.FAILED, "failed_at": now, "last_error": reason, "lease_until": GAVE_UP}


def _retry(at: datetime, error: str) -> dict:
    return {"lease_until": at, "last_error": error}


def _outcome(email: dict, changes: dict, *, drop: tuple[str, ...] = ()) -> dict:
    """The row of a mailing's email after one try: its queued row, less `drop` (fields, or
    `field.key` for a key of one), with `changes`."""
    row = {k: v for k, v in email.items() if k not in ("mailing", *drop)}
    for field, _, key in (path.partition(".") for path in drop if "." in path):
        if field in row:
            row[field] = {k: v for k, v in row[field].items() if k != key}
    return row | changes | {"attempts": email.get("attempts", 0) + 1, "lease_owner": None}
