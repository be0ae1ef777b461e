"""POST /api/auth/login and the lockout, against real MongoDB and RabbitMQ with an injected clock."""

import asyncio
import json

from argon2 import PasswordHasher

from auth.repository import CREDENTIALS, SHADOW_ATTEMPTS
from crs_shared.messaging.contracts import LoginLocked
from services.auth.tests.conftest import (
    PASSWORD,
    WRONG_PASSWORD,
    CountingVerify,
    Held,
    deps_of,
    later,
    log_in,
    new_candidate_id,
    publish_registration,
    register,
    verifier_for,
)
from tests.support.broker import EventTap
from tests.support.waiting import wait_until

LOCKED_MESSAGE = "This account has been locked. Please try again in 30 minutes."


async def test_the_right_password_gets_a_verifiable_access_token(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)

    response = await log_in(client, candidate_id.lower(), PASSWORD)

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 30 * 60
    assert response.headers["Cache-Control"] == "no-store"
    claims = await (await verifier_for(client, clock)).verify(answer["access_token"])
    assert claims.candidate_id == candidate_id
    assert abs((claims.issued_at - clock.now()).total_seconds()) < 0.002
    assert (claims.expires_at - claims.issued_at).total_seconds() == 30 * 60


async def test_unknown_id_and_wrong_password_get_the_same_401_and_the_same_hashing(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    verify = CountingVerify(deps_of(client).passwords)

    wrong = await log_in(client, candidate_id, WRONG_PASSWORD)
    unknown = await log_in(client, new_candidate_id(), PASSWORD)

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "The ID Number or password is incorrect.",
                                              "code": "invalid_credentials"}
    assert verify.calls == [True, False]  # the unknown ID still spent one argon2 verification


