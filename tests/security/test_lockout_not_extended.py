"""While an account is locked, nothing a caller sends moves the lock: the stored `locked_until`
stays where the fourth wrong password put it, whatever arrives (the right password, wrong ones,
a burst of 20 at once), no password is even checked, `Retry-After` only counts down, and exactly
one LoginLocked is published. Auth runs in-process with an injected ManualClock, on the real
SecantusDB and broker."""

import asyncio
from datetime import timedelta

from services.auth.tests.conftest import (  # noqa: F401  (fixtures)
    PASSWORD,
    WRONG_PASSWORD,
    CountingVerify,
    client,
    clock,
    deps_of,
    log_in,
    new_candidate_id,
    register,
    settings,
    signing_key_pem,
)
from tests.support.broker import EventTap
from tests.support.waiting import wait_until


async def test_attempts_while_locked_do_not_move_the_lock(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await register(amqp_url, client, candidate_id)
    repository = deps_of(client).repository
    async with EventTap(amqp_url, "login.locked") as locks:
        for _ in range(3):
            await log_in(client, candidate_id, WRONG_PASSWORD)
        assert (await log_in(client, candidate_id, WRONG_PASSWORD)).status_code == 423
        locked_until = (await repository.find_credentials(candidate_id))["locked_until"]
        verified = CountingVerify(deps_of(client).passwords)

        retry_afters = []
        for step in (1, 4, 7, 17):
            clock.advance(timedelta(minutes=step))
            burst = await asyncio.gather(*(log_in(client, candidate_id, WRONG_PASSWORD) for _ in range(20)),
                                         log_in(client, candidate_id, PASSWORD))
            assert {r.status_code for r in burst} == {423}
            assert len({r.headers["Retry-After"] for r in burst}) == 1
            retry_afters.append(int(burst[0].headers["Retry-After"]))
            assert (await repository.find_credentials(candidate_id))["locked_until"] == locked_until

        await wait_until(lambda: asyncio.sleep(0, locks.messages), what="LoginLocked")
    assert retry_afters == [29 * 60, 25 * 60, 18 * 60, 60]
    assert verified.calls == [], "a password was checked while the account was locked"
    assert len(locks.messages) == 1
