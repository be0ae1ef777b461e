"""A notification row and a mailing as the handlers write them (pure; the handlers against the
real broker, database and SMTP server are in test_emails.py and test_delivery.py)."""

from datetime import UTC, datetime, timedelta

from crs_shared.messaging.contracts import PasswordChanged
from crs_shared.messaging.envelope import new_envelope
from notifier.domain.notifications import Kind
from notifier.handlers import new_mailing, new_notification

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LEASE = {"lease_until": NOW + timedelta(minutes=1), "lease_owner": "handover-1"}
CONTACT = {"_id": "123456", "email": "amy@example.com", "given_name": "Amy", "family_name": "Chen", "language": "en"}


def row(due_at: datetime | None) -> dict:
    envelope = new_envelope(event_type="PasswordChanged", event_version=1, producer="auth", correlation_id="c-1",
                            payload=PasswordChanged(candidate_id="123456", changed_at=NOW), occurred_at=NOW)
    return new_notification(Kind.PASSWORD_CHANGED, envelope.event_id, envelope, CONTACT, {}, now=NOW, lease=LEASE,
                            due_at=due_at)


def test_a_row_due_at_once_is_written_leased_to_the_dispatcher_it_is_handed_to():
    assert {k: row(None)[k] for k in ("due_at", "lease_until", "lease_owner")} == {"due_at": NOW, **LEASE}
    assert row(NOW)["lease_owner"] == "handover-1"


def test_a_row_due_later_is_written_unleased_and_free_to_take_from_its_due_time():
    later = NOW + timedelta(hours=2)
    assert {k: row(later)[k] for k in ("due_at", "lease_until", "lease_owner")} == \
        {"due_at": later, "lease_until": later, "lease_owner": None}


def test_a_mailing_holds_its_rows_without_their_lease_and_the_lease_for_all_of_them():
    rows = [row(None), dict(row(None), _id="other", candidate_id="654321")]
    envelope = new_envelope(event_type="PasswordChanged", event_version=1, producer="auth", correlation_id="c-1",
                            payload=PasswordChanged(candidate_id="123456", changed_at=NOW), occurred_at=NOW)
    mailing = new_mailing("board:batch", envelope, rows, now=NOW, lease=LEASE)
    assert mailing["_id"] == f"board:batch:{envelope.event_id}"
    assert (mailing["candidate_ids"], mailing["emails"]) == (["123456", "654321"], 2)
    assert all("lease_until" not in r and "lease_owner" not in r for r in mailing["rows"])
    assert {k: mailing[k] for k in ("due_at", "lease_until", "lease_owner")} == {"due_at": NOW, **LEASE}
    later = NOW + timedelta(hours=2)
    assert {k: new_mailing("board:batch", envelope, rows, now=NOW, lease=LEASE, due_at=later)[k]
            for k in ("lease_until", "lease_owner")} == {"lease_until": later, "lease_owner": None}
