"""CandidateRegistered -> the confirmation email, through the real broker and SMTP server."""

from crs_shared.messaging.contracts import CandidateRegistered
from services.notifier.tests.conftest import registered
from tests.support.broker import envelope_for, publish
from tests.support.metrics import sample
from tests.support.waiting import wait_until

KEY = CandidateRegistered.ROUTING_KEY


async def _emails(smtp, address, at_least=1):
    async def check():
        found = smtp.messages_to(address)
        return found if len(found) >= at_least else None
    return await wait_until(check, what=f"{at_least} email(s) to {address}")


async def test_english_confirmation_has_proper_headers_parts_and_link(notifier, smtp):
    event = registered("en")
    envelope = envelope_for(event, correlation_id="corr-42")
    await publish(notifier.app.state.settings.amqp_url, (envelope, KEY))
    [message] = await _emails(smtp, event.email)
    assert message["Subject"] == "Your registration for the Results Service is confirmed"
    assert message["From"] and message["Reply-To"] and message["Date"]
    assert message["Message-ID"].startswith("<") and message["X-Correlation-ID"] == "corr-42"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert event.candidate_id in text and "Amy" in text
    assert "http://127.0.0.1:8080/login" in text and 'href="http://127.0.0.1:8080/login"' in html
    assert "<img" not in html  # no tracking pixels


async def test_chinese_confirmation_for_a_zh_tw_candidate(notifier, smtp):
    event = registered("zh-TW", given_name="美玲", family_name="陳")
    await publish(notifier.app.state.settings.amqp_url, (envelope_for(event), KEY))
    [message] = await _emails(smtp, event.email)
    assert message["Subject"] == "您的成績查詢服務註冊已確認"
    assert "陳美玲 您好" in message.get_body(("plain",)).get_content()
    assert message["Content-Language"] == "zh-TW"


async def test_a_duplicated_event_sends_one_email(notifier, smtp):
    amqp_url = notifier.app.state.settings.amqp_url
    consumed_before = sample("events_consumed_total", service="notifier", event_type="CandidateRegistered")
    event, sentinel = registered(), registered()
    duplicated = envelope_for(event)
    await publish(amqp_url, (duplicated, KEY), (duplicated, KEY), (envelope_for(sentinel), KEY))

    # All three deliveries acked (so every effect committed), and nothing left to send.
    await wait_until(lambda: _at_least(sample("events_consumed_total", service="notifier",
                                              event_type="CandidateRegistered") - consumed_before, 3),
                     what="three deliveries handled")
    await _emails(smtp, sentinel.email)
    repository = notifier.app.state.dependencies.repository
    await wait_until(lambda: _zero(repository.count({"status": "queued"})), what="no queued notifications")
    assert len(smtp.messages_to(event.email)) == 1
    assert await repository.count({"candidate_id": event.candidate_id}) == 1


async def _at_least(value, target):
    return value >= target


async def _zero(awaitable):
    return await awaitable == 0
