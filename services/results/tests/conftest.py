import random
import string
import uuid
from datetime import datetime

import pytest
from prometheus_client import REGISTRY

from crs_shared.clock import ManualClock
from crs_shared.domain.exams import EXAMS, grade_and_cefr
from crs_shared.messaging.contracts import ResultRecord, ResultsPublished
from crs_shared.tokens import JwksKeys
from results.config import Settings
from results.main import create_app
from tests.support.apps import fast_settings, serving
from tests.support.broker import envelope_for, publish
from tests.support.tokens import TestSigningKey
from tests.support.waiting import wait_until

SIGNING_KEY = TestSigningKey()
OPERATOR_TOKEN = "operator-token-for-tests"


def new_candidate_id() -> str:
    return "R" + "".join(random.choices(string.digits, k=8))


def new_batch_id() -> str:
    return f"batch-{uuid.uuid4().hex[:12]}"


def record(candidate_id: str, exam: str = "B2_FIRST", overall: int | None = None, **overrides) -> ResultRecord:
    """A record that agrees with the exams table: skills around `overall` (the top of grade B by default)."""
    spec = EXAMS[exam]
    overall = overall if overall is not None else spec.bands[1].high
    skills = {name: overall for name in spec.skills}
    if spec.low < overall < spec.high:  # scores that differ, with the same average
        skills[spec.skills[0]], skills[spec.skills[1]] = overall - 1, overall + 1
    grade, cefr_level = grade_and_cefr(spec, overall)
    fields = dict(candidate_id=candidate_id, given_name="Amy", family_name="Chen", overall_score=overall, grade=grade,
                  cefr_level=cefr_level, skills=skills, status="issued")
    return ResultRecord(**(fields | overrides))


def results_part(records: list[ResultRecord], *, batch_id: str, part: int = 1, parts: int = 1, exam: str = "B2_FIRST",
                 session: str = "2026-06", release_at: datetime | None = None, board: str = "Test Board") -> ResultsPublished:
    return ResultsPublished(board=board, batch_id=batch_id, part=part, parts=parts, exam=exam, session=session,
                            release_at=release_at, results=records)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(mongo_url, amqp_url) -> Settings:
    return fast_settings(Settings, mongo_url, amqp_url, "results", operator_token=OPERATOR_TOKEN)


@pytest.fixture
async def client(settings, clock):
    app = create_app(settings, clock, keys=JwksKeys(jwks=SIGNING_KEY.jwks))
    async with serving(app) as http:
        http.app = app
        yield http


def bearer(candidate_id: str, clock: ManualClock, **token_options) -> dict[str, str]:
    return {"Authorization": f"Bearer {SIGNING_KEY.token(candidate_id, clock.now(), **token_options)}"}


OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


async def publish_parts(amqp_url: str, client, *parts: ResultsPublished) -> None:
    """Publishes parts as a board would and waits until the results service has recorded each."""
    await publish(amqp_url, *((envelope_for(p), p.ROUTING_KEY) for p in parts))
    await wait_for_parts(client, {(p.batch_id, p.part) for p in parts})


async def wait_for_parts(client, expected: set[tuple[str, int]], timeout: float = 20.0) -> None:
    repository = client.app.state.dependencies.repository

    async def recorded() -> bool:
        for batch_id in {batch for batch, _ in expected}:
            have = {p["part"] for p in await repository.batch_parts(batch_id)}
            if not {part for batch, part in expected if batch == batch_id} <= have:
                return False
        return True

    await wait_until(recorded, timeout=timeout, what=f"parts {sorted(expected)} to be stored")


async def publish_results(amqp_url: str, client, records: list[ResultRecord], **part_options) -> str:
    """One single-part batch; returns its batch id."""
    batch_id = part_options.pop("batch_id", None) or new_batch_id()
    await publish_parts(amqp_url, client, results_part(records, batch_id=batch_id, **part_options))
    return batch_id


def repeats_handled() -> float:
    """ResultsPublished deliveries this process has handled as repeats (the same event, or the same part
    under a new event id)."""
    return REGISTRY.get_sample_value("events_duplicate_total",
                                     {"service": "results", "event_type": "ResultsPublished"}) or 0.0
