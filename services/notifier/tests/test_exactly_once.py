"""Every email exactly once, where it used to break: a results part holding an address that cannot
be encoded and one that would break out of its header; and a slow SMTP server behind two notifier
replicas with a short lease. Against the real broker, database and SMTP capture server."""

import time
from collections import Counter
from datetime import UTC, datetime

from notifier.main import create_app
from services.notifier.tests.conftest import registered
from services.notifier.tests.test_emails import results_part
from tests.support.apps import serving
from tests.support.broker import envelope_for, publish
from tests.support.infrastructure import SmtpCapture
from tests.support.waiting import wait_until

UNSENDABLE = "josé@example.com"
HEADER_BREAKING = "bob@example.com\r\nBcc: eve@example.com"


async def test_a_results_part_with_two_bad_addresses_sends_the_other_28_once_and_fails_those_two(notifier, smtp):
    deps = notifier.app.state.dependencies
    good = [f"G{n:05d}" for n in range(28)]
    contacts = [{"_id": c, "email": f"{c.lower()}@example.com"} for c in good] + [
        {"_id": "BADJOSE", "email": UNSENDABLE}, {"_id": "BADBOB", "email": HEADER_BREAKING}]
    for contact in contacts:  # registration refuses such addresses: straight into the notifier's database
        await deps.repository.register_contact(None, contact | {"given_name": "Amy", "family_name": "Chen",
                                                                 "language": "en", "updated_at": datetime.now(UTC)})
    part = results_part(good[0])
    part.results[:] = [part.results[0].model_copy(update={"candidate_id": c["_id"]}) for c in contacts]
    # A board's batch id with a line break travels on as the correlation id, into X-Correlation-ID.
    envelope = envelope_for(part, correlation_id="batch-7\nBcc: eve@example.com")
    await publish(notifier.app.state.settings.amqp_url, (envelope, part.ROUTING_KEY))

    async def the_two_failed():
        rows = await deps.repository.failed()
        return rows if len(rows) == 2 else None
    failed = await wait_until(the_two_failed, timeout=60, what="the two bad emails failed")

    async def nothing_left():
        return await deps.repository.count({"status": "queued"}) == 0 and len(smtp.messages()) >= 28
    await wait_until(nothing_left, timeout=60, what="the 28 good emails sent")
    messages = smtp.messages()
    assert Counter(str(m["To"]) for m in messages) == Counter(f"{c.lower()}@example.com" for c in good)
    assert {m["X-Correlation-ID"] for m in messages} == {"batch-7Bcc: eve@example.com"}
    assert all(m["Bcc"] is None for m in messages)
    assert sorted(row["candidate_id"] for row in failed) == ["BADBOB", "BADJOSE"]
    assert all("cannot be sent to" in row["last_error"] for row in failed)
    assert all("context" not in row for row in failed)


async def test_two_replicas_and_a_slow_smtp_server_send_500_emails_each_exactly_once(settings, tmp_path):
    smtp = SmtpCapture(tmp_path / "slow-mail", delay_seconds=0.5)
    # Each replica would take up 400 emails, 25 s of sending at this server's pace: far beyond the
    # lease unless the in-flight bound holds. The send timeout (a quarter of the lease) is five
    # times the server's delay, so that a busy machine does not time out a send the server took,
    # which would be sent again (at least once, with the same Message-ID) and counted here.
    lease = 10.0
    settings = settings.model_copy(update={"smtp_port": smtp.port, "send_lease_seconds": lease,
                                           "smtp_timeout_seconds": lease / 4})
    contacts = [registered() for _ in range(500)]
    try:
        async with serving(create_app(settings)) as first, serving(create_app(settings)):
            await publish(settings.amqp_url, *[(envelope_for(c), c.ROUTING_KEY) for c in contacts])

            def sent_twice() -> list[str]:
                counts = Counter(str(m["To"]) for m in smtp.messages())
                return [address for address, n in counts.items() if n > 1]

            async def all_arrived():
                assert sent_twice() == []
                return len(list(smtp.folder.glob("*.eml"))) >= len(contacts)
            await wait_until(all_arrived, timeout=240, interval=1.0, what="500 emails")
            repository = first._transport.app.state.dependencies.repository

            async def all_recorded():
                return await repository.count({"status": "sent"}) == len(contacts)
            await wait_until(all_recorded, what="every email recorded sent")

            # A lease later, a row whose sending outlived its lease would have gone a second time.
            lease_over = time.monotonic() + lease

            async def a_lease_later():
                assert sent_twice() == []
                return time.monotonic() > lease_over
            await wait_until(a_lease_later, timeout=3 * lease, interval=0.5, what="a whole lease to pass")
        assert sorted(str(m["To"]) for m in smtp.messages()) == sorted(c.email for c in contacts)
    finally:
        smtp.stop()
