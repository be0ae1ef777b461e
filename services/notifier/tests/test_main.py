"""The notifier's lifespan: what a stop leaves behind, against the real broker, database and a slow
SMTP server."""

import asyncio

from crs_shared.mongo import create_client
from notifier.main import create_app
from services.notifier.tests.conftest import registered
from tests.support.apps import serving
from tests.support.broker import envelope_for, publish
from tests.support.infrastructure import SmtpCapture
from tests.support.waiting import wait_until


async def test_a_stop_while_a_slow_smtp_server_has_emails_in_hand_leaves_none_sent_and_unrecorded(settings, tmp_path):
    # A rolling update (or a scale-in on release day) stops a replica while its emails are taken up
    # behind a slow server. Every email that reached the server must be recorded sent: one that is
    # not is sent again by another replica once its lease is over.
    smtp = SmtpCapture(tmp_path / "slow-mail", delay_seconds=0.5)
    settings = settings.model_copy(update={"smtp_port": smtp.port, "smtp_connections": 2,
                                           "shutdown_grace_seconds": 1.0})
    contacts = [registered() for _ in range(20)]
    try:
        async with serving(create_app(settings)):
            await publish(settings.amqp_url, *[(envelope_for(c), c.ROUTING_KEY) for c in contacts])
            await wait_until(lambda: _at_least(len(smtp.messages()), 2), timeout=30, what="the first emails")
        await asyncio.sleep(2.0)  # what was still on its way when the notifier stopped
        arrived = {str(m["To"]) for m in smtp.messages()}
        client = create_client(settings.mongodb_url)
        try:
            rows = client[settings.database_name]["notifications"].find({"status": "sent"}, {"email": 1})
            recorded = {row["email"] async for row in rows}
        finally:
            await client.close()
        assert arrived - recorded == set()
    finally:
        smtp.stop()


async def _at_least(value: int, target: int) -> bool:
    return value >= target
