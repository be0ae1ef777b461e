"""Every email kind, in both languages, through the real broker and SMTP server."""

from datetime import UTC, datetime

import pytest

from crs_shared.messaging.contracts import (
    CandidateRegistered,
    LoginLocked,
    PasswordChanged,
    PasswordResetRequested,
    ReleasedResult,
    ResultsReleased,
)
from services.notifier.tests.conftest import registered
from tests.support.broker import drain, envelope_for, publish
from tests.support.waiting import value, wait_until

BASE = "http://127.0.0.1:8080"
LATER = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)


def results_part(candidate_id: str, **overrides) -> ResultsReleased:
    """One candidate's issued result as the results service releases it."""
    fields = dict(board="Cambridge", batch_id=f"batch-{candidate_id}", part=1, exam="B2_FIRST", session="2026-06",
                  released_at=datetime.now(UTC),
                  results=[ReleasedResult(candidate_id=candidate_id, result_id=f"r-{candidate_id}", status="issued",
                                          correction=False)])
    return ResultsReleased(**(fields | overrides))


CASES = {
    "results_ready": (
        lambda c: results_part(c),
        {"en": "Your result for B2 First (FCE) 2026-06 is now available", "zh-TW": "您的 B2 First (FCE) 2026-06 成績現已公布"},
        f"{BASE}/results",
    ),
    "login_locked": (
        lambda c: LoginLocked(candidate_id=c, locked_until=LATER, failed_attempts=4),
        {"en": "Your Results Service account is locked", "zh-TW": "您的成績查詢服務帳戶已被鎖定"},
        f"{BASE}/forgot-password",
    ),
    "password_reset": (
        lambda c: PasswordResetRequested(candidate_id=c, reset_url=f"{BASE}/reset-password?token=tok-{c}", expires_at=LATER),
        {"en": "Reset your Results Service password", "zh-TW": "重設您的成績查詢服務密碼"},
        f"{BASE}/reset-password?token=tok-",
    ),
    "password_changed": (
        lambda c: PasswordChanged(candidate_id=c, changed_at=LATER),
        {"en": "Your Results Service password has been changed", "zh-TW": "您的成績查詢服務密碼已變更"},
        f"{BASE}/login",
    ),
}


async def registered_contact(notifier, smtp, language: str) -> CandidateRegistered:
    event = registered(language)
    await publish(notifier.app.state.settings.amqp_url, (envelope_for(event), event.ROUTING_KEY))
    await wait_until(lambda: value(smtp.messages_to(event.email)), what="the confirmation email")
    return event


@pytest.mark.parametrize("language", ["en", "zh-TW"])
@pytest.mark.parametrize("kind", list(CASES))
async def test_each_email_kind_in_each_language(notifier, smtp, kind, language):
    make_event, subjects, link = CASES[kind]
    contact = await registered_contact(notifier, smtp, language)
    event = make_event(contact.candidate_id)
    await publish(notifier.app.state.settings.amqp_url, (envelope_for(event), event.ROUTING_KEY))

    async def second_email():
        found = smtp.messages_to(contact.email)
        return found[1:] if len(found) >= 2 else None
    [message] = await wait_until(second_email, what=f"the {kind} email")
    assert message["Subject"] == subjects[language]
    assert message["To"] == contact.email
    assert message["Content-Language"] == language
    text = message.get_body(("plain",)).get_content()
    assert link in text and link in message.get_body(("html",)).get_content()
    if kind in ("login_locked", "password_reset", "password_changed"):
        assert ("25 November 2026, 18:30 Taiwan Standard Time" if language == "en" else "2026年11月25日 18:30 台北標準時間") in text
    if kind == "login_locked":  # the event's failed_attempts, passed on by the handler
        assert ("a wrong password 4 times in a row" if language == "en" else "連續輸入錯誤密碼 4 次") in text


async def test_the_reset_link_does_not_stay_in_the_database_once_sent(notifier, smtp):
    contact = await registered_contact(notifier, smtp, "en")
    event = PasswordResetRequested(candidate_id=contact.candidate_id, reset_url=f"{BASE}/reset-password?token=SECRET123",
                                   expires_at=LATER)
    await publish(notifier.app.state.settings.amqp_url, (envelope_for(event), event.ROUTING_KEY))
    await wait_until(lambda: value(len(smtp.messages_to(contact.email)) == 2), what="the reset email")
    repository = notifier.app.state.dependencies.repository

    async def sent_rows():
        rows = await repository.find({"candidate_id": contact.candidate_id, "kind": "password_reset", "status": "sent"})
        return rows
    [row] = await wait_until(sent_rows, what="the reset notification marked sent")
    assert "SECRET123" not in str(row)


