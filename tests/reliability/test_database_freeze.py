"""Database freeze: the MongoDB-compatible server stops answering (SIGSTOP, as a primary does that
hangs, or in the seconds of an election) while a registration, a log-in and a results read go
through the gateway. Each answers 503 with Retry-After within its database budget, never the
gateway's 504 or a hang; after SIGCONT each works, and no event is lost or doubled."""

import asyncio
import os
import signal
import time

import httpx
import pytest
from pymongo import AsyncMongoClient

from crs_shared.messaging.contracts import CandidateRegistered, ResultRecord, ResultsPublished
from notifier.repository import NOTIFICATIONS
from registration.repository import ENTRIES
from tests.reliability.report import record
from tests.support.broker import envelope_for, publish
from tests.support.direct_services import B2_SCORES, Candidate, access_token, publish_entries, register
from tests.support.faults import RestartableSecantus
from tests.support.stack import wait_for_entries
from tests.support.system import RunningSystem
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

# Every service's REQUEST_DATABASE_BUDGET_SECONDS here, and what a request may take besides its
# database work (a password hash, the gateway).
BUDGET = 4.0
SLACK = 3.0
PASSWORD = "correct horse battery 42"
PROMISE = ("The database stops answering mid-request: each request answers 503 within its budget, and works, "
           "once, after it answers again.")


class FrozenDatabase(RestartableSecantus):
    def freeze(self) -> None:
        os.kill(self.child.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.child.process.pid, signal.SIGCONT)


@pytest.fixture
def database(tmp_path):
    server = FrozenDatabase(tmp_path / "secantus")
    yield server
    server.thaw()  # (a frozen process cannot close its storage)
    server.stop()


@pytest.fixture
def system(database, amqp_url, smtp, tmp_path):
    running = RunningSystem(database.url, amqp_url, smtp.port, tmp_path,
                            REQUEST_DATABASE_BUDGET_SECONDS=str(BUDGET)).start()
    yield running
    running.stop()


def candidate(n: int) -> Candidate:
    return Candidate(candidate_id=f"FRZ{n:05d}", secret_number=f"{4242 + n}", password=PASSWORD,
                     email=f"frozen{n}@example.com")


async def timed(request) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


async def test_a_frozen_database_answers_503_within_the_budget_and_after_it_everything_works_once(
        database, system, amqp_url, smtp):
    reader, other, newcomer = candidate(1), candidate(2), candidate(3)
    services = system.services
    for registered in (reader, other):
        await register(amqp_url, services, registered)
    await publish_entries(amqp_url, newcomer)
    await wait_for_entries(services["registration"], [newcomer.candidate_id])
    # One results part for both; the reader reads it now, `other` only during the freeze, so that
    # no cache of the results service holds anything of theirs.
    records = [ResultRecord(candidate_id=c.candidate_id, given_name=c.given_name, family_name=c.family_name,
                            status="issued", **B2_SCORES) for c in (reader, other)]
    part = ResultsPublished(board="Test Board", batch_id="results-frozen", part=1, parts=1, exam="B2_FIRST",
                            session="2026-06", release_at=None, results=records)
    await publish(amqp_url, (envelope_for(part), part.ROUTING_KEY))
    reader_token = await access_token(services, reader)
    await wait_until(lambda: _results(system.url, reader_token), what="the reader's result")
    other_token = await access_token(services, other)

    database.freeze()
    try:
        async with httpx.AsyncClient(base_url=system.url, timeout=60) as http:
            answers = await asyncio.gather(
                timed(http.post("/api/registration/candidates", json=newcomer.registration())),
                timed(http.post("/api/auth/login", json={"candidate_id": reader.candidate_id, "password": PASSWORD})),
                timed(http.get("/api/results/me", headers={"Authorization": f"Bearer {other_token}"})))
    finally:
        database.thaw()

    kinds = ("registration", "log-in", "results read")
    record("Database freeze", PROMISE, {}, budget_seconds=BUDGET,
           **{what.replace(" ", "_").replace("-", "_"): {"status": response.status_code, "seconds": round(seconds, 1),
                                                          "retry_after": response.headers.get("Retry-After")}
              for (response, seconds), what in zip(answers, kinds, strict=True)})
    for (response, seconds), what in zip(answers, kinds, strict=True):
        assert response.status_code == 503, f"{what}: {response.status_code} {response.text}"
        assert response.json()["code"] == "service_unavailable" and "try again" in response.json()["detail"]
        assert int(response.headers["Retry-After"]) > 0
        assert seconds < BUDGET + SLACK, f"{what} answered after {seconds:.1f}s, over its {BUDGET}s budget"

    async with httpx.AsyncClient(base_url=system.url, timeout=60) as http:
        registered = await http.post("/api/registration/candidates", json=newcomer.registration())
        assert registered.status_code == 201, registered.text
        login = await http.post("/api/auth/login", json={"candidate_id": reader.candidate_id, "password": PASSWORD})
        assert login.status_code == 200, login.text
    assert [r["exam"] for r in await _results(system.url, other_token)] == ["B2_FIRST"]
    await wait_until(lambda: access_token(services, newcomer), what="auth to know the newcomer")

    # Nothing lost or doubled: one CandidateRegistered a candidate, one confirmation and one
    # results email each, once every email the notifier owes is sent.
    client = AsyncMongoClient(database.url)
    try:
        outbox = client[services.database("registration")].outbox
        assert await outbox.count_documents({"routing_key": CandidateRegistered.ROUTING_KEY}) == 3
        notifications = client[services.database("notifier")][NOTIFICATIONS]
        await wait_until(lambda: _all_sent(notifications, 5), timeout=60, what="the five emails sent")
        assert await client[services.database("registration")][ENTRIES].count_documents({}) == 3
    finally:
        await client.close()
    received = {c.email: len(smtp.messages_to(c.email)) for c in (reader, other, newcomer)}
    assert received == {reader.email: 2, other.email: 2, newcomer.email: 1}


async def _results(base_url: str, token: str) -> list[dict] | None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.get("/api/results/me", headers={"Authorization": f"Bearer {token}"})
    return response.json()["results"] if response.status_code == 200 else None


async def _all_sent(notifications, count: int) -> bool:
    return (await notifications.count_documents({}) == count
            and await notifications.count_documents({"status": "sent"}) == count)
