"""The per-ID limit on Secret Number guesses (contract section 2), against real MongoDB and
RabbitMQ with an injected clock: five wrong numbers for one ID, then 429 for 60 minutes."""

import asyncio
from collections import Counter
from datetime import timedelta

from registration import handlers
from registration.repository import GUESSES
from services.registration.tests.conftest import body, entry, new_candidate_id, publish_entries
from tests.support.direct_services import OPERATOR_TOKEN
from tests.support.metrics import sample

RIGHT = "4821"  # the Secret Number of `entry(...)`
WRONG = [f"{n:04d}" for n in range(1000, 1050)]
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def held_message(minutes: int) -> str:
    return ("Too many wrong Secret Numbers have been entered for this ID Number, so its registration is "
            "paused. Please check the ID Number and Secret Number on your Confirmation of Entry and try again "
            f"in {minutes} minutes.")


async def guess(client, candidate_id: str, secret_number: str):
    return await client.post("/api/registration/candidates", json=body(candidate_id, secret_number=secret_number))


async def five_wrong(client, candidate_id: str) -> list[int]:
    return [(await guess(client, candidate_id, wrong)).status_code for wrong in WRONG[:5]]


async def known_id(client, amqp_url) -> str:
    candidate_id = new_candidate_id()
    await publish_entries(amqp_url, client, [entry(candidate_id)])
    return candidate_id


def guesses(client):
    return client.app.state.runtime.db[GUESSES]


async def test_five_wrong_numbers_hold_the_id_for_an_hour_even_for_the_right_number(client, amqp_url, clock):
    candidate_id = await known_id(client, amqp_url)
    assert await five_wrong(client, candidate_id) == [400] * 5

    held = await guess(client, candidate_id, RIGHT)
    assert held.status_code == 429
    assert held.json() == {"detail": held_message(60), "code": "too_many_attempts", "retry_after_seconds": 3600}
    assert held.headers["Retry-After"] == "3600"

    clock.advance(timedelta(minutes=10))
    still = await guess(client, candidate_id, RIGHT)
    assert still.status_code == 429 and still.headers["Retry-After"] == "3000"
    assert still.json()["detail"] == held_message(50)

    clock.advance(timedelta(minutes=50))
    assert (await guess(client, candidate_id, RIGHT)).status_code == 201
    assert (await guess(client, candidate_id, RIGHT)).status_code == 409


async def test_an_unknown_id_answers_the_same_sequence_with_the_same_bodies(client, amqp_url):
    known, unknown = await known_id(client, amqp_url), new_candidate_id()
    for attempt in [*WRONG[:5], RIGHT, WRONG[5]]:
        answers = [await guess(client, candidate_id, attempt) for candidate_id in (known, unknown)]
        assert answers[0].status_code == answers[1].status_code
        assert answers[0].json() == answers[1].json()
        assert answers[0].headers.get("Retry-After") == answers[1].headers.get("Retry-After")
    assert answers[0].status_code == 429


async def test_the_count_starts_again_when_the_hold_lifts(client, amqp_url, clock):
    candidate_id = await known_id(client, amqp_url)
    await five_wrong(client, candidate_id)
    clock.advance(timedelta(minutes=60))

    assert await five_wrong(client, candidate_id) == [400] * 5  # not 429: a fresh count
    assert (await guess(client, candidate_id, RIGHT)).status_code == 429
    clock.advance(timedelta(minutes=60))
    assert [(await guess(client, candidate_id, n)).status_code for n in (WRONG[0], RIGHT)] == [400, 201]


async def test_wrong_numbers_count_for_an_hour_from_the_first(client, amqp_url, clock):
    candidate_id = await known_id(client, amqp_url)
    assert [(await guess(client, candidate_id, n)).status_code for n in WRONG[:4]] == [400] * 4
    clock.advance(timedelta(minutes=60))

    # The four are forgotten: five more wrong ones are checked before the hold.
    assert await five_wrong(client, candidate_id) == [400] * 5
    assert (await guess(client, candidate_id, RIGHT)).status_code == 429


