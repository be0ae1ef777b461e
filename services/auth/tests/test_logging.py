"""Every log line of a full register -> log in -> lock -> reminder -> reset -> log out run, read
from the process's own stderr: no password, hash, reset token or access token in any of them."""

import hashlib

from auth.main import create_app
from services.auth.tests.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    WRONG_PASSWORD,
    deps_of,
    later,
    log_in,
    new_candidate_id,
    register,
    token_of,
)
from tests.support.apps import serving
from tests.support.broker import EventTap
from tests.support.waiting import wait_until


async def test_no_secret_reaches_a_log_line(settings, amqp_url, clock, capfd):
    app = create_app(settings.model_copy(update={"log_level": "DEBUG"}), clock)
    candidate_id = new_candidate_id()
    # Bound to every routing key, so each event auth publishes has a queue to go to.
    async with serving(app) as client, EventTap(amqp_url, "#") as events:
        client.app = app
        await register(amqp_url, client, candidate_id)
        password_hash = (await deps_of(client).repository.find_credentials(candidate_id))["password_hash"]
        access_token = (await log_in(client, candidate_id)).json()["access_token"]
        for _ in range(4):
            await log_in(client, candidate_id, WRONG_PASSWORD)
        await client.post("/api/auth/password-reminder", json={"candidate_id": candidate_id})
        links = await wait_until(lambda: _reset_links(events), what="PasswordResetRequested")
        reset_url = links[0].payload["reset_url"]
        reset_token = token_of(reset_url)
        later(clock, seconds=1)
        reset = await client.post("/api/auth/password-reset", json={
            "token": reset_token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
        assert reset.status_code == 204
        new_hash = (await deps_of(client).repository.find_credentials(candidate_id))["password_hash"]
        new_token = (await log_in(client, candidate_id, NEW_PASSWORD)).json()["access_token"]
        assert (await client.post("/api/auth/logout", headers={"Authorization": f"Bearer {new_token}"})).status_code == 204
        await wait_until(lambda: _outbox_empty(client), what="outbox to drain")

    captured = capfd.readouterr()
    logs = captured.err + captured.out
    for line in ("credentials stored", "account locked", "password reset requested", "password changed", "logged out"):
        assert line in logs
    secrets = {
        "password": PASSWORD, "wrong password": WRONG_PASSWORD, "new password": NEW_PASSWORD,
        "hash": password_hash, "new hash": new_hash, "hash digest": password_hash.rsplit("$", 1)[1],
        "reset token": reset_token, "reset token digest": hashlib.sha256(reset_token.encode()).hexdigest(),
        "access token": access_token, "access token signature": access_token.rsplit(".", 1)[1],
        "new access token": new_token,
    }
    for name, value in secrets.items():
        assert value not in logs, f"the {name} was logged"


async def _reset_links(events):
    return [e for e in events.envelopes() if e.event_type == "PasswordResetRequested"]


async def _outbox_empty(client):
    return await deps_of(client).uow.outbox.count_documents({"sent_at": None}) == 0
