"""A log-in cut short by its request's database budget: it answers 503, and the place it took in
the lockout window is freed, so such answers never add up to a lock of the right password."""

import asyncio

import pytest

from auth.config import Settings
from services.auth.tests.conftest import WRONG_PASSWORD, deps_of, log_in, new_candidate_id, register
from tests.support.apps import fast_settings
from tests.support.waiting import wait_until

BUDGET_SECONDS = 1.0


@pytest.fixture
def settings(mongo_url, amqp_url, signing_key_pem) -> Settings:
    return fast_settings(Settings, mongo_url, amqp_url, "auth", argon2_memory_kib=19 * 1024,
                         jwt_signing_key=signing_key_pem, request_database_budget_seconds=BUDGET_SECONDS)


class SlowMachineVerify:
    """`Passwords.verify` on a machine where a hash (or the wait for an argon2 worker) outlasts the
    request's database budget: the real check, then that much more time."""

    def __init__(self, passwords):
        self._original = passwords.verify
        passwords.verify = self

    async def __call__(self, stored_hash, password):
        result = await self._original(stored_hash, password)
        await asyncio.sleep(BUDGET_SECONDS + 0.2)  # the slow machine's hashing time
        return result


async def test_log_ins_cut_short_by_the_budget_never_lock_the_right_password_out(client, amqp_url, settings):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    deps = deps_of(client)
    original = deps.passwords.verify
    SlowMachineVerify(deps.passwords)
    answers = [(await log_in(client, candidate_id, WRONG_PASSWORD)).status_code
               for _ in range(deps.lockout.locking_attempt)]
    deps.passwords.verify = original  # the machine is fast again

    credentials = deps.mongo[settings.database_name].credentials

    async def places_free():
        state = await credentials.find_one({"_id": candidate_id}, {"checks": 1, "failed_attempts": 1})
        return state is not None and not state.get("checks") and not state.get("failed_attempts")
    await wait_until(places_free, what="the cut-short checks' places freed")
    response = await log_in(client, candidate_id)

    assert set(answers) == {503}
    assert response.status_code == 200, response.text
