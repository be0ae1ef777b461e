"""The auth database: credentials (the only copy of each password hash, with the lockout count),
reset tokens (their SHA-256 only), and access tokens revoked by log-out."""

from datetime import datetime

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from crs_shared.mongo import Session
from crs_shared.tokens import Claims

CREDENTIALS = "credentials"
RESET_TOKENS = "reset_tokens"
REVOKED_TOKENS = "revoked_tokens"

# TTL indexes only clean up (about once a minute): every expiry is also checked in the query.
INDEXES = {
    CREDENTIALS: [],
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


class AuthRepository:
    def __init__(self, db: AsyncDatabase):
        self._credentials = db[CREDENTIALS]
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

    # The lockout counter changes only in conditional single-document updates: the condition
    # decides, inside the write, whether this attempt may count, lock or reset, so concurrent
    # attempts can never both pass it. `update_one` rather than `find_one_and_update`: no caller
    # needs the document back (bench/README.md, "Changes made for the targets").

    async def reserve_attempt(self, candidate_id: str, now: datetime, threshold: int) -> bool:
        """Counts a log-in attempt before its password is checked, if the account is unlocked and
        fewer than `threshold` attempts in a row are counted. False if the ID is unknown, locked,
        or has `threshold` counted already (this attempt must lock, unchecked)."""
        result = await self._credentials.update_one(
            {"_id": candidate_id, "failed_attempts": {"$lt": threshold}, **_unlocked(now)},
            {"$inc": {"failed_attempts": 1}},
        )
        return result.matched_count == 1

    async def lock(self, session: Session, *, candidate_id: str, now: datetime, threshold: int,
                   locked_until: datetime) -> bool:
        """Locks an account that has `threshold` attempts counted and is not locked yet; False if
        another attempt has locked it already (so only one lock, one event)."""
        result = await self._credentials.update_one(
            {"_id": candidate_id, "failed_attempts": {"$gte": threshold}, **_unlocked(now)},
            {"$set": {"locked_until": locked_until, "locked_at": now, "failed_attempts": 0}},
            session=session,
        )
        return result.matched_count == 1

    async def record_success(self, candidate_id: str, now: datetime) -> bool:
        """Resets the count after a right password; False if a lock came first."""
        result = await self._credentials.update_one(
            {"_id": candidate_id, **_unlocked(now)},
            {"$set": {"failed_attempts": 0, "last_login_at": now}},
        )
        return result.matched_count == 1

    async def replace_hash(self, candidate_id: str, old_hash: str, new_hash: str) -> None:
        """A rehash with current parameters; a no-op if the password changed in the meantime."""
        await self._credentials.update_one({"_id": candidate_id, "password_hash": old_hash},
                                           {"$set": {"password_hash": new_hash}})

    async def set_password(self, session: Session, *, candidate_id: str, password_hash: str, now: datetime) -> None:
        """A new password clears any lock and makes every token issued before `now` invalid."""
        await self._credentials.update_one(
            {"_id": candidate_id},
            {"$set": {"password_hash": password_hash, "password_changed_at": now, "valid_after": now,
                      "failed_attempts": 0, "locked_until": None}},
            session=session,
        )

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
