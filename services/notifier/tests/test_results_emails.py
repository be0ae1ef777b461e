"""The results emails, from ResultsReleased (what the results service publishes once a part's
results are visible), through the real broker, database and SMTP server: exactly one "now
available" per candidate, exam and session; "has been updated" for a correction; a late
registrant's right after the confirmation."""

import uuid
from datetime import UTC, datetime

import pytest

from crs_shared.messaging.contracts import ResultsReleased
from services.notifier.tests.conftest import registered
from services.notifier.tests.test_emails import registered_contact
from tests.support.broker import envelope_for, publish
from tests.support.waiting import wait_until

READY = {"en": "Your result for B2 First (FCE) 2026-06 is now available", "zh-TW": "您的 B2 First (FCE) 2026-06 成績現已公布"}
UPDATED = {"en": "Your result for B2 First (FCE) 2026-06 has been updated", "zh-TW": "您的 B2 First (FCE) 2026-06 成績已更新"}


def released(*results: tuple[str, bool], status: str = "issued", batch_id: str | None = None) -> ResultsReleased:
    """A part's results as the results service releases them: (candidate id, correction) each."""
    return ResultsReleased.model_validate({
        "board": "Cambridge", "batch_id": batch_id or f"batch-{uuid.uuid4().hex[:8]}", "part": 1, "exam": "B2_FIRST",
        "session": "2026-06", "released_at": datetime.now(UTC).isoformat(),
        "results": [{"candidate_id": c, "result_id": uuid.uuid4().hex, "status": status, "correction": correction}
                    for c, correction in results]})


async def emails_to(smtp, address: str, count: int) -> list:
    async def arrived():
        found = smtp.messages_to(address)
        return found if len(found) >= count else None
    return await wait_until(arrived, what=f"{count} emails to {address}")


async def settled(notifier) -> None:
    """Every event handled and every email it made recorded."""
    repository = notifier.app.state.dependencies.repository

    async def nothing_queued():
        return await repository.count({"status": "queued"}) == 0
    await wait_until(nothing_queued, what="nothing left to send")


@pytest.mark.parametrize("language", ["en", "zh-TW"])
async def test_a_correction_sends_has_been_updated_and_never_a_second_now_available(notifier, smtp, language):
    contact = await registered_contact(notifier, smtp, language)
    amqp_url = notifier.app.state.settings.amqp_url
    first = released((contact.candidate_id, False))
    await publish(amqp_url, (envelope_for(first), first.ROUTING_KEY))
    await emails_to(smtp, contact.email, 2)

    correction = released((contact.candidate_id, True))
    again = first.model_copy(update={"batch_id": "sent-again"})  # the first result released once more
    await publish(amqp_url, (envelope_for(correction), correction.ROUTING_KEY), (envelope_for(again), again.ROUTING_KEY),
                  (envelope_for(correction), correction.ROUTING_KEY))
    [_, ready, updated] = await emails_to(smtp, contact.email, 3)
    assert (ready["Subject"], updated["Subject"]) == (READY[language], UPDATED[language])
    assert "http://127.0.0.1:8080/results" in updated.get_body(("plain",)).get_content()
    await settled(notifier)
    assert len(smtp.messages_to(contact.email)) == 3


async def test_a_late_registrant_gets_the_results_email_right_after_the_confirmation(notifier, smtp):
    late = registered()
    amqp_url = notifier.app.state.settings.amqp_url
    part = released((late.candidate_id, False))
    correction = released((late.candidate_id, True))  # corrected before the candidate registered
    await publish(amqp_url, (envelope_for(part), part.ROUTING_KEY), (envelope_for(correction), correction.ROUTING_KEY))
    repository = notifier.app.state.dependencies.repository
    deps = notifier.app.state.dependencies

    async def both_handled():
        return await deps.uow.inbox.count_documents({"_id": {"$regex": "^on_results_released:"}}) >= 2
    await wait_until(both_handled, what="both parts handled")
    assert await repository.count({"candidate_id": late.candidate_id}) == 0  # no address to send to yet

    await publish(amqp_url, (envelope_for(late), late.ROUTING_KEY))
    confirmation, results = await emails_to(smtp, late.email, 2)
    assert confirmation["Subject"] == "Your registration for the Results Service is confirmed"
    assert results["Subject"] == READY["en"]  # told once that it is there: the corrected result is what it sees
    await settled(notifier)
    assert len(smtp.messages_to(late.email)) == 2


async def test_a_withheld_result_is_not_mailed_and_its_issued_correction_is_now_available(notifier, smtp):
    contact = await registered_contact(notifier, smtp, "en")
    withheld = released((contact.candidate_id, False), status="withheld")
    envelope = envelope_for(withheld)
    await publish(notifier.app.state.settings.amqp_url, (envelope, withheld.ROUTING_KEY))
    deps = notifier.app.state.dependencies

    async def handled():
        return await deps.uow.inbox.count_documents({"_id": f"on_results_released:{envelope.event_id}"}) == 1
    await wait_until(handled, what="the withheld part handled")
    assert await deps.repository.count({"candidate_id": contact.candidate_id, "kind": {"$ne": "registration_confirmation"}}) == 0
    issued = released((contact.candidate_id, True))  # never told of the withheld one: "now available"
    await publish(notifier.app.state.settings.amqp_url, (envelope_for(issued), issued.ROUTING_KEY))
    [_, ready] = await emails_to(smtp, contact.email, 2)
    assert ready["Subject"] == READY["en"]