async def test_an_operator_lifts_a_hold_and_the_next_guess_starts_a_fresh_count(client, amqp_url):
    candidate_id = await known_id(client, amqp_url)
    await five_wrong(client, candidate_id)
    path = f"/api/registration/holds/{candidate_id.lower()}"

    assert (await client.delete(path)).status_code == 401
    refused = await client.delete(path, headers={"Authorization": "Bearer not-the-token"})
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_operator_token"
    assert (await guess(client, candidate_id, RIGHT)).status_code == 429

    lifted = await client.delete(path, headers=OPERATOR)
    assert lifted.status_code == 204 and lifted.content == b""
    assert (await client.delete(f"/api/registration/holds/{new_candidate_id()}", headers=OPERATOR)).status_code == 204
    assert await five_wrong(client, candidate_id) == [400] * 5
    assert (await guess(client, candidate_id, RIGHT)).status_code == 429
    await client.delete(path, headers=OPERATOR)
    assert (await guess(client, candidate_id, RIGHT)).status_code == 201


async def test_fifty_simultaneous_wrong_guesses_check_at_most_five(client, amqp_url, monkeypatch):
    candidate_id = await known_id(client, amqp_url)
    repository = client.app.state.dependencies.repository
    compare, find_entry = handlers.secret_matches, repository.find_entry
    compared, arrived, answered, everyone_in = [], [], [], asyncio.Event()

    def counting(*args):
        compared.append(args)
        return compare(*args)

    def count_in(place: list) -> None:
        place.append(1)
        if len(arrived) + len(answered) == len(WRONG):
            everyone_in.set()

    async def held_back(*args):
        # Every check waits until each guess has either been answered or reached a check too,
        # so all fifty are in flight together.
        count_in(arrived)
        await asyncio.wait_for(everyone_in.wait(), timeout=30)
        return await find_entry(*args)

    async def simultaneous_guess(secret_number: str):
        answer = await guess(client, candidate_id, secret_number)
        count_in(answered)
        return answer

    monkeypatch.setattr(handlers, "secret_matches", counting)
    monkeypatch.setattr(repository, "find_entry", held_back)
    in_flight_before = sample("registration_guess_refusals_total", reason="checks_in_flight")
    answers = await asyncio.gather(*(simultaneous_guess(wrong) for wrong in WRONG))

    assert Counter(a.status_code for a in answers) == {400: 5, 429: 45}
    assert len(compared) == 5
    assert sample("registration_guess_refusals_total", reason="checks_in_flight") - in_flight_before == 45
    refusals = [a for a in answers if a.status_code == 429]
    assert {(a.json()["code"], a.headers["Retry-After"]) for a in refusals} == {("too_many_attempts", "3600")}
    assert (await guess(client, candidate_id, RIGHT)).status_code == 429  # the five wrong ones hold the ID


async def test_a_check_left_unfinished_by_a_crashed_process_is_reclaimed_after_a_minute(client, amqp_url, clock):
    candidate_id = await known_id(client, amqp_url)
    deps = client.app.state.dependencies
    for _ in range(5):  # five checks reserved and never finished, as by processes that died
        assert await deps.repository.reserve_check(candidate_id, clock.now(), deps.guess_limit) is not None

    refused = await guess(client, candidate_id, RIGHT)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3600"

    clock.advance(timedelta(seconds=61))
    assert (await guess(client, candidate_id, RIGHT)).status_code == 201


async def test_the_counters_expire_by_a_ttl_index_but_never_before_their_hold_ends(client, amqp_url, clock):
    known, unknown = await known_id(client, amqp_url), new_candidate_id()
    await five_wrong(client, known)
    await guess(client, unknown, WRONG[0])

    indexes = await guesses(client).index_information()
    assert [(i["key"], i["expireAfterSeconds"]) for i in indexes.values() if "expireAfterSeconds" in i] == [
        ([("expires_at", 1)], 0)]
    held = await guesses(client).find_one({"_id": known})
    assert held["held_until"] - clock.now() >= timedelta(minutes=60) - timedelta(milliseconds=1)
    assert held["expires_at"] >= held["held_until"]
    counting = await guesses(client).find_one({"_id": unknown})
    assert counting["expires_at"] - clock.now() >= timedelta(minutes=60) - timedelta(milliseconds=1)


async def test_refusals_are_counted_in_a_metric(client, amqp_url):
    candidate_id = await known_id(client, amqp_url)
    before = sample("registration_guess_refusals_total", reason="held")
    await five_wrong(client, candidate_id)
    for _ in range(3):
        await guess(client, candidate_id, RIGHT)

    assert sample("registration_guess_refusals_total", reason="held") - before == 3
    assert "registration_guess_refusals_total" in (await client.get("/metrics")).text
