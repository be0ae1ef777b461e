"""Attack on the request database budget (issue 34): the budget is meant for a request's database
work, "leaving room for the rest of the request (a password hash)" (crs_shared.config), but
pymongo.timeout() starts with the request, so the time a log-in spends hashing, or queued for an
argon2 worker, is taken out of it."""

import asyncio

import pytest

from auth.config import Settings
from services.auth.tests.conftest import WRONG_PASSWORD, deps_of, log_in, new_candidate_id, register
from tests.support.apps import fast_settings

BUDGET_SECONDS = 1.0


@pytest.fixture
def settings(mongo_url, amqp_url, signing_key_pem) -> Settings:
    return fast_settings(Settings, mongo_url, amqp_url, "auth", argon2_memory_kib=19 * 1024,
                         jwt_signing_key=signing_key_pem, request_database_budget_seconds=BUDGET_SECONDS)


class SlowMachineVerify:
    """`Passwords.verify` on a machine where a hash (or the wait for a free argon2 worker) takes
    longer than the database budget: the real check, then that much more time."""

    def __init__(self, passwords):
        self._original = passwords.verify
        passwords.verify = self

    async def __call__(self, stored_hash, password):
        result = await self._original(stored_hash, password)
        await asyncio.sleep(BUDGET_SECONDS + 0.2)  # the slow machine's hashing, not a wait for the system to settle
        return result


async def test_attack_a_slow_password_hash_does_not_turn_a_wrong_password_into_a_503(client, amqp_url):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    SlowMachineVerify(deps_of(client).passwords)

    response = await log_in(client, candidate_id, WRONG_PASSWORD)

    # The database is healthy and answered in milliseconds; the answer is 503 "database
    # unreachable, or not within the request's budget", and the check reserved before the hash
    # stays taken (the count_wrong that ends it timed out), counting towards the lockout window.
    attempts = await deps_of(client).repository.attempts.find(candidate_id)
    assert response.status_code == 401, response.text
    assert attempts is not None


async def test_attack_log_ins_that_ran_out_of_budget_after_the_hash_do_not_lock_the_right_password_out(
        client, amqp_url):
    # Each attempt reserves its place in the lockout window, hashes, then ends its check with a
    # write; past the budget that write is refused, the place stays taken (for check_timeout,
    # a minute), and once `locking_attempt` places are taken the right password answers 423,
    # "This account has been locked", though no wrong password was ever counted.
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    deps = deps_of(client)
    original = deps.passwords.verify
    SlowMachineVerify(deps.passwords)
    answers = [(await log_in(client, candidate_id, WRONG_PASSWORD)).status_code
               for _ in range(deps.lockout.locking_attempt)]
    deps.passwords.verify = original  # the machine is fast again

    response = await log_in(client, candidate_id)

    assert set(answers) == {503}
    assert response.status_code == 200, response.text
