"""ResultsReleased against real RabbitMQ and SecantusDB: announced once per part when its results
become visible to every reader, with only what was stored, by the announcer."""

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

from crs_shared.clock import utc_iso
from crs_shared.messaging.contracts import ResultsPublished, ResultsReleased
from crs_shared.messaging.envelope import Envelope
from crs_shared.tokens import JwksKeys
from results.handlers import announce_due_releases
from results.main import create_app
from services.results.tests.conftest import (
    SIGNING_KEY, bearer, new_batch_id, new_candidate_id, publish_parts, publish_results, record, repeats_handled,
    results_part, wait_for_parts,
)
from tests.support.apps import serving
from tests.support.broker import EventTap, envelope_for, publish
from tests.support.waiting import wait_until

# Long enough that only the test announces (the background pass runs once, at start-up).
NEVER = 3600.0


async def released(tap: EventTap, client, expected: int) -> list[Envelope]:
    """Waits until every announcement in the outbox is sent and `expected` have arrived, then checks
    that no more were made: the outbox holds each one made, in the transaction that made it."""
    outbox = client.app.state.runtime.outbox
    announcements = {"routing_key": ResultsReleased.ROUTING_KEY}

    async def all_arrived() -> bool:
        unsent = await outbox.count_documents({**announcements, "sent_at": None})
        return unsent == 0 and len(tap.messages) >= expected

    await wait_until(all_arrived, what=f"{expected} ResultsReleased to arrive")
    assert await outbox.count_documents(announcements) == expected
    assert len(tap.messages) == expected
    return tap.envelopes()


async def readers_caught_up(client, clock) -> int:
    """Steps past the time a results process may still answer GET /me from a list read before the
    parts just stored were, and announces what is due then (parts released as they were stored)."""
    clock.advance(timedelta(seconds=client.app.state.dependencies.candidate_results.longest_staleness_seconds))
    return await announce_due_releases(client.app.state.dependencies)


async def outbox_announcements(client) -> int:
    return await client.app.state.runtime.outbox.count_documents({"routing_key": ResultsReleased.ROUTING_KEY})


async def shown(client, candidate_id: str, clock) -> list[dict]:
    return (await client.get("/api/results/me", headers=bearer(candidate_id, clock))).json()["results"]


@asynccontextmanager
async def replica_client(settings, clock):
    """A results process of its own, like the `client` fixture's, with these settings."""
    app = create_app(settings, clock, keys=JwksKeys(jwks=SIGNING_KEY.jwks))
    async with serving(app) as http:
        http.app = app
        yield http


async def test_a_part_released_now_publishes_one_results_released_with_only_its_stored_results(
        client, amqp_url, clock):
    issued, withheld, refused = new_candidate_id(), new_candidate_id(), new_candidate_id()
    part = results_part([record(issued), record(withheld, status="withheld", overall_score=None, grade=None,
                                                cefr_level=None, skills={}),
                         record(refused, overall=175).model_copy(update={"grade": "A"})],  # disagrees with its score
                        batch_id=new_batch_id(), exam="FCE")
    async with EventTap(amqp_url, ResultsReleased.ROUTING_KEY) as tap:
        await publish_parts(amqp_url, client, part)
        # Not before every results process's GET /me shows it: a list cached just before is not stale yet.
        clock.advance(timedelta(seconds=client.app.state.dependencies.candidate_results.longest_staleness_seconds)
                      - timedelta(milliseconds=1))
        assert await announce_due_releases(client.app.state.dependencies) == 0
        assert await outbox_announcements(client) == 0
        assert await readers_caught_up(client, clock) == 1
        [envelope] = await released(tap, client, 1)

    [message] = tap.messages
    assert (message.routing_key, message.type, message.message_id) == \
        ("results.released", "ResultsReleased", envelope.event_id)
    assert (envelope.event_type, envelope.event_version, envelope.producer) == ("ResultsReleased", 1, "results")
    [issued_result] = await shown(client, issued, clock)
    [withheld_result] = await shown(client, withheld, clock)
    assert envelope.payload == {
        "board": part.board, "batch_id": part.batch_id, "part": 1, "exam": "B2_FIRST", "session": "2026-06",
        "released_at": issued_result["released_at"],
        "results": [
            {"candidate_id": issued, "result_id": issued_result["result_id"], "status": "issued", "correction": False},
            {"candidate_id": withheld, "result_id": withheld_result["result_id"], "status": "withheld",
             "correction": False},
        ],
    }
    assert await shown(client, refused, clock) == []


