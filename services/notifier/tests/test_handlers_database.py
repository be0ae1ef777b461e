"""The notifier's handlers against the real database: what rows an event (or two at once, or
one after another) leaves, without the broker or the SMTP server."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from crs_shared.clock import SystemClock
from crs_shared.messaging.contracts import PasswordResetRequested, ReleasedResult, ResultsReleased
from crs_shared.mongo import create_client
from crs_shared.unit_of_work import UnitsOfWork
from notifier.domain.notifications import Kind
from notifier.handlers import Dependencies, on_candidate_registered, on_password_reset_requested, on_results_released
from notifier.repository import FOLLOWS, NotifierRepository
from services.notifier.tests.conftest import registered
from tests.support.broker import envelope_for
from tests.support.metrics import sample

PUBLIC_BASE_URL = "https://results.example.org"


@pytest.fixture
async def deps(mongo_url):
    client = create_client(mongo_url)
    db = client[f"notifier_race_{uuid.uuid4().hex[:8]}"]
    units_of_work = UnitsOfWork(client, producer="notifier", outbox=None, inbox=db["inbox"])
    yield Dependencies(uow=units_of_work, repository=NotifierRepository(db), clock=SystemClock(),
                       after_commit=lambda: None, hand_over=_nothing, handover_leases=lambda now, n: [None] * n,
                       public_base_url=PUBLIC_BASE_URL)
    await client.drop_database(db.name)
    await client.close()


async def _nothing(rows):
    return None


def released(candidate_id: str, *, correction: bool = False, result_id: str | None = None,
             batch_id: str | None = None) -> ResultsReleased:
    return ResultsReleased(
        board="Cambridge", batch_id=batch_id or f"batch-{uuid.uuid4().hex[:8]}", part=1, exam="B2_FIRST",
        session="2026-06", released_at=datetime.now(UTC),
        results=[ReleasedResult(candidate_id=candidate_id, result_id=result_id or uuid.uuid4().hex,
                                status="issued", correction=correction)])


async def _until_done(handler, *args):
    """As the consumer does: a failed delivery comes back (with backoff) until it is handled."""
    for _ in range(10):
        try:
            return await handler(*args)
        except Exception:  # noqa: BLE001
            await asyncio.sleep(0.05)
    raise AssertionError(f"{handler.__name__} kept failing")


async def test_a_registration_and_a_release_at_once_make_one_results_email_after_the_confirmation(deps):
    for _ in range(6):
        candidate = registered()
        part = released(candidate.candidate_id)
        await asyncio.gather(_until_done(on_candidate_registered, deps, envelope_for(candidate), candidate),
                             _until_done(on_results_released, deps, envelope_for(part), part))
        rows = await deps.repository.find({"candidate_id": candidate.candidate_id})
        kinds = sorted(row["kind"] for row in rows)
        assert kinds == [Kind.REGISTRATION_CONFIRMATION, Kind.RESULTS_READY]
        contact = await deps.repository.find_contact(None, candidate.candidate_id)
        assert "waiting" not in contact  # no draft left behind to be sent a second time


async def test_a_second_correction_of_the_same_result_sends_a_second_has_been_updated(deps):
    # The results service keeps a result's id through its corrections (the shown document is
    # replaced in place), so every ResultsReleased of that result names the same result_id.
    candidate = registered()
    await on_candidate_registered(deps, envelope_for(candidate), candidate)
    result_id = uuid.uuid4().hex
    for part in (released(candidate.candidate_id, result_id=result_id, batch_id="first"),
                 released(candidate.candidate_id, result_id=result_id, batch_id="correction-1", correction=True),
                 released(candidate.candidate_id, result_id=result_id, batch_id="correction-2", correction=True)):
        await on_results_released(deps, envelope_for(part), part)
    rows = await deps.repository.find({"candidate_id": candidate.candidate_id})
    assert sorted(row["kind"] for row in rows) == [
        Kind.REGISTRATION_CONFIRMATION, Kind.RESULTS_READY, Kind.RESULTS_UPDATED, Kind.RESULTS_UPDATED]


async def test_a_correction_while_the_late_registrants_now_available_waits_for_the_confirmation_adds_nothing(deps):
    # The "now available" of a late registrant follows the confirmation (held until it is sent or
    # failed: for hours while the SMTP server is down). A correction meanwhile must not send "has
    # been updated" at once, before the confirmation and the "now available" it updates: the
    # candidate has not been told yet, and the corrected result is what they will see.
    candidate = registered()
    result_id = uuid.uuid4().hex
    first = released(candidate.candidate_id, result_id=result_id, batch_id="first")
    await on_results_released(deps, envelope_for(first), first)
    await on_candidate_registered(deps, envelope_for(candidate), candidate)
    [ready] = await deps.repository.find({"candidate_id": candidate.candidate_id, "kind": Kind.RESULTS_READY})
    assert ready["lease_until"] == FOLLOWS

    correction = released(candidate.candidate_id, result_id=result_id, batch_id="correction", correction=True)
    await on_results_released(deps, envelope_for(correction), correction)
    rows = await deps.repository.find({"candidate_id": candidate.candidate_id})
    assert sorted(row["kind"] for row in rows) == [Kind.REGISTRATION_CONFIRMATION, Kind.RESULTS_READY]


async def test_a_result_withheld_before_its_late_registrant_registers_is_never_announced_as_available(deps):
    # Issued and released, then withheld by a correction (a malpractice inquiry, say) before the
    # candidate registers: GET /api/results/me shows no result to them, so no "now available".
    candidate = registered()
    result_id = uuid.uuid4().hex
    issued = released(candidate.candidate_id, result_id=result_id, batch_id="first")
    await on_results_released(deps, envelope_for(issued), issued)
    withheld = released(candidate.candidate_id, result_id=result_id, batch_id="withheld", correction=True)
    withheld.results[0].status = "withheld"
    await on_results_released(deps, envelope_for(withheld), withheld)

    await on_candidate_registered(deps, envelope_for(candidate), candidate)
    rows = await deps.repository.find({"candidate_id": candidate.candidate_id})
    assert [row["kind"] for row in rows] == [Kind.REGISTRATION_CONFIRMATION]


async def test_a_result_withheld_while_its_now_available_waits_for_the_confirmation_is_not_announced(deps):
    candidate = registered()
    result_id = uuid.uuid4().hex
    issued = released(candidate.candidate_id, result_id=result_id, batch_id="first")
    await on_results_released(deps, envelope_for(issued), issued)
    await on_candidate_registered(deps, envelope_for(candidate), candidate)
    withheld = released(candidate.candidate_id, result_id=result_id, batch_id="withheld", correction=True)
    withheld.results[0].status = "withheld"
    await on_results_released(deps, envelope_for(withheld), withheld)
    assert [row["kind"] for row in await deps.repository.find({"candidate_id": candidate.candidate_id})] == \
        [Kind.REGISTRATION_CONFIRMATION]

    reissued = released(candidate.candidate_id, result_id=result_id, batch_id="reissued", correction=True)
    await on_results_released(deps, envelope_for(reissued), reissued)
    rows = await deps.repository.find({"candidate_id": candidate.candidate_id})
    assert sorted(row["kind"] for row in rows) == [Kind.REGISTRATION_CONFIRMATION, Kind.RESULTS_READY]


@pytest.mark.parametrize("reset_url", [
    "https://results.example.org.evil.com/reset-password?token=SECRET",
    "https://evil.com/?https://results.example.org",
    "http://results.example.org/reset-password?token=SECRET",
])
async def test_a_reset_link_outside_public_base_url_gets_no_email_and_is_handled(deps, reset_url):
    candidate = registered()
    await on_candidate_registered(deps, envelope_for(candidate), candidate)
    refused_before = sample("notifications_total", kind="password_reset", outcome="refused")
    later = datetime.now(UTC) + timedelta(hours=1)
    link = PasswordResetRequested(candidate_id=candidate.candidate_id, reset_url=reset_url, expires_at=later)
    await on_password_reset_requested(deps, envelope_for(link), link)  # returns: acked as handled, not retried
    assert [row["kind"] for row in await deps.repository.find({"candidate_id": candidate.candidate_id})] == \
        [Kind.REGISTRATION_CONFIRMATION]
    assert sample("notifications_total", kind="password_reset", outcome="refused") - refused_before == 1

    # Before registration too: no draft kept for later.
    early = registered()
    link = PasswordResetRequested(candidate_id=early.candidate_id, reset_url=reset_url, expires_at=later)
    await on_password_reset_requested(deps, envelope_for(link), link)
    assert await deps.repository.find_contact(None, early.candidate_id) is None

    good = PasswordResetRequested(candidate_id=candidate.candidate_id, expires_at=later,
                                  reset_url=f"{PUBLIC_BASE_URL}/reset-password?token=t")
    await on_password_reset_requested(deps, envelope_for(good), good)
    rows = await deps.repository.find({"candidate_id": candidate.candidate_id, "kind": Kind.PASSWORD_RESET})
    assert [row["context"]["reset_url"] for row in rows] == [good.reset_url]
