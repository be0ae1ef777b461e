"""Reset tokens are kept in auth's database only as their SHA-256: once the reminder's event has
left the outbox (which holds the event, link included, only until the broker confirms it), no
document in any collection of auth's database holds the raw token sent in the link, and the digest
is there. (Single use and expiry are tested in services/auth/tests/test_password_reset.py.)"""

import hashlib

from services.auth.tests.conftest import (  # noqa: F401  (fixtures)
    client,
    clock,
    deps_of,
    new_candidate_id,
    register,
    settings,
    signing_key_pem,
    token_of,
)
from crs_shared.messaging.contracts import PasswordResetRequested
from tests.security.test_secrets_at_rest_and_in_logs import strings_in
from tests.support.broker import EventTap
from tests.support.waiting import wait_until


async def test_only_the_digest_of_a_reset_token_is_stored(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    async with EventTap(amqp_url, "password.reset_requested") as links:
        assert (await client.post("/api/auth/password-reminder", json={"candidate_id": candidate_id})).status_code == 202
        [envelope] = await wait_until(lambda: _envelopes(links), what="PasswordResetRequested")
    token = token_of(PasswordResetRequested.model_validate(envelope.payload).reset_url)

    await wait_until(lambda: _outbox_empty(client), what="the outbox to be relayed")
    db = client.app.state.runtime.db
    stored = [s for name in await db.list_collection_names() async for doc in db[name].find() for s in strings_in(doc)]
    assert stored
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert not any(token in s for s in stored), "the raw reset token is stored in auth's database"


async def _envelopes(tap):
    return tap.envelopes()


async def _outbox_empty(client) -> bool:
    return await deps_of(client).uow.outbox.count_documents({"sent_at": None}) == 0
