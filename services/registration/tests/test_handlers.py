"""Registration's handlers against a fake unit of work and a fake repository: what a part of
entries leaves, and what a registration publishes. (Against the real database and broker:
test_consumers.py and test_api.py.)"""

from datetime import UTC, datetime

import pytest
from pymongo.errors import DuplicateKeyError

from crs_shared.clock import ManualClock
from crs_shared.messaging.contracts import CandidateRegistered, EntriesPublished, Entry
from registration import handlers
from registration.domain.errors import AlreadyRegistered
from registration.domain.guess_limit import GuessLimit
from registration.domain.secret_number import secret_digest
from registration.schemas import RegistrationRequest
from tests.support.broker import envelope_for
from tests.support.unit_of_work import FakeUnitsOfWork

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
KEY = "secret-number-key-for-tests"


class FakeRepository:
    def __init__(self, *, insert_fails: bool = False):
        self.entries: dict[str, dict] = {}
        self.parts: dict[str, dict] = {}
        self.candidates: dict[str, dict] = {}
        self.insert_fails = insert_fails

    async def store_entries(self, session, entries: list[dict]) -> None:
        self.entries |= {e["_id"]: e for e in entries}

    async def record_entry_part(self, session, part: EntriesPublished, now: datetime) -> None:
        self.parts[part.key] = {"entries": len(part.entries), "received_at": now}

    async def reserve_check(self, candidate_id, now, limit) -> str:
        return "check-1"

    async def find_entry(self, candidate_id):
        return self.entries.get(candidate_id)

    async def release_check(self, candidate_id, check_id) -> None:
        pass

    async def is_registered(self, candidate_id) -> bool:
        return candidate_id in self.candidates

    async def insert_candidate(self, session, candidate: dict) -> None:
        if self.insert_fails:  # a concurrent registration of the same ID committed first
            raise DuplicateKeyError("E11000 duplicate key error")
        self.candidates[candidate["_id"]] = candidate


class FakePasswords:
    async def hash(self, password: str) -> str:
        return f"hashed:{password}"


def dependencies(repository: FakeRepository) -> handlers.Dependencies:
    return handlers.Dependencies(uow=FakeUnitsOfWork(), repository=repository, passwords=FakePasswords(),
                                 clock=ManualClock(NOW), secret_number_key=KEY, guess_limit=GuessLimit())


def entries_part(*candidate_ids: str) -> EntriesPublished:
    return EntriesPublished(board="Test Board", batch_id="batch-1", part=2, parts=3, entries=[
        Entry(candidate_id=c, secret_number="4821", given_name="Amy", family_name="Chen", exam="B2_FIRST",
              session="2026-06", centre="HK001") for c in candidate_ids])


def registration(candidate_id: str) -> RegistrationRequest:
    return RegistrationRequest(candidate_id=candidate_id, secret_number="4821", email="amy@example.com",
                               password="abcdef12", password_confirm="abcdef12", accept_terms=True)


async def test_a_part_stores_its_entries_with_digests_and_its_record_once_whatever_the_deliveries():
    deps = dependencies(FakeRepository())
    envelope = envelope_for(entries_part("123456", "234567"))
    for _ in range(2):
        await handlers.store_entries(deps, envelope, entries_part("123456", "234567"))
    assert deps.uow.commits == 1
    assert deps.repository.entries["123456"]["secret_digest"] == secret_digest(KEY, "123456", "4821")
    assert deps.repository.parts == {"Test Board:batch-1:2": {"entries": 2, "received_at": NOW}}


async def test_a_registration_stores_the_candidate_and_publishes_the_password_hash_for_auth():
    deps = dependencies(FakeRepository())
    await handlers.store_entries(deps, envelope_for(entries_part("123456")), entries_part("123456"))
    registered = await handlers.register_candidate(deps, registration("123456"))
    assert (registered.candidate_id, registered.registered_at) == ("123456", NOW)
    assert deps.uow.published == [CandidateRegistered(
        candidate_id="123456", email="amy@example.com", given_name="Amy", family_name="Chen", language="en",
        password_hash="hashed:abcdef12", registered_at=NOW)]
    assert deps.repository.candidates["123456"]["terms_accepted_at"] == NOW


async def test_a_registration_that_loses_a_race_for_its_id_is_already_registered_and_publishes_nothing():
    deps = dependencies(FakeRepository(insert_fails=True))
    await handlers.store_entries(deps, envelope_for(entries_part("123456")), entries_part("123456"))
    with pytest.raises(AlreadyRegistered):
        await handlers.register_candidate(deps, registration("123456"))
    assert deps.uow.published == []
