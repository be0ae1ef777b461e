"""The four services as real processes reached directly, without the gateway and its rate limits
(for fuzzing and attacks on the services themselves), and a candidate taken through them as an
exam board and a person would: entries published, registered, logged in, a result published."""

from dataclasses import dataclass
from pathlib import Path

import httpx

from crs_shared.messaging.contracts import EntriesPublished, Entry, ResultRecord, ResultsPublished
from tests.support.broker import envelope_for, publish
from tests.support.stack import ServiceSet, wait_for_entries
from tests.support.waiting import wait_until

OPERATOR_TOKEN = "operator-token-for-tests"
# A B2 First result whose skills agree with its overall score, grade and CEFR level (contract section 5).
B2_SCORES = dict(overall_score=176, grade="B", cefr_level="B2",
                 skills={"reading": 175, "writing": 170, "listening": 180, "speaking": 178, "use_of_english": 177})


class DirectServices(ServiceSet):
    def __init__(self, mongo_url: str, amqp_url: str, smtp_port: int, folder: Path):
        super().__init__(mongo_url, amqp_url, smtp_port, folder, OPERATOR_TOKEN=OPERATOR_TOKEN)


@dataclass(frozen=True)
class Candidate:
    candidate_id: str
    secret_number: str
    password: str
    email: str
    given_name: str = "Amy"
    family_name: str = "Chen"

    def entry(self) -> Entry:
        return Entry(candidate_id=self.candidate_id, secret_number=self.secret_number, given_name=self.given_name,
                     family_name=self.family_name, exam="B2_FIRST", session="2026-06", centre="GB001")

    def registration(self) -> dict:
        return {"candidate_id": self.candidate_id, "secret_number": self.secret_number, "email": self.email,
                "password": self.password, "password_confirm": self.password, "accept_terms": True}


async def publish_entries(amqp_url: str, *candidates: Candidate) -> None:
    part = EntriesPublished(board="Test Board", batch_id=f"entries-{candidates[0].candidate_id}", part=1, parts=1,
                            entries=[c.entry() for c in candidates])
    await publish(amqp_url, (envelope_for(part), part.ROUTING_KEY))


async def register(amqp_url: str, services: DirectServices, candidate: Candidate) -> None:
    """Publishes the candidate's entry, registers once registration has it, and waits until auth
    lets the candidate log in."""
    await publish_entries(amqp_url, candidate)
    await wait_for_entries(services["registration"], [candidate.candidate_id])
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{services.url('registration')}/api/registration/candidates",
                                   json=candidate.registration())
        assert response.status_code == 201, response.text
        await wait_until(lambda: access_token(services, candidate), what=f"auth to know {candidate.candidate_id}")


async def access_token(services: DirectServices, candidate: Candidate) -> str | None:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{services.url('auth')}/api/auth/login",
                                   json={"candidate_id": candidate.candidate_id, "password": candidate.password})
    return response.json()["access_token"] if response.status_code == 200 else None


async def publish_result(amqp_url: str, services: DirectServices, candidate: Candidate, token: str) -> dict:
    """Publishes an issued B2 First result for the candidate and waits until the candidate sees it."""
    record = ResultRecord(candidate_id=candidate.candidate_id, given_name=candidate.given_name,
                          family_name=candidate.family_name, status="issued", **B2_SCORES)
    part = ResultsPublished(board="Test Board", batch_id=f"results-{candidate.candidate_id}", part=1, parts=1,
                            exam="B2_FIRST", session="2026-06", release_at=None, results=[record])
    await publish(amqp_url, (envelope_for(part), part.ROUTING_KEY))

    async def shown():
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(f"{services.url('results')}/api/results/me",
                                      headers={"Authorization": f"Bearer {token}"})
        return response.status_code == 200 and response.json()["results"]
    [result] = await wait_until(shown, what=f"the result of {candidate.candidate_id}")
    return result
