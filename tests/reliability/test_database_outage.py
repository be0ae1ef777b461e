"""Database outage: the MongoDB-compatible server stops (by PID) in the middle of a result batch and
comes back on the same port with the same storage. Meanwhile /readyz answers 503, requests answer
503 with a clear message, and consumers hold their messages instead of acking or dead-lettering
them; afterwards everything resumes and nothing is lost."""

import time

import httpx
import pytest

from tests.reliability.report import record
from tests.reliability.traffic import PASSWORD
from tests.support.faults import RestartableSecantus
from tests.support.waiting import wait_until

PROMISE = "The database stops mid-batch: 503s that say so, consumers wait, and all work resumes after it returns."


@pytest.fixture
def database(tmp_path):
    server = RestartableSecantus(tmp_path / "secantus")
    yield server
    server.stop()


async def test_a_database_outage_answers_503_holds_messages_and_loses_nothing(database, amqp_url, smtp, make_system):
    system = make_system(database.url, amqp_url, smtp)
    await system.register_early()
    publishing = await system.publish_results_with_fault(database.stop)
    readiness = await wait_until(system.not_ready, timeout=60, what="/readyz to answer 503")
    newcomer = system.workload.late[0]
    async with httpx.AsyncClient(timeout=60) as http:
        started = time.monotonic()
        refused = await http.post(f"{system.stack['registration'].url}/api/registration/candidates", json={
            "candidate_id": newcomer.candidate_id, "secret_number": newcomer.entry.secret_number,
            "email": newcomer.email, "password": PASSWORD, "password_confirm": PASSWORD, "accept_terms": True})
        registration_seconds = round(time.monotonic() - started, 1)
        started = time.monotonic()
        login = await http.post(f"{system.stack['auth'].url}/api/auth/login",
                                json={"candidate_id": system.workload.early[0].candidate_id, "password": PASSWORD})
        login_seconds = round(time.monotonic() - started, 1)
    await publishing  # the broker is up: the board's parts are confirmed and wait in the queues
    database.start()

    await system.steady_traffic()
    outcome = await system.ledger.settled()
    returned = {name: process.log().count("handler failed; message returns to its queue")
                for name, process in system.stack.services.items()}
    record("Database outage", PROMISE, outcome.counts(), parts_published=system.workload.batch.parts,
           parts_confirmed_before_outage=1, readyz_during_outage=readiness,
           registration_during_outage={"status": refused.status_code, "body": refused.json(), "seconds": registration_seconds},
           login_during_outage={"status": login.status_code, "body": login.json(), "seconds": login_seconds},
           messages_returned_to_queue=returned, http=system.candidates.log.statuses)

    for response in (refused, login):
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "service_unavailable" and "try again" in response.json()["detail"]
        assert response.headers["Retry-After"]
    assert outcome.exact, outcome.counts()
    assert outcome.dead_lettered == {}
    assert set(returned.values()) == {0}, f"consumers returned messages instead of holding them: {returned}"