async def test_embargoed_parts_are_announced_once_each_when_their_release_time_passes_by_racing_announcers(
        settings, amqp_url, clock):
    """Two replicas on one database, two announcers each, all announcing at once as the time passes."""
    release_at = (clock.now() + timedelta(days=2)).replace(microsecond=0)
    batch_id = new_batch_id()
    parts = [results_part([record(new_candidate_id())], batch_id=batch_id, part=n, parts=3, release_at=release_at)
             for n in (1, 2, 3)]
    replica = settings.model_copy(update={"release_announcer_poll_seconds": NEVER})
    async with AsyncExitStack() as stack:
        first, second = [await stack.enter_async_context(replica_client(replica, clock)) for _ in range(2)]
        tap = await stack.enter_async_context(EventTap(amqp_url, ResultsReleased.ROUTING_KEY))
        await publish_parts(amqp_url, first, *parts)
        announcers = [c.app.state.dependencies for c in (first, second, first, second)]

        async def announce_all() -> list[int]:
            return await asyncio.gather(*(announce_due_releases(deps) for deps in announcers))

        assert await announce_all() == [0, 0, 0, 0]
        clock.advance(release_at - clock.now() - timedelta(milliseconds=1))
        assert await announce_all() == [0, 0, 0, 0]
        assert await outbox_announcements(first) == 0 and tap.messages == []

        clock.advance(timedelta(milliseconds=1))
        assert sum(await announce_all()) == 3
        assert await announce_all() == [0, 0, 0, 0]
        envelopes = await released(tap, first, 3)

        assert sorted(e.payload["part"] for e in envelopes) == [1, 2, 3]
        for envelope in envelopes:
            [published] = parts[envelope.payload["part"] - 1].results
            [result] = await shown(first, published.candidate_id, clock)
            assert envelope.payload["released_at"] == result["released_at"] == utc_iso(release_at)
            assert envelope.payload["results"] == [{"candidate_id": published.candidate_id,
                                                    "result_id": result["result_id"], "status": "issued",
                                                    "correction": False}]


async def test_the_background_announcer_announces_a_part_once_its_release_time_has_passed(settings, amqp_url, clock):
    release_at = clock.now() + timedelta(hours=1)
    part = results_part([record(new_candidate_id())], batch_id=new_batch_id(), release_at=release_at)
    async with replica_client(settings.model_copy(update={"release_announcer_poll_seconds": 0.05}), clock) as client, \
            EventTap(amqp_url, ResultsReleased.ROUTING_KEY) as tap:
        await publish_parts(amqp_url, client, part)
        clock.advance(timedelta(hours=1))
        [envelope] = await released(tap, client, 1)
    assert envelope.payload["batch_id"] == part.batch_id


async def test_a_correction_is_announced_as_one_and_the_first_result_as_not(client, amqp_url, clock):
    """A correction released at once, then one held until later; an embargoed part that a correction
    overtakes before its release names only what it still shows."""
    candidate_id, overtaken, other = new_candidate_id(), new_candidate_id(), new_candidate_id()
    later = clock.now() + timedelta(days=1)
    async with EventTap(amqp_url, ResultsReleased.ROUTING_KEY) as tap:
        first = await publish_results(amqp_url, client, [record(candidate_id, overall=172)])
        [result_id] = [r["result_id"] for r in await shown(client, candidate_id, clock)]
        await readers_caught_up(client, clock)
        corrected = await publish_results(amqp_url, client, [record(candidate_id, overall=181)])
        await readers_caught_up(client, clock)
        embargoed = await publish_results(amqp_url, client, [record(candidate_id, overall=185), record(overtaken),
                                                             record(other)], release_at=later)
        overtaking = await publish_results(amqp_url, client, [record(overtaken, overall=181)])
        await readers_caught_up(client, clock)
        await released(tap, client, 3)
        clock.advance(timedelta(days=1))
        await announce_due_releases(client.app.state.dependencies)
        envelopes = await released(tap, client, 4)

    payloads = {e.payload["batch_id"]: e.payload for e in envelopes}
    assert set(payloads) == {first, corrected, overtaking, embargoed}
    assert payloads[first]["results"] == [
        {"candidate_id": candidate_id, "result_id": result_id, "status": "issued", "correction": False}]
    assert payloads[corrected]["results"] == [
        {"candidate_id": candidate_id, "result_id": result_id, "status": "issued", "correction": True}]
    # It replaced the embargoed part's result for this candidate, so that part no longer names it.
    assert [(r["candidate_id"], r["correction"]) for r in payloads[overtaking]["results"]] == [(overtaken, True)]
    assert [(r["candidate_id"], r["result_id"], r["correction"]) for r in payloads[embargoed]["results"]] == \
        [(candidate_id, result_id, True), (other, (await shown(client, other, clock))[0]["result_id"], False)]


async def test_a_part_stored_again_announces_nothing_more(client, amqp_url, clock):
    later = clock.now() + timedelta(days=1)
    parts = [results_part([record(new_candidate_id())], batch_id=new_batch_id()),
             results_part([record(new_candidate_id())], batch_id=new_batch_id(), release_at=later)]
    envelopes = [envelope_for(p) for p in parts]
    async with EventTap(amqp_url, ResultsReleased.ROUTING_KEY) as tap:
        await publish(amqp_url, *((e, ResultsPublished.ROUTING_KEY) for e in envelopes))
        await wait_for_parts(client, {(p.batch_id, p.part) for p in parts})
        await readers_caught_up(client, clock)
        await released(tap, client, 1)

        repeats_before = repeats_handled()
        await publish(amqp_url, *((e, ResultsPublished.ROUTING_KEY) for e in envelopes),  # the same events again
                      *((envelope_for(p), ResultsPublished.ROUTING_KEY) for p in parts))  # the parts as new events

        async def all_repeats_handled() -> bool:
            return repeats_handled() - repeats_before >= 4

        await wait_until(all_repeats_handled, what="the four repeats to be handled")
        await released(tap, client, 1)

        clock.advance(timedelta(days=1))
        await announce_due_releases(client.app.state.dependencies)
        announced = await released(tap, client, 2)
    assert [e.payload["batch_id"] for e in announced] == [p.batch_id for p in parts]