async def test_results_emails_go_to_issued_results_and_wait_for_candidates_not_registered(notifier, smtp):
    contact = await registered_contact(notifier, smtp, "en")
    withheld = await registered_contact(notifier, smtp, "en")
    part = results_part(contact.candidate_id)
    issued = part.results[0]
    part.results.append(issued.model_copy(update={"candidate_id": "NOTREG99"}))
    part.results.append(issued.model_copy(update={"candidate_id": withheld.candidate_id, "status": "withheld"}))
    await publish(notifier.app.state.settings.amqp_url, (envelope_for(part), part.ROUTING_KEY))
    await wait_until(lambda: value(len(smtp.messages_to(contact.email)) == 2), what="the results email")
    repository = notifier.app.state.dependencies.repository
    others = ["NOTREG99", withheld.candidate_id]
    # The part's rows were written in one transaction, before its first email: nothing more comes.
    assert await repository.count({"kind": "results_ready", "candidate_id": {"$in": others}}) == 0
    assert [m["Subject"] for m in smtp.messages_to(withheld.email)] == [
        "Your registration for the Results Service is confirmed"]
    [waiting] = (await repository.find_contact(None, "NOTREG99"))["waiting"]
    assert waiting["kind"] == "results_ready"


async def test_a_candidate_in_two_parts_of_one_batch_or_a_part_sent_again_gets_one_email(notifier, smtp):
    contact = await registered_contact(notifier, smtp, "en")
    first = results_part(contact.candidate_id)
    parts = [first, first.model_copy(update={"part": 2}), first]  # the third: part 1 again, as a new event
    envelopes = [envelope_for(part) for part in parts]
    await publish(notifier.app.state.settings.amqp_url, *[(e, p.ROUTING_KEY) for e, p in zip(envelopes, parts)])

    deps = notifier.app.state.dependencies
    handled = {"_id": {"$in": [f"on_results_released:{e.event_id}" for e in envelopes]}}

    async def all_handled_and_sent():
        return (await deps.inbox.count_documents(handled) == 3
                and await deps.repository.count({"status": {"$ne": "sent"}}) == 0
                and len(smtp.messages_to(contact.email)) >= 2)
    await wait_until(all_handled_and_sent, what="the three parts handled and their email sent")
    assert [m["Subject"] for m in smtp.messages_to(contact.email)][1:] == [
        "Your result for B2 First (FCE) 2026-06 is now available"]


async def test_an_email_for_a_candidate_not_yet_registered_waits_and_follows_the_confirmation(notifier, smtp, amqp_url):
    contact = registered("en")
    events = [LoginLocked(candidate_id=contact.candidate_id, locked_until=LATER, failed_attempts=4),
              PasswordResetRequested(candidate_id=contact.candidate_id, reset_url=f"{BASE}/reset-password?token=early",
                                     expires_at=LATER)]
    envelopes = [envelope_for(event) for event in events]
    await publish(amqp_url, *[(e, event.ROUTING_KEY) for e, event in zip(envelopes, events)])
    deps = notifier.app.state.dependencies

    async def both_kept():
        waiting = await deps.repository.find_contact(None, contact.candidate_id)
        return waiting and len(waiting.get("waiting", [])) == 2
    await wait_until(both_kept, what="both emails kept for the candidate, their events acked")

    await publish(amqp_url, (envelope_for(contact), contact.ROUTING_KEY))

    async def three_emails():
        found = smtp.messages_to(contact.email)
        return found if len(found) == 3 else None
    first, *then = await wait_until(three_emails, what="the confirmation and the two emails after it")
    assert first["Subject"] == "Your registration for the Results Service is confirmed"
    assert sorted(m["Subject"] for m in then) == ["Reset your Results Service password",
                                                   "Your Results Service account is locked"]
    assert await drain(amqp_url, "notifier.login.locked.dlq", timeout=0.2) == []
