"""The auth database: credentials (the only copy of each password hash, with the lockout count),
the lockout counts of unknown IDs, reset tokens (their SHA-256 only), and access tokens revoked
by log-out."""

import uuid
from datetime import datetime

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from auth.domain.lockout import LockoutPolicy

from crs_shared.mongo import Session
from crs_shared.tokens import Claims

CREDENTIALS = "credentials"
SHADOW_ATTEMPTS = "shadow_attempts"
RESET_TOKENS = "reset_tokens"
REVOKED_TOKENS = "revoked_tokens"

# TTL indexes only clean up (about once a minute): every expiry is also checked in the query.
INDEXES = {
    CREDENTIALS: [],
    SHADOW_ATTEMPTS: [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl")],
    RESET_TOKENS: [
        IndexModel([("candidate_id", ASCENDING), ("used_at", ASCENDING)]),
        IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"),
    ],
    REVOKED_TOKENS: [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl")],
}


def _unlocked(now: datetime) -> dict:
    """No lock, or a lock that has lifted (the same rule as `LockoutPolicy.is_locked`). `$not`
    also matches a missing or null `locked_until`."""
    return {"locked_until": {"$not": {"$gt": now}}}


def _check_ended(check_id: str) -> dict:
    """Frees the place of a check that ended (an update operator, cheaper than a pipeline here)."""
    return {"$pull": {"checks": {"id": check_id}}}


class LoginAttempts:
    """The lockout count of IDs in one collection, changed only in conditional single-document
    updates: the condition decides, inside the write, whether an attempt may be checked, counted
    or lock, so concurrent attempts can never both pass it (auth.domain.lockout has the rule).

    Fields: `failed_attempts` (wrong passwords in a row), `checks` (`{id, at}` of each check in
    flight), `last_attempt_at` (the latest reservation), `locked_until`, `locked_at`. A shadow
    collection, for IDs that are not registered, creates its documents on the first attempt and
    lets them expire once the count would be forgotten. Both take the same writes in every state,
    so that the time an answer takes says nothing of whether the ID is registered."""

    def __init__(self, collection: AsyncCollection, policy: LockoutPolicy, *, shadow: bool):
        self._collection = collection
        self._policy = policy
        self._shadow = shadow

    async def find(self, candidate_id: str) -> dict | None:
        return await self._collection.find_one({"_id": candidate_id}, {"locked_until": 1})

    async def reserve_check(self, candidate_id: str, now: datetime) -> str | None:
        """Takes a place for one password check and returns its id; None if the account is locked
        or every place of this window is taken (counted wrong passwords and checks in flight)."""
        check_id = uuid.uuid4().hex
        failed = {"$cond": [{"$lt": ["$last_attempt_at", self._policy.forgotten_before(now)]}, 0,
                            {"$ifNull": ["$failed_attempts", 0]}]}
        live_checks = {"$filter": {"input": {"$ifNull": ["$checks", []]},
                                   "cond": {"$gt": ["$$this.at", self._policy.stale_checks_before(now)]}}}
        reserved = {"failed_attempts": failed, "checks": {"$concatArrays": [live_checks, [{"id": check_id, "at": now}]]},
                    "last_attempt_at": now}
        if self._shadow:
            reserved["expires_at"] = now + self._policy.forget_after
        # Whether a place is free is decided inside the update, which leaves a document without
        # one as it was: a condition in the filter would have to be a top-level `$expr`, and
        # SecantusDB reads the whole collection for a filter with a top-level `$` key.
        free = {"$lt": [{"$add": [failed, {"$size": live_checks}]}, self._policy.locking_attempt]}
        reserve = [{"$set": {field: {"$cond": [free, value, f"${field}"]} for field, value in reserved.items()}}]
        unlocked = {"_id": candidate_id, **_unlocked(now)}
        try:
            # A shadow's first attempt creates it. A locked document makes the upsert insert a
            # second one with its _id, which the _id index refuses.
            result = await self._collection.update_one(unlocked, reserve, upsert=True)
        except DuplicateKeyError:
            # Locked, or a simultaneous first attempt created the document in between: ask again.
            result = await self._collection.update_one(unlocked, reserve)
        return check_id if result.modified_count == 1 or result.upserted_id is not None else None

    async def count_wrong(self, candidate_id: str, check_id: str, now: datetime) -> bool:
        """Counts a wrong password below the threshold; False if this one must lock instead."""
        result = await self._collection.update_one(
            {"_id": candidate_id, "failed_attempts": {"$lt": self._policy.threshold}, **_unlocked(now)},
            {"$inc": {"failed_attempts": 1}, **_check_ended(check_id)},
        )
        return result.matched_count == 1

    async def lock(self, session: Session, candidate_id: str, check_id: str, now: datetime,
                   locked_until: datetime) -> bool:
        """Locks after the wrong password that follows `threshold` counted ones; False if the count
        changed since or another attempt locked it already (so one lock, one event)."""
        locked = {"$set": {"locked_until": locked_until, "locked_at": now, "failed_attempts": 0}, **_check_ended(check_id)}
        if self._shadow:
            locked["$max"] = {"expires_at": locked_until}
        result = await self._collection.update_one(
            {"_id": candidate_id, "failed_attempts": {"$gte": self._policy.threshold}, **_unlocked(now)},
            locked, session=session,
        )
        return result.matched_count == 1

    async def release_check(self, candidate_id: str, check_id: str) -> None:
        await self._collection.update_one({"_id": candidate_id}, _check_ended(check_id))


class AuthRepository:
    def __init__(self, db: AsyncDatabase, lockout: LockoutPolicy):
        self._credentials = db[CREDENTIALS]
        self.attempts = LoginAttempts(db[CREDENTIALS], lockout, shadow=False)
        self.shadow_attempts = LoginAttempts(db[SHADOW_ATTEMPTS], lockout, shadow=True)
        self._reset_tokens = db[RESET_TOKENS]
        self._revoked_tokens = db[REVOKED_TOKENS]

    # Credentials

    async def store_credentials(
        self, session: Session, *, candidate_id: str, password_hash: str, registered_at: datetime, now: datetime
    ) -> None:
        """The first registration of an ID wins; a later copy never overwrites a changed password."""
        await self._credentials.update_one(
            {"_id": candidate_id},
            {"$setOnInsert": {"password_hash": password_hash, "registered_at": registered_at, "stored_at": now,
                              "failed_attempts": 0, "locked_until": None, "valid_after": None}},
            upsert=True, session=session,
        )

    async def find_credentials(self, candidate_id: str) -> dict | None:
        return await self._credentials.find_one({"_id": candidate_id})

    async def record_success(self, candidate_id: str, check_id: str, password_hash: str, now: datetime) -> bool:
        """Starts the count again after a right password, and notes when the access token about to
        be issued was issued. False if the account was locked, or its password changed, while the
        password was being checked: the password checked is no longer the one that counts."""
        result = await self._credentials.update_one(
            {"_id": candidate_id, "password_hash": password_hash, **_unlocked(now)},
            {"$set": {"failed_attempts": 0}, "$max": {"last_login_at": now}, **_check_ended(check_id)},
        )
        return result.matched_count == 1

    async def replace_hash(self, candidate_id: str, old_hash: str, new_hash: str) -> None:
        """A rehash with current parameters; a no-op if the password changed in the meantime."""
        await self._credentials.update_one({"_id": candidate_id, "password_hash": old_hash},
                                           {"$set": {"password_hash": new_hash}})

    async def set_password(self, session: Session, *, candidate_id: str, password_hash: str, now: datetime) -> datetime:
        """A new password clears any lock and makes every access token issued so far invalid:
        those issued before `now`, and one of a log-in that checked the old password and recorded
        its success at `now` or a moment later. Returns that "valid after" time."""
        after_last_log_in = {"$add": [{"$ifNull": ["$last_login_at", now]}, 1]}  # milliseconds
        await self._credentials.update_one(
            {"_id": candidate_id},
            [{"$set": {"password_hash": {"$literal": password_hash}, "password_changed_at": now,
                       "valid_after": {"$max": [now, after_last_log_in]},
                       "failed_attempts": 0, "locked_until": None}}],
            session=session,
        )
        # Read in the same transaction; not `find_one_and_update`, which SecantusDB runs as a scan.
        changed = await self._credentials.find_one({"_id": candidate_id}, {"valid_after": 1}, session=session)
        return changed["valid_after"]

    async def record_reminder(self, candidate_id: str, *, now: datetime, cutoff: datetime, limit: int) -> bool:
        """Notes a reminder in one atomic update if fewer than `limit` were sent after `cutoff`.
        False if the ID is unknown or its limit is reached."""
        result = await self._credentials.update_one(
            # The `limit`-th newest reminder, if any, must be old enough.
            {"_id": candidate_id, f"reminders_sent.{limit - 1}": {"$not": {"$gt": cutoff}}},
            {"$push": {"reminders_sent": {"$each": [now], "$sort": -1, "$slice": limit}}},
        )
        return result.matched_count == 1

    # Reset tokens

    async def add_reset_token(self, session: Session, *, digest: str, candidate_id: str, now: datetime,
                              expires_at: datetime) -> None:
        await self._reset_tokens.insert_one(
            {"_id": digest, "candidate_id": candidate_id, "created_at": now, "expires_at": expires_at, "used_at": None},
            session=session,
        )

    async def find_usable_reset_token(self, digest: str, now: datetime) -> dict | None:
        return await self._reset_tokens.find_one({"_id": digest, "used_at": None, "expires_at": {"$gt": now}})

    async def use_reset_token(self, session: Session, digest: str, now: datetime) -> dict | None:
        """Spends a token atomically: of two concurrent uses, one gets it and the other None."""
        return await self._reset_tokens.find_one_and_update(
            {"_id": digest, "used_at": None, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}}, session=session,
        )

    async def void_reset_tokens(self, session: Session, candidate_id: str, now: datetime) -> None:
        await self._reset_tokens.update_many(
            {"candidate_id": candidate_id, "used_at": None}, {"$set": {"used_at": now, "voided": True}}, session=session
        )

    # Revocation

    async def revoke_token(self, session: Session, *, claims: Claims, now: datetime) -> None:
        """DuplicateKeyError if the token was revoked already (a concurrent log-out)."""
        await self._revoked_tokens.insert_one(
            {"_id": claims.token_id, "candidate_id": claims.candidate_id, "revoked_at": now,
             "expires_at": claims.expires_at},
            session=session,
        )

    async def is_revoked(self, claims: Claims) -> bool:
        """Auth's own answer for `TokenVerifier`: its "valid after" time and its log-outs."""
        credentials = await self._credentials.find_one({"_id": claims.candidate_id}, {"valid_after": 1})
        if credentials is None:
            return True
        valid_after = credentials.get("valid_after")
        if valid_after is not None and claims.issued_at < valid_after:
            return True
        return await self._revoked_tokens.find_one({"_id": claims.token_id}, {"_id": 1}) is not None
