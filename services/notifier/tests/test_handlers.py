"""A notification row as the handlers write it (pure; the handlers against the real broker,
database and SMTP server are in test_emails.py and test_delivery.py)."""

from datetime import UTC, datetime, timedelta

from crs_shared.messaging.contracts import PasswordChanged
from crs_shared.messaging.envelope import new_envelope
from notifier.domain.notifications import Kind
from notifier.handlers import draft, new_notification
from notifier.repository import FOLLOWS

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LEASE = {"lease_until": NOW + timedelta(minutes=1), "lease_owner": "handover-1"}
CONTACT = {"_id": "123456", "email": "amy@example.com", "given_name": "Amy", "family_name": "Chen", "language": "en"}
ENVELOPE = new_envelope(PasswordChanged(candidate_id="123456", changed_at=NOW), producer="auth", correlation_id="c-1",
                        occurred_at=NOW)
EMAIL = draft(Kind.PASSWORD_CHANGED, ENVELOPE.event_id, "123456", ENVELOPE, {"changed_at": NOW})


def leased(**options) -> dict:
    row = new_notification(EMAIL, CONTACT, now=NOW, **options)
    return {k: row[k] for k in ("due_at", "lease_until", "lease_owner")}


def test_a_row_is_its_draft_with_the_contacts_address_language_and_names():
    row = new_notification(EMAIL, CONTACT, now=NOW, lease=LEASE)
    assert row["_id"] == f"password_changed:123456:{ENVELOPE.event_id}"
    assert (row["email"], row["language"], row["correlation_id"]) == ("amy@example.com", "en", "c-1")
    assert row["context"] == {"candidate_id": "123456", "given_name": "Amy", "family_name": "Chen", "changed_at": NOW}


def test_a_row_due_at_once_is_written_leased_to_the_dispatcher_it_is_handed_to():
    assert leased(lease=LEASE) == {"due_at": NOW, **LEASE}


def test_a_row_due_at_once_without_room_in_the_hand_over_is_free_to_take_at_once():
    assert leased(lease=None) == {"due_at": NOW, "lease_until": NOW, "lease_owner": None}


def test_a_row_due_later_is_written_unleased_and_free_to_take_from_its_due_time():
    later = NOW + timedelta(hours=2)
    assert leased(lease=LEASE, due_at=later) == {"due_at": later, "lease_until": later, "lease_owner": None}


def test_a_row_that_follows_a_confirmation_is_not_free_until_the_confirmation_is_done():
    assert leased(lease=None, follows=True) == {"due_at": NOW, "lease_until": FOLLOWS, "lease_owner": None}
