"""Password reminder and reset, end to end through the broker.

The reset link is read from the `PasswordResetRequested` event, as the notifier reads it; the
email leg (notifier -> SMTP) is tested with the notifier."""

import asyncio
from datetime import timedelta

from auth.repository import RESET_TOKENS
from crs_shared.messaging.contracts import AccessRevoked, PasswordChanged, PasswordResetRequested
from services.auth.tests.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    WRONG_PASSWORD,
    Held,
    deps_of,
    later,
    log_in,
    new_candidate_id,
    register,
    rejected,
    revocation_listener,
    token_of,
    verifier_for,
)
from tests.support.broker import EventTap
from tests.support.waiting import wait_until


async def remind(client, candidate_id: str, **kwargs):
    return await client.post("/api/auth/password-reminder", json={"candidate_id": candidate_id}, **kwargs)


async def reset(client, token: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    return await client.post("/api/auth/password-reset",
                             json={"token": token, "password": password, "password_confirm": confirm or password})


async def reset_link(tap: EventTap, count: int = 1) -> PasswordResetRequested:
    """The newest reset link published, once `count` have been."""
    await wait_until(lambda: _at_least(tap.messages, count), what=f"{count} PasswordResetRequested")
    return PasswordResetRequested.model_validate(tap.envelopes()[count - 1].payload)


async def test_reset_flow_end_to_end(client, amqp_url, mongo_url, clock, settings):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    async with (revocation_listener(mongo_url, amqp_url, clock) as revocations,
                EventTap(amqp_url, "password.reset_requested") as links,
                EventTap(amqp_url, "password.changed") as changes,
                EventTap(amqp_url, "access.revoked") as revoked):
        old_token = (await log_in(client, candidate_id)).json()["access_token"]
        elsewhere = await verifier_for(client, clock, revocations)
        await elsewhere.verify(old_token)

        for _ in range(3):
            await log_in(client, candidate_id, WRONG_PASSWORD)
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 423

        # The reminder works while locked, and its link comes from PUBLIC_BASE_URL, never the request.
        later(clock, seconds=5)
        reminder = await remind(client, candidate_id.lower(),
                                headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
        assert reminder.status_code == 202
        link = await reset_link(links)
        assert link.candidate_id == candidate_id
        assert link.reset_url.startswith(f"{settings.public_base_url}/reset-password?token=")
        assert link.expires_at == clock.now() + timedelta(minutes=60)
        token = token_of(link.reset_url)

        later(clock, minutes=1)
        done = await reset(client, token)
        assert done.status_code == 204 and done.content == b""  # it does not log the candidate in
        assert "set-cookie" not in done.headers

        # The lock is cleared at once, and only the new password works.
        assert (await log_in(client, candidate_id, PASSWORD)).status_code == 401
        fresh = await log_in(client, candidate_id, NEW_PASSWORD)
        assert fresh.status_code == 200

        # The old access token is refused by auth itself and, once AccessRevoked arrives, elsewhere.
        refused = await client.post("/api/auth/logout", headers={"Authorization": f"Bearer {old_token}"})
        assert refused.status_code == 401 and refused.json()["code"] == "invalid_token"
        await wait_until(lambda: rejected(elsewhere, old_token), what="the old token to be revoked elsewhere")
        await elsewhere.verify(fresh.json()["access_token"])

        # The link is single-use.
        again = await reset(client, token, password="another-pass-55")
        assert again.status_code == 400 and again.json()["code"] == "invalid_token"

        await wait_until(lambda: _at_least(changes.messages, 1), what="PasswordChanged")
        await wait_until(lambda: _at_least(revoked.messages, 1), what="AccessRevoked")
        changed = PasswordChanged.model_validate(changes.envelopes()[0].payload)
        assert changed.candidate_id == candidate_id and changed.changed_at == clock.now()
        revocation = AccessRevoked.model_validate(revoked.envelopes()[0].payload)
        # The stored "valid after" time, to the millisecond as MongoDB keeps it.
        now = clock.now()
        assert revocation.token_id is None and revocation.not_before == now.replace(microsecond=now.microsecond // 1000 * 1000)
    assert len(changes.messages) == 1


async def test_an_expired_link_is_refused(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    async with EventTap(amqp_url, "password.reset_requested") as links:
        await remind(client, candidate_id)
        first = token_of((await reset_link(links, 1)).reset_url)
        later(clock, minutes=59, seconds=59)
        assert (await reset(client, first)).status_code == 204

        await remind(client, candidate_id)
        second = token_of((await reset_link(links, 2)).reset_url)
        later(clock, minutes=60)
        expired = await reset(client, second)
    assert expired.status_code == 400
    assert expired.json()["code"] == "invalid_token" and "expired" in expired.json()["detail"]
    assert (await log_in(client, candidate_id, NEW_PASSWORD)).status_code == 200


async def test_a_reset_voids_every_other_outstanding_link(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    async with EventTap(amqp_url, "password.reset_requested") as links:
        await remind(client, candidate_id)
        await remind(client, candidate_id)
        await reset_link(links, 2)
        first, second = (token_of(PasswordResetRequested.model_validate(e.payload).reset_url) for e in links.envelopes())
    assert first != second
    assert (await reset(client, second)).status_code == 204
    assert (await reset(client, first, password="another-pass-55")).json()["code"] == "invalid_token"


async def test_an_unknown_token_is_refused_without_hashing(client):
    hashed = []
    original = deps_of(client).passwords.hash
    deps_of(client).passwords.hash = lambda password: hashed.append(1) or original(password)
    response = await reset(client, "not-a-real-token")
    assert response.status_code == 400 and response.json()["code"] == "invalid_token"
    assert hashed == []


async def test_the_new_password_meets_the_registration_policy(client):
    response = await reset(client, "whatever", password="short1", confirm="other")
    assert response.status_code == 422
    rules = {(e["loc"][-1], e["type"]) for e in response.json()["detail"]}
    assert {("password", "password_too_short"), ("password", "password_too_few_letters"),
            ("password", "password_too_few_digits")} <= rules
    assert "short1" not in response.text
    common = await reset(client, "whatever", password="password12")
    assert [e["type"] for e in common.json()["detail"]] == ["password_too_common"]
    mismatch = await reset(client, "whatever", password=NEW_PASSWORD, confirm=NEW_PASSWORD + "x")
    assert [(e["loc"][-1], e["type"]) for e in mismatch.json()["detail"]] == [("password_confirm", "password_mismatch")]


async def test_a_reminder_for_an_unknown_id_is_indistinguishable(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    known = await remind(client, candidate_id)
    unknown = await remind(client, new_candidate_id())
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known.content == unknown.content
    assert {k: v for k, v in known.headers.items() if k != "x-request-id"} == \
           {k: v for k, v in unknown.headers.items() if k != "x-request-id"}
    assert "60 minutes" in known.json()["detail"]


async def test_reminders_are_rate_limited_per_candidate(client, amqp_url, clock):
    candidate_id, other = new_candidate_id(), new_candidate_id()
    await register(amqp_url, client, candidate_id)
    await register(amqp_url, client, other)
    outbox = deps_of(client).uow.outbox
    reset_tokens = client.app.state.runtime.db[RESET_TOKENS]
    answers = []
    async with EventTap(amqp_url, "password.reset_requested") as links:
        for _ in range(5):
            answers.append(await remind(client, candidate_id))
            later(clock, minutes=5)
        assert {a.status_code for a in answers} == {202} and len({a.content for a in answers}) == 1
        assert await reset_tokens.count_documents({"candidate_id": candidate_id}) == 3
        assert (await remind(client, other)).status_code == 202  # another candidate has a limit of their own
        assert await reset_tokens.count_documents({"candidate_id": other}) == 1

        later(clock, minutes=40)  # an hour after the first reminder, it no longer counts
        await remind(client, candidate_id)
        assert await reset_tokens.count_documents({"candidate_id": candidate_id}) == 4
        await wait_until(lambda: _none_unsent(outbox), what="outbox to drain")
        assert await outbox.count_documents({"routing_key": "password.reset_requested"}) == 5
        await wait_until(lambda: _at_least(links.messages, 5), what="five reset links")
    assert [PasswordResetRequested.model_validate(e.payload).candidate_id for e in links.envelopes()].count(other) == 1


async def _at_least(items, count):
    return len(items) >= count


async def _none_unsent(outbox):
    return await outbox.count_documents({"sent_at": None}) == 0


async def registered_with_a_reset_link(client, amqp_url) -> tuple[str, str]:
    """A registered candidate and the token of a reset link sent to them."""
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    async with EventTap(amqp_url, "password.reset_requested") as links:
        await remind(client, candidate_id)
        return candidate_id, token_of((await reset_link(links)).reset_url)


async def test_a_log_in_checked_against_the_old_password_during_a_reset_gets_no_token(client, amqp_url):
    candidate_id, token = await registered_with_a_reset_link(client, amqp_url)
    held = Held(deps_of(client).passwords, "verify")
    racing = asyncio.create_task(log_in(client, candidate_id, PASSWORD))
    await asyncio.wait_for(held.done.wait(), timeout=20)  # the old password has been checked

    assert (await reset(client, token)).status_code == 204
    held.release.set()

    assert await _gets_no_usable_token(client, await racing)


async def test_a_log_in_that_ends_while_a_reset_hashes_gets_a_token_the_reset_revokes(client, amqp_url):
    candidate_id, token = await registered_with_a_reset_link(client, amqp_url)
    held = Held(deps_of(client).passwords, "hash")
    resetting = asyncio.create_task(reset(client, token))
    await asyncio.wait_for(held.done.wait(), timeout=20)  # the new password is hashed, not yet stored

    racing = await log_in(client, candidate_id, PASSWORD)
    held.release.set()

    assert (await resetting).status_code == 204
    assert racing.status_code == 200
    assert await _gets_no_usable_token(client, racing)


async def _gets_no_usable_token(client, answer) -> bool:
    """A log-in with the old password either failed or got a token that auth now refuses."""
    if answer.status_code == 401:
        return True
    assert answer.status_code == 200, answer.text
    return await rejected(deps_of(client).verifier, answer.json()["access_token"])
