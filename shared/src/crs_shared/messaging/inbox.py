"""Inbox: a consumer records `(handler, event_id)` in the same transaction as its effect
(`crs_shared.unit_of_work`). The unique `_id` makes a second delivery of the same event a no-op,
counted in `events_duplicate_total`."""

from pymongo import ASCENDING, IndexModel

INBOX_COLLECTION = "inbox"
INBOX_INDEXES = [IndexModel([("handled_at", ASCENDING)], expireAfterSeconds=90 * 24 * 3600, name="handled_at_ttl")]
