"""The notifier's own database: contacts (built from CandidateRegistered) and notifications, one row
per email.

A row is written queued, leased by one dispatcher before its send, and its outcome recorded after:
sent, failed, or queued again for a retry. A redelivered event finds its row and adds nothing; a
crashed send is retried once its lease runs out; two dispatchers never hold the same lease.

A candidate the notifier has no contact for yet (its CandidateRegistered not here yet, or never
registered) gets a contact document holding only `waiting`: the emails to write once it registers.
Both the handler that adds to `waiting` and the one that registers the contact write that one
document, so when they run at once one of them runs again and sees the other's work."""

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel, UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, OperationFailure

from crs_shared.mongo import Session, in_chunks, refused_writes, write_concern_failed
from notifier.domain.notifications import Status

CONTACTS = "contacts"
NOTIFICATIONS = "notifications"
# Collections of older notifiers: a results part's emails were one mailing document.
RETIRED_COLLECTIONS = ("mailings", "mailing_sources")
DUPLICATE_KEY = 11000

# A queued row is free to take once its `lease_until` has passed: it holds the end of a
# dispatcher's lease, the due time of a row due later, or the time of its next try. A row that
# follows a confirmation (the emails of a candidate who registered late) holds FOLLOWS until the
# confirmation has its outcome; a sent row holds FINISHED, a failed one GAVE_UP. So a search is one
# range of one index and reads only rows it can take, however many are queued, leased or finished;
# the queue is the range before GAVE_UP, and the failed rows one point. That one index is the only
# one: each secondary index costs SecantusDB on every row's insert and update.
FOLLOWS = datetime(9999, 12, 29, tzinfo=UTC)
GAVE_UP = datetime(9999, 12, 30, tzinfo=UTC)
FINISHED = datetime(9999, 12, 31, tzinfo=UTC)
QUEUED_ROWS = {"lease_until": {"$lt": GAVE_UP}, "status": Status.QUEUED}
FAILED_ROWS = {"lease_until": GAVE_UP, "status": Status.FAILED}

INDEXES = {CONTACTS: [], NOTIFICATIONS: [IndexModel([("lease_until", ASCENDING)])]}
# Indexes of older databases, which cost every write and serve no query now: `candidate_id`'s
# (before the search went by `lease_until`) and the status index (before GAVE_UP; while it is
# there, the rows' marks are not yet upgraded).
STATUS_INDEX = "status_1_due_at_1"
RETIRED_INDEXES = (STATUS_INDEX, "candidate_id_1")


@dataclass(frozen=True)
class Outcome:
    """One try of one email: `sent`, or not (`error`), and then tried again `retry_at` or failed."""

    row_id: str
    owner: str
    sent: bool
    error: str | None = None
    retry_at: datetime | None = None
    then: tuple[str, ...] = ()  # the rows that follow this one (notifier.handlers)
    # False for a try the email is not to blame for (sending paused, notifier.mailer): not counted in `attempts`.
    counts: bool = True