async def test_the_whole_lockout_sequence(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    async with EventTap(amqp_url, "login.locked") as tap:
        for _ in range(3):
            assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401

        fourth = await log_in(client, candidate_id, WRONG_PASSWORD)
        assert fourth.status_code == 423
        assert fourth.json() == {"detail": LOCKED_MESSAGE, "code": "account_locked", "retry_after_seconds": 1800}
        assert fourth.headers["Retry-After"] == "1800"
        locked_at = clock.now()

        # While locked, even the right password answers 423, and no attempt extends the lock.
        later(clock, minutes=10)
        right = await log_in(client, candidate_id, PASSWORD)
        assert right.status_code == 423 and right.json()["retry_after_seconds"] == 20 * 60
        assert right.json()["detail"] == "This account has been locked. Please try again in 20 minutes."
        for _ in range(3):
            assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 423

        later(clock, minutes=20, seconds=-1)  # 30 minutes minus ε after the lock
        almost = await log_in(client, candidate_id, PASSWORD)
        assert almost.status_code == 423 and almost.headers["Retry-After"] == "1"

        later(clock, seconds=2)  # 30 minutes plus ε
        assert (await log_in(client, candidate_id, PASSWORD)).status_code == 200

        await wait_until(lambda: _some(tap.messages), what="LoginLocked")
        envelope = tap.envelopes()[0]
    assert len(tap.messages) == 1 and tap.messages[0].type == "LoginLocked"
    assert envelope.producer == "auth"
    event = LoginLocked.model_validate(envelope.payload)
    assert event.candidate_id == candidate_id and event.failed_attempts == 4
    assert abs((event.locked_until - locked_at).total_seconds() - 1800) < 0.001


async def test_a_successful_log_in_resets_the_count_and_a_lifted_lock_starts_afresh(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    for _ in range(2):
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401
    assert (await log_in(client, candidate_id, PASSWORD)).status_code == 200
    for _ in range(3):
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401
    assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 423

    later(clock, minutes=31)
    for _ in range(3):
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401
    assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 423


async def test_the_right_password_logs_in_as_the_fourth_attempt_and_starts_the_count_again(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    for _ in range(3):
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401

    assert (await log_in(client, candidate_id, PASSWORD)).status_code == 200

    for _ in range(3):
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401
    assert (await log_in(client, candidate_id, PASSWORD)).status_code == 200


async def test_four_right_passwords_at_once_all_log_in_and_lock_nothing(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    async with EventTap(amqp_url, "login.locked") as tap:
        answers = await asyncio.gather(*(log_in(client, candidate_id, PASSWORD) for _ in range(4)))

        assert [a.status_code for a in answers] == [200] * 4
        credentials = await deps_of(client).repository.find_credentials(candidate_id)
        assert credentials["locked_until"] is None and credentials["failed_attempts"] == 0
        assert credentials["checks"] == []
        await wait_until(lambda: _outbox_empty(client), what="outbox to drain")
    assert tap.messages == []
    assert await deps_of(client).uow.outbox.count_documents({"routing_key": "login.locked"}) == 0


async def test_fifty_concurrent_wrong_passwords_check_four_and_lock_once(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    verify = CountingVerify(deps_of(client).passwords)
    async with EventTap(amqp_url, "login.locked") as tap:
        answers = await asyncio.gather(*(log_in(client, candidate_id, WRONG_PASSWORD) for _ in range(50)))
        statuses = [a.status_code for a in answers]

        # Three wrong passwords answer 401, the fourth locks; the other 46 find no place and are
        # refused unchecked.
        assert verify.calls == [True] * 4
        assert statuses.count(401) == 3 and statuses.count(423) == 47
        credentials = await deps_of(client).repository.find_credentials(candidate_id)
        assert credentials["locked_until"] is not None
        # The right password now meets the lock too.
        assert (await log_in(client, candidate_id, PASSWORD)).status_code == 423

        # The relay is idle once the outbox is empty; any second event would have been sent by then.
        await wait_until(lambda: _outbox_empty(client), what="outbox to drain")
        await wait_until(lambda: _some(tap.messages), what="LoginLocked")
    assert len(tap.messages) == 1
    assert await deps_of(client).uow.outbox.count_documents({"routing_key": "login.locked"}) == 1


async def test_while_the_fourth_password_is_checked_further_attempts_are_refused_unchecked(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    for _ in range(3):
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401
    held = Held(deps_of(client).passwords, "verify")
    fourth = asyncio.create_task(log_in(client, candidate_id, PASSWORD))
    await asyncio.wait_for(held.done.wait(), timeout=20)  # the fourth password is under check

    extra = [await log_in(client, candidate_id, PASSWORD) for _ in range(3)]

    assert [a.status_code for a in extra] == [423] * 3 and held.calls == 1
    held.release.set()
    assert (await fourth).status_code == 200  # the right password: nothing was locked by the refusals
    assert (await deps_of(client).repository.find_credentials(candidate_id))["locked_until"] is None
    assert (await log_in(client, candidate_id, PASSWORD)).status_code == 200


async def test_a_check_lost_with_its_process_frees_its_place_after_a_minute(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    attempts = deps_of(client).repository.attempts
    for _ in range(4):  # four checks reserved and never finished, as by a process killed mid-check
        assert await attempts.reserve_check(candidate_id, clock.now())
    assert (await log_in(client, candidate_id, PASSWORD)).status_code == 423

    later(clock, minutes=1, seconds=1)
    assert (await log_in(client, candidate_id, PASSWORD)).status_code == 200


async def test_an_unknown_id_answers_as_a_registered_one_and_publishes_nothing(client, amqp_url, clock):
    registered, unknown = new_candidate_id(), new_candidate_id()
    await register(amqp_url, client, registered)
    async with EventTap(amqp_url, "login.locked") as tap:
        for candidate_id in (registered, unknown):
            answers = [await log_in(client, candidate_id, WRONG_PASSWORD) for _ in range(5)]
            assert [a.status_code for a in answers] == [401, 401, 401, 423, 423], candidate_id
            assert answers[3].json() == {"detail": LOCKED_MESSAGE, "code": "account_locked",
                                         "retry_after_seconds": 1800}
            assert answers[3].headers["Retry-After"] == "1800"
        later(clock, minutes=31)
        for candidate_id in (registered, unknown):
            assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401
        await wait_until(lambda: _some(tap.messages), what="the registered ID's LoginLocked")
        await wait_until(lambda: _outbox_empty(client), what="outbox to drain")
    assert [LoginLocked.model_validate(e.payload).candidate_id for e in tap.envelopes()] == [registered]
    assert await deps_of(client).repository.find_credentials(unknown) is None


async def test_an_unknown_ids_shadow_count_expires_and_a_count_left_a_day_starts_again(client, amqp_url, clock):
    registered, unknown = new_candidate_id(), new_candidate_id()
    await register(amqp_url, client, registered)
    for candidate_id in (registered, unknown):
        for _ in range(3):
            assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401
    shadows = client.app.state.runtime.db[SHADOW_ATTEMPTS]
    shadow = await shadows.find_one({"_id": unknown})
    assert abs((shadow["expires_at"] - clock.now()).total_seconds() - 24 * 3600) < 1
    ttl = [i for i in (await shadows.index_information()).values() if i.get("expireAfterSeconds") == 0]
    assert [i["key"] for i in ttl] == [[("expires_at", 1)]]

    later(clock, hours=24, seconds=1)
    for candidate_id in (registered, unknown):  # the fourth wrong password is the first of a new count
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401, candidate_id


async def test_a_hash_with_outdated_parameters_is_replaced_at_the_next_log_in(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    repository = deps_of(client).repository
    old_hash = PasswordHasher(time_cost=3, memory_cost=19 * 1024, parallelism=1).hash(PASSWORD)
    await client.app.state.runtime.db[CREDENTIALS].update_one({"_id": candidate_id}, {"$set": {"password_hash": old_hash}})

    assert (await log_in(client, candidate_id, PASSWORD)).status_code == 200

    new_hash = (await repository.find_credentials(candidate_id))["password_hash"]
    assert new_hash != old_hash and new_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert (await log_in(client, candidate_id, PASSWORD)).status_code == 200


async def test_credentials_are_stored_once_per_event(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    repository = deps_of(client).repository
    stored = await repository.find_credentials(candidate_id)
    assert stored["password_hash"].startswith("$argon2id$")
    assert json.dumps(stored, default=str).count("$argon2id$") == 1
    # A later registration event for the same ID never replaces the password.
    await publish_registration(amqp_url, client, candidate_id, password="other-password-77")
    inbox = deps_of(client).uow.inbox
    await wait_until(lambda: _at_least(inbox.count_documents({}), 2), what="the second event to be handled")
    assert (await repository.find_credentials(candidate_id))["password_hash"] == stored["password_hash"]
    assert (await log_in(client, candidate_id, PASSWORD)).status_code == 200


async def test_malformed_requests_are_422_without_echo(client):
    response = await client.post("/api/auth/login", json={"candidate_id": {"$ne": ""}, "password": "secret-pass-1"})
    assert response.status_code == 422 and "secret-pass-1" not in response.text
    missing = await client.post("/api/auth/login", json={})
    assert {e["loc"][-1] for e in missing.json()["detail"]} == {"candidate_id", "password"}


async def test_health_readiness_and_metrics(client):
    assert (await client.get("/healthz")).json() == {"status": "ok", "service": "auth"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"mongodb": True, "rabbitmq": True}
    assert "auth_logins_total" in (await client.get("/metrics")).text


async def _some(items):
    return bool(items)


async def _outbox_empty(client):
    return await deps_of(client).uow.outbox.count_documents({"sent_at": None}) == 0


async def _at_least(count, minimum):
    return await count >= minimum


async def test_a_check_lost_with_its_process_frees_its_place_though_attempts_go_on(client, amqp_url, clock):
    # A process killed between reserving a place and recording its outcome leaves one place taken.
    # It must be free again `check_timeout` after its own reservation, not only after a minute in
    # which nobody tried: otherwise a candidate who keeps trying never gets it back, and the right
    # password as the fourth attempt meets a lock that does not exist.
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    assert await deps_of(client).repository.attempts.reserve_check(candidate_id, clock.now())

    for _ in range(3):
        later(clock, seconds=40)
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 401

    later(clock, seconds=40)  # two minutes since the lost check
    fourth = await log_in(client, candidate_id, PASSWORD)
    assert fourth.status_code == 200, fourth.text
    credentials = await deps_of(client).repository.find_credentials(candidate_id)
    assert credentials["locked_until"] is None and credentials["failed_attempts"] == 0


async def test_a_lost_check_leaves_four_places_for_four_tabs_once_its_time_is_up(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    assert await deps_of(client).repository.attempts.reserve_check(candidate_id, clock.now())
    for _ in range(3):  # the candidate logs in now and then: never a minute without a reservation
        later(clock, seconds=40)
        assert (await log_in(client, candidate_id, PASSWORD)).status_code == 200

    later(clock, seconds=1)
    answers = await asyncio.gather(*(log_in(client, candidate_id, PASSWORD) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4


class _CountingCollection:
    """Counts the writes a lockout count makes on its collection, passing each one on."""

    def __init__(self, collection):
        self._collection = collection
        self.writes = 0

    def __getattr__(self, name):
        return getattr(self._collection, name)

    async def update_one(self, *args, **kwargs):
        self.writes += 1
        return await self._collection.update_one(*args, **kwargs)


async def test_a_locked_unknown_id_is_refused_with_the_work_of_a_locked_registered_one(client, amqp_url):
    # The answers must not tell whether an ID is registered, their timing included: a locked
    # unknown ID's refusal must not take a round trip more than a locked registered one's (its
    # upsert fails on the duplicate _id and is asked again: about 1.3 ms more per refusal here,
    # 5.0 ms against 3.7 ms, over 40 refusals each).
    registered, unknown = new_candidate_id(), new_candidate_id()
    await register(amqp_url, client, registered)
    repository = deps_of(client).repository
    writes = {}
    for candidate_id, attempts in ((registered, repository.attempts), (unknown, repository.shadow_attempts)):
        for _ in range(4):
            await log_in(client, candidate_id, WRONG_PASSWORD)
        counting = attempts._collection = _CountingCollection(attempts._collection)
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 423
        writes[candidate_id] = counting.writes
    assert writes[unknown] == writes[registered]
