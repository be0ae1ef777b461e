import random
import string

import pytest

from crs_shared.clock import ManualClock
from crs_shared.messaging.contracts import EntriesPublished, Entry
from registration.config import Settings
from registration.main import create_app
from tests.support.apps import fast_settings, serving
from tests.support.broker import envelope_for, publish
from tests.support.direct_services import OPERATOR_TOKEN
from tests.support.waiting import wait_until


PASSWORD = "abcdef12"


def new_candidate_id() -> str:
    return "T" + "".join(random.choices(string.digits, k=8))


def entry(candidate_id: str, secret: str = "4821", **overrides) -> Entry:
    fields = dict(candidate_id=candidate_id, secret_number=secret, given_name="Amy", family_name="Chen",
                  exam="B2_FIRST", session="2026-06", centre="GB001")
    return Entry(**(fields | overrides))


def entries_part(entries: list[Entry], batch_id: str = "batch-1", part: int = 1, parts: int = 1) -> EntriesPublished:
    return EntriesPublished(board="Test Board", batch_id=batch_id, part=part, parts=parts, entries=entries)


def body(candidate_id: str, **overrides) -> dict:
    """A registration request that passes every field rule, for the entry `entry(candidate_id)`."""
    return {"candidate_id": candidate_id, "secret_number": "4821", "email": "amy@example.com", "password": PASSWORD,
            "password_confirm": PASSWORD, "accept_terms": True, "language": "en", "marketing_opt_in": False} | overrides


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(mongo_url, amqp_url) -> Settings:
    return fast_settings(Settings, mongo_url, amqp_url, "registration", argon2_memory_kib=19 * 1024,
                         operator_token=OPERATOR_TOKEN)


@pytest.fixture
async def client(settings, clock):
    app = create_app(settings, clock)
    async with serving(app) as http:
        http.app = app
        yield http


async def publish_entries(amqp_url: str, client, entries: list[Entry]) -> None:
    """Publishes entries as a board would and waits until registration has stored them."""
    await publish(amqp_url, (envelope_for(entries_part(entries, batch_id=f"b-{entries[0].candidate_id}")), "entries.published"))
    repository = client.app.state.dependencies.repository
    await wait_until(lambda: _all_stored(repository, entries), what="entries to be stored")


async def _all_stored(repository, entries) -> bool:
    for e in entries:
        if await repository.find_entry(e.candidate_id) is None:
            return False
    return True