class NotifierRepository:
    def __init__(self, db: AsyncDatabase):
        self._db = db
        self._contacts = db[CONTACTS]
        self._notifications = db[NOTIFICATIONS]

    async def upgrade(self, now: datetime) -> None:
        """Brings a database made by an older notifier in line, once: its finished rows get their
        marks, the retired indexes go, and the emails still in a mailing become rows. Run again after
        a crash in between, it does it again."""
        retired = [name for name in await self._notifications.index_information() if name in RETIRED_INDEXES]
        if STATUS_INDEX in retired:
            for status, mark in ((Status.FAILED, GAVE_UP), (Status.SENT, FINISHED)):
                await self._notifications.update_many({"status": status, "lease_until": {"$ne": mark}},
                                                      {"$set": {"lease_until": mark}})
        for name in retired:
            with contextlib.suppress(OperationFailure):  # another replica dropped it first
                await self._notifications.drop_index(name)
        async for mailing in self._db[RETIRED_COLLECTIONS[0]].find({}):
            rows = mailing["rows"]
            known = await self.known_ids(None, [row["_id"] for row in rows])
            unsent = [row | {"lease_until": max(row["due_at"], now), "lease_owner": None}
                      for row in rows if row["_id"] not in known]
            if unsent:
                try:
                    await self._notifications.insert_many(unsent, ordered=False)
                except BulkWriteError as exc:  # another replica, upgrading at once, wrote some of them first
                    if write_concern_failed(exc) or any(e["code"] != DUPLICATE_KEY for e in refused_writes(exc)):
                        raise
            await self._db[RETIRED_COLLECTIONS[0]].delete_one({"_id": mailing["_id"]})
        for name in RETIRED_COLLECTIONS:
            await self._db.drop_collection(name)

    # Contacts

    async def register_contact(self, session: Session, contact: dict) -> dict | None:
        """Stores the contact; returns what was there before (None, or a document holding `waiting`).
        A read and an update, not `find_one_and_update`, which reads the whole collection on
        SecantusDB (docs/secantusdb.md)."""
        before = await self._contacts.find_one({"_id": contact["_id"]}, session=session)
        await self._contacts.update_one({"_id": contact["_id"]}, {"$set": contact, "$unset": {"waiting": ""}},
                                        upsert=True, session=session)
        return before

    async def find_contact(self, session: Session, candidate_id: str) -> dict | None:
        return await self._contacts.find_one({"_id": candidate_id}, session=session)

    async def find_contacts(self, session: Session, candidate_ids: list[str]) -> list[dict]:
        return [c for chunk in in_chunks(candidate_ids)
                async for c in self._contacts.find({"_id": {"$in": chunk}}, session=session)]

    async def keep_waiting(self, session: Session, waiting: dict[str, list[dict]]) -> None:
        """Adds emails to write once their candidate registers (candidate id -> email drafts)."""
        if waiting:
            await self._contacts.bulk_write(
                [UpdateOne({"_id": candidate_id}, {"$push": {"waiting": {"$each": drafts}}}, upsert=True)
                 for candidate_id, drafts in waiting.items()], ordered=False, session=session)

    async def withdraw(self, session: Session, emails: list[tuple[str, str]]) -> None:
        """Emails (candidate id, row id) not to send after all, if they have not started on their
        way: a draft still waiting for its contact, or a row still following its confirmation."""
        if not emails:
            return
        candidate_ids, row_ids = [c for c, _ in emails], [r for _, r in emails]
        await self._contacts.update_many({"_id": {"$in": candidate_ids}, "waiting._id": {"$in": row_ids}},
                                         {"$pull": {"waiting": {"_id": {"$in": row_ids}}}}, session=session)
        await self._notifications.delete_many({"_id": {"$in": row_ids}, "lease_until": FOLLOWS}, session=session)

    # Rows

    async def add_notifications(self, session: Session, notifications: list[dict]) -> list[dict]:
        """Their unique `_id`s (source, candidate, kind) refuse a second row for the same email.
        Returns the rows added."""
        if notifications:
            await self._notifications.insert_many(notifications, session=session)
        return notifications

    async def known_ids(self, session: Session | None, notification_ids: list[str], *,
                        following: bool = True) -> set[str]:
        """Those of these rows that exist; with `following` False, not those still waiting for the
        confirmation they follow (never sent yet, and not about to be)."""
        waiting = {} if following else {"lease_until": {"$ne": FOLLOWS}}
        return {d["_id"] for chunk in in_chunks(notification_ids)
                async for d in self._notifications.find({"_id": {"$in": chunk}, **waiting}, {"_id": 1}, session=session)}

    async def lease_due(self, now: datetime, owner: str, lease: timedelta, limit: int) -> list[dict]:
        """Leases up to `limit` rows free to take, the longest free first, to `owner` (a token new
        for each search) and returns them. `due_at` is checked too: a row is never sent before it is due."""
        free = {"lease_until": {"$lte": now}, "status": Status.QUEUED, "due_at": {"$lte": now}}
        found = self._notifications.find(free, {"_id": 1}).sort("lease_until", ASCENDING).limit(limit)
        ids = [doc["_id"] async for doc in found]
        if not ids:
            return []
        await self._notifications.update_many({"_id": {"$in": ids}, **free},
                                              {"$set": {"lease_until": now + lease, "lease_owner": owner}})
        return [doc async for doc in self._notifications.find({"_id": {"$in": ids}, "lease_owner": owner})]

    async def extend_lease(self, notification_id: str, owner: str, until: datetime) -> bool:
        """False if `owner` no longer holds the row (another dispatcher took it after its lease ran
        out, or it was sent)."""
        result = await self._notifications.update_one(
            {"_id": notification_id, "lease_owner": owner, "status": Status.QUEUED}, {"$set": {"lease_until": until}})
        return result.matched_count == 1

    async def record(self, outcomes: list[Outcome], now: datetime) -> None:
        """The outcomes of some tries, in one write. A sent email is recorded whoever holds its row
        now: it was sent. A failure is the holder's to record. The rows that follow an email that
        is done (sent or failed) become due, before it is marked so."""
        sent = [o.row_id for o in outcomes if o.sent]
        done = [o for o in outcomes if o.sent or o.retry_at is None]
        followers = [row_id for o in done for row_id in o.then]
        writes: list[UpdateOne | UpdateMany] = []
        if followers:
            writes.append(UpdateMany({"_id": {"$in": followers}, "lease_until": FOLLOWS},
                                     {"$set": {"lease_until": now}}))
        if sent:
            writes.append(UpdateMany({"_id": {"$in": sent}, "status": Status.QUEUED},
                                     {"$set": _sent(now), "$unset": ERASED, "$inc": {"attempts": 1}}))
        for o in outcomes:
            if not o.sent:
                mine = {"_id": o.row_id, "lease_owner": o.owner, "status": Status.QUEUED}
                change = ({"$set": _failed(now, o.error), "$unset": ERASED} if o.retry_at is None
                          else {"$set": {"lease_until": o.retry_at, "last_error": o.error}})
                writes.append(UpdateOne(mine, change | ({"$inc": {"attempts": 1}} if o.counts else {})))
        if writes:
            await self._notifications.bulk_write(writes, ordered=True)

    async def release(self, notification_ids: list[str], owner: str, now: datetime) -> int:
        """Ends `owner`'s lease on those of these rows still queued, so any replica takes them now."""
        released = 0
        for chunk in in_chunks(notification_ids):
            result = await self._notifications.update_many(
                {"_id": {"$in": chunk}, "lease_owner": owner, "status": Status.QUEUED}, {"$set": {"lease_until": now}})
            released += result.modified_count
        return released

    async def failed(self, limit: int = 100) -> list[dict]:
        return await self.find(FAILED_ROWS, limit)

    async def failed_of(self, kinds: list[str]) -> list[dict]:
        return [doc async for doc in self._notifications.find(FAILED_ROWS | {"kind": {"$in": kinds}},
                                                              {"candidate_id": 1, "kind": 1, "exam": 1, "session": 1})]

    async def requeue(self, rows: list[dict], now: datetime) -> int:
        """Queues failed rows again, each with the fields given (its email, language, context)."""
        if not rows:
            return 0
        result = await self._notifications.bulk_write([
            UpdateOne({"_id": row["_id"], **FAILED_ROWS},
                      {"$set": row | {"status": Status.QUEUED, "lease_until": now, "lease_owner": None, "attempts": 0,
                                      "created_at": now}})
            for row in rows])
        return result.modified_count

    async def count_queued(self) -> int:
        return await self.count(QUEUED_ROWS)

    async def find(self, query: dict, limit: int = 100) -> list[dict]:
        return [doc async for doc in self._notifications.find(query).limit(limit)]

    async def count(self, query: dict) -> int:
        return await self._notifications.count_documents(query)

    async def get(self, notification_id: str) -> dict | None:
        return await self._notifications.find_one({"_id": notification_id})


# A finished row keeps no context: it may hold a reset link, which must not rest here.
ERASED = {"context": ""}


def _sent(now: datetime) -> dict:
    return {"status": Status.SENT, "sent_at": now, "lease_until": FINISHED}


def _failed(now: datetime, reason: str | None) -> dict:
    return {"status": Status.FAILED, "failed_at": now, "last_error": reason, "lease_until": GAVE_UP}
