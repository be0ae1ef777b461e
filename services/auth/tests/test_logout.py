"""POST /api/auth/logout revokes the token it is given, here and in every service that listens."""

import asyncio

from crs_shared.messaging.contracts import AccessRevoked
from services.auth.tests.conftest import (
    deps_of,
    log_in,
    new_candidate_id,
    register,
    rejected,
    revocation_listener,
    verifier_for,
)
from tests.support.broker import EventTap
from tests.support.waiting import wait_until


async def log_out(client, token: str):
    return await client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})


async def test_log_out_revokes_that_token_only(client, amqp_url, mongo_url, clock):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    async with (revocation_listener(mongo_url, amqp_url, clock) as revocations,
                EventTap(amqp_url, "access.revoked") as tap):
        token = (await log_in(client, candidate_id)).json()["access_token"]
        other_device = (await log_in(client, candidate_id)).json()["access_token"]
        elsewhere = await verifier_for(client, clock, revocations)
        claims = await elsewhere.verify(token)

        response = await log_out(client, token)
        assert response.status_code == 204 and response.content == b""

        again = await log_out(client, token)
        assert again.status_code == 401
        assert again.json()["code"] == "invalid_token"
        assert again.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
        await wait_until(lambda: rejected(elsewhere, token), what="the token to be revoked elsewhere")
        await elsewhere.verify(other_device)
        assert (await log_out(client, other_device)).status_code == 204

        await wait_until(lambda: _at_least(tap.messages, 2), what="two AccessRevoked")
    event = AccessRevoked.model_validate(tap.envelopes()[0].payload)
    assert event.candidate_id == candidate_id and event.token_id == claims.token_id
    assert event.expires_at == claims.expires_at


async def test_concurrent_log_outs_of_one_token_revoke_it_once(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    token = (await log_in(client, candidate_id)).json()["access_token"]
    answers = await asyncio.gather(*(log_out(client, token) for _ in range(5)))
    assert 204 in {a.status_code for a in answers} and {a.status_code for a in answers} <= {204, 401}
    assert await deps_of(client).uow.outbox.count_documents({"routing_key": "access.revoked"}) == 1


async def test_log_out_needs_a_bearer_token(client):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}, {"Authorization": "Bearer x.y.z"}):
        response = await client.post("/api/auth/logout", headers=headers)
        assert response.status_code == 401 and response.json()["code"] == "invalid_token"


async def _at_least(items, count):
    return len(items) >= count
