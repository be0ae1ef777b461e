"""The results API against real MongoDB and RabbitMQ, with tokens signed by a test key."""

import io
from dataclasses import replace
from datetime import timedelta

import pypdf

from crs_shared.messaging.contracts import AccessRevoked
from crs_shared.read_cache import ReadThroughCache
from crs_shared.tokens import REVOCATION_CACHE_SECONDS, Revocations
from results import handlers
from results.domain.rate_limit import RateLimiter
from results.main import create_app
from services.results.tests.conftest import (
    OPERATOR, SIGNING_KEY, bearer, new_batch_id, new_candidate_id, publish_results, record, results_part,
)
from tests.support.broker import envelope_for, publish
from tests.support.tokens import TestSigningKey
from tests.support.waiting import wait_until


async def my_results(client, candidate_id, clock) -> list[dict]:
    response = await client.get("/api/results/me", headers=bearer(candidate_id, clock))
    assert response.status_code == 200, response.text
    assert response.json()["candidate_id"] == candidate_id
    return response.json()["results"]


async def test_me_lists_the_candidates_released_results_with_every_field(client, amqp_url, clock):
    candidate_id, someone_else = new_candidate_id(), new_candidate_id()
    await publish_results(amqp_url, client, [record(candidate_id, overall=185), record(someone_else)], session="2026-06")
    await publish_results(amqp_url, client, [record(candidate_id, exam="A2_KEY", overall=133)],
                          exam="A2_KEY", session="2025-12")

    response = await client.get("/api/results/me", headers=bearer(candidate_id, clock))
    assert response.headers["Cache-Control"] == "private, no-store"
    first, second = response.json()["results"]
    assert set(first) == {"result_id", "exam", "exam_name", "session", "overall_score", "grade", "cefr_level", "skills",
                          "status", "released_at", "verification_number"}
    assert (first["exam"], first["exam_name"], first["session"], first["status"]) == \
        ("B2_FIRST", "B2 First (FCE)", "2026-06", "issued")
    assert (first["overall_score"], first["grade"], first["cefr_level"]) == (185, "A", "C1")
    assert first["skills"] == {"reading": 184, "writing": 186, "listening": 185, "speaking": 185, "use_of_english": 185}
    assert first["released_at"].endswith("Z") and len(first["verification_number"]) == 14
    assert (second["exam"], second["session"], second["grade"], second["cefr_level"]) == ("A2_KEY", "2025-12", "B", "A2")
    assert set(second["skills"]) == {"reading", "writing", "listening", "speaking"}


async def test_withheld_and_pending_results_show_without_scores(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await publish_results(amqp_url, client, [record(candidate_id, status="withheld")], session="2026-06")
    await publish_results(amqp_url, client, [record(candidate_id, status="pending", overall_score=None, skills={},
                                                    grade=None, cefr_level=None)], session="2026-03")
    results = await my_results(client, candidate_id, clock)
    assert [(r["session"], r["status"], r["overall_score"], r["grade"], r["cefr_level"], r["skills"],
             r["verification_number"]) for r in results] == [
        ("2026-06", "withheld", None, None, None, {}, None),
        ("2026-03", "pending", None, None, None, {}, None),
    ]
    statement = await client.get(f"/api/results/me/{results[0]['result_id']}/statement.pdf", headers=bearer(candidate_id, clock))
    assert statement.status_code == 409 and statement.json()["code"] == "statement_unavailable"


async def test_an_embargoed_result_is_hidden_from_every_endpoint_until_its_release_time(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    release_at = clock.now().replace(microsecond=0) + timedelta(hours=2)
    batch_id = await publish_results(amqp_url, client, [record(candidate_id)], release_at=release_at)
    stored = (await client.app.state.dependencies.repository.find_results({"candidate_id": candidate_id}))[0]

    async def visible() -> tuple:
        me = await my_results(client, candidate_id, clock)
        pdf = await client.get(f"/api/results/me/{stored['_id']}/statement.pdf", headers=bearer(candidate_id, clock))
        verified = await client.get(f"/api/results/verify/{stored['verification_number']}", params={"family_name": "Chen"})
        return len(me), pdf.status_code, verified.status_code

    assert await visible() == (0, 404, 404)
    clock.advance(timedelta(hours=2) - timedelta(seconds=1))
    assert await visible() == (0, 404, 404)
    clock.advance(timedelta(seconds=1))
    assert await visible() == (1, 200, 200)
    report = (await client.get(f"/api/results/batches/{batch_id}", headers=OPERATOR)).json()
    assert report["release_at"] == release_at.isoformat().replace("+00:00", "Z")
    assert (await my_results(client, candidate_id, clock))[0]["released_at"] == report["release_at"]


async def test_the_statement_pdf_shows_the_result_its_verification_number_and_no_certificate_claim(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await publish_results(amqp_url, client, [record(candidate_id, exam="C1_ADVANCED", overall=196,
                                                    given_name="美玲", family_name="陳")], exam="CAE", session="2026-03")
    result = (await my_results(client, candidate_id, clock))[0]

    response = await client.get(f"/api/results/me/{result['result_id']}/statement.pdf", headers=bearer(candidate_id, clock))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    compact = "".join(text.split())
    for expected in ("Statement of Results", "C1 Advanced (CAE)", "2026-03", candidate_id, "This is not a certificate",
                     result["verification_number"], f"/verify?number={result['verification_number']}"):
        assert expected in text, expected
    assert "美玲" in compact and "陳" in compact
    for skill, label in (("reading", "Reading"), ("writing", "Writing"), ("listening", "Listening"),
                         ("speaking", "Speaking"), ("use_of_english", "Use of English")):
        assert f"{label}\n{result['skills'][skill]}" in text
    assert "Overall score\n196" in text and "Grade\nB" in text and "CEFR level\nC1" in text


async def test_a_bad_token_or_another_candidates_result_id_never_shows_a_result(client, amqp_url, clock):
    owner, intruder = new_candidate_id(), new_candidate_id()
    await publish_results(amqp_url, client, [record(owner), record(intruder)])
    result_id = (await my_results(client, owner, clock))[0]["result_id"]
    statement = f"/api/results/me/{result_id}/statement.pdf"

    stolen = await client.get(statement, headers=bearer(intruder, clock))
    unknown = await client.get("/api/results/me/no-such-result/statement.pdf", headers=bearer(intruder, clock))
    assert stolen.status_code == unknown.status_code == 404 and stolen.json() == unknown.json()
    injected = await client.get('/api/results/me/{"$ne": ""}/statement.pdf', headers=bearer(intruder, clock))
    assert injected.status_code == 404 and injected.json() == unknown.json()

    forged = TestSigningKey(kid=SIGNING_KEY.kid).token(owner, clock.now())
    bad_tokens = {
        "none": {},
        "not a bearer": {"Authorization": f"Basic {SIGNING_KEY.token(owner, clock.now())}"},
        "garbage": {"Authorization": "Bearer not.a.jwt"},
        "forged": {"Authorization": f"Bearer {forged}"},
        "unknown key": bearer(owner, clock, kid="someone-elses-key"),
        "expired": bearer(owner, clock, lifetime=timedelta(seconds=-1)),
        "wrong audience": bearer(owner, clock, audience="another-service"),
        "wrong issuer": bearer(owner, clock, issuer="not-auth"),
    }
    for why, headers in bad_tokens.items():
        for path in ("/api/results/me", statement):
            response = await client.get(path, headers=headers)
            assert response.status_code == 401, (why, path)
            assert response.json() == {"detail": "Please log in again.", "code": "invalid_token"}, why
            assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_a_revoked_token_stops_working(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    token_id = "token-to-revoke"
    headers = bearer(candidate_id, clock, token_id=token_id)
    assert (await client.get("/api/results/me", headers=headers)).status_code == 200
    revoked = AccessRevoked(candidate_id=candidate_id, token_id=token_id, not_before=clock.now(),
                            expires_at=clock.now() + timedelta(hours=1))
    await publish(amqp_url, (envelope_for(revoked, producer="auth"), revoked.ROUTING_KEY))

    async def refused() -> bool:
        return (await client.get("/api/results/me", headers=headers)).status_code == 401

    await wait_until(refused, what="the revoked token to be refused")
    assert (await client.get("/api/results/me", headers=bearer(candidate_id, clock))).status_code == 200


async def test_a_revocation_this_process_records_is_refused_at_once_and_another_replicas_within_the_ttl(client, clock):
    deps = client.app.state.dependencies
    candidate_id = new_candidate_id()
    logged_out = bearer(candidate_id, clock, token_id="logged-out")
    reset_away = bearer(candidate_id, clock, token_id="reset-away")
    for headers in (logged_out, reset_away):
        assert (await client.get("/api/results/me", headers=headers)).status_code == 200

    def revocation(**fields) -> AccessRevoked:
        return AccessRevoked(candidate_id=candidate_id, not_before=clock.now(),
                             expires_at=clock.now() + timedelta(hours=1), **fields)

    await deps.revocations.record(revocation(token_id="logged-out"))  # what this process's consumer does
    assert (await client.get("/api/results/me", headers=logged_out)).status_code == 401

    # Another replica took the next AccessRevoked off the shared queue: same database, its own cache.
    # A password reset a moment later (within the TTL), so after both tokens were issued.
    clock.advance(timedelta(seconds=REVOCATION_CACHE_SECONDS / 2))
    await Revocations(deps.repository.revocations, clock).record(revocation(token_id=None))
    assert (await client.get("/api/results/me", headers=reset_away)).status_code == 200  # up to a TTL late
    clock.advance(timedelta(seconds=REVOCATION_CACHE_SECONDS))
    assert (await client.get("/api/results/me", headers=reset_away)).status_code == 401


async def test_a_result_stored_here_shows_at_once_and_one_stored_by_another_replica_within_the_ttl(
        client, amqp_url, clock, settings):
    deps = client.app.state.dependencies
    candidate_id = new_candidate_id()
    assert await my_results(client, candidate_id, clock) == []

    other_replica = replace(deps, candidate_results=ReadThroughCache(
        deps.repository.candidates_results, ttl_seconds=settings.results_cache_seconds, max_entries=10, clock=clock))
    part = results_part([record(candidate_id, exam="A2_KEY", overall=133)], batch_id=new_batch_id(), exam="A2_KEY",
                        session="2025-12")
    await handlers.store_results(other_replica, envelope_for(part), part)
    assert await my_results(client, candidate_id, clock) == []  # up to a TTL late
    clock.advance(timedelta(seconds=settings.results_cache_seconds))
    assert [r["exam"] for r in await my_results(client, candidate_id, clock)] == ["A2_KEY"]

    await publish_results(amqp_url, client, [record(candidate_id)], session="2026-06")  # stored by this process
    assert [r["exam"] for r in await my_results(client, candidate_id, clock)] == ["B2_FIRST", "A2_KEY"]


async def test_a_release_time_holds_to_the_request_even_from_a_cached_list(client, amqp_url, clock, settings):
    candidate_id = new_candidate_id()
    now = clock.now()
    release_at = now.replace(microsecond=now.microsecond // 1000 * 1000) + timedelta(milliseconds=200)
    await publish_results(amqp_url, client, [record(candidate_id)], release_at=release_at)
    assert await my_results(client, candidate_id, clock) == []  # the list, embargoed result included, is now cached
    clock.advance(release_at - clock.now() - timedelta(milliseconds=1))
    assert await my_results(client, candidate_id, clock) == []
    clock.advance(timedelta(milliseconds=1))
    assert release_at - now < timedelta(seconds=settings.results_cache_seconds)  # still within the cache's TTL
    assert len(await my_results(client, candidate_id, clock)) == 1


async def test_verification_needs_the_number_and_the_family_name(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await publish_results(amqp_url, client, [record(candidate_id, overall=176, given_name="Amy", family_name="van der Berg")],
                          exam="FCE", session="2026-06")
    number = (await my_results(client, candidate_id, clock))[0]["verification_number"]

    response = await client.get(f"/api/results/verify/{number}", params={"family_name": "  VAN DER berg "})
    assert response.status_code == 200
    assert response.json() == {"verification_number": number, "name": "Amy van der Berg", "given_name": "Amy",
                               "family_name": "van der Berg", "exam": "B2_FIRST", "exam_name": "B2 First (FCE)",
                               "session": "2026-06", "overall_score": 176, "grade": "B", "cefr_level": "B2"}
    typed = await client.get(f"/api/results/verify/{number.replace('-', '').lower()}", params={"family_name": "van der berg"})
    assert typed.status_code == 200 and typed.json()["verification_number"] == number

    failures = [
        (number, "Chen"),
        (number, ""),
        (number, '{"$ne": ""}'),
        ("2222-3333-4444", "van der Berg"),
        ("not-a-number", "van der Berg"),
        ('{"$ne": ""}', "van der Berg"),
        ('{"$ne": ""}', '{"$ne": ""}'),
    ]
    bodies = []
    for given_number, family_name in failures:
        response = await client.get(f"/api/results/verify/{given_number}", params={"family_name": family_name})
        assert response.status_code == 404, (given_number, family_name)
        bodies.append(response.json())
    assert all(body == bodies[0] for body in bodies) and bodies[0]["code"] == "not_found"
    assert "van der Berg" not in str(bodies) and "Amy" not in str(bodies)
    operator_style = await client.get(f"/api/results/verify/{number}?family_name[$ne]=x")
    assert operator_style.status_code == 422  # family_name itself is missing


async def test_a_number_a_correction_replaced_answers_410_superseded_without_the_new_figures(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await publish_results(amqp_url, client, [record(candidate_id, overall=172)])  # C, B2
    [replaced] = await my_results(client, candidate_id, clock)
    await publish_results(amqp_url, client, [record(candidate_id, overall=185)])  # A, C1
    [current] = await my_results(client, candidate_id, clock)

    superseded = await client.get(f"/api/results/verify/{replaced['verification_number']}",
                                  params={"family_name": "chen"})
    assert superseded.status_code == 410
    assert superseded.json() == {
        "code": "superseded",
        "detail": "This result has been replaced by a corrected result. "
                  "Ask the candidate for their latest Statement of Results.",
    }
    verified = await client.get(f"/api/results/verify/{current['verification_number']}", params={"family_name": "Chen"})
    assert verified.status_code == 200
    assert (verified.json()["overall_score"], verified.json()["grade"]) == (185, "A")

    # Only with the right family name; an unknown number stays 404.
    wrong_name = await client.get(f"/api/results/verify/{replaced['verification_number']}",
                                  params={"family_name": "Wong"})
    unknown = await client.get("/api/results/verify/2222-3333-4444", params={"family_name": "Chen"})
    assert (wrong_name.status_code, unknown.status_code) == (404, 404)
    assert wrong_name.json() == unknown.json() and unknown.json()["code"] == "not_found"


async def test_verification_is_rate_limited_per_client(client, amqp_url, clock):
    client.app.state.verify_limiter = RateLimiter(clock, per_minute=6, burst=3)  # one every 10 seconds
    for _ in range(3):
        assert (await client.get("/api/results/verify/2222-3333-4444", params={"family_name": "x"})).status_code == 404
    limited = await client.get("/api/results/verify/2222-3333-4444", params={"family_name": "x"})
    assert limited.status_code == 429 and limited.json()["code"] == "too_many_requests"
    assert limited.headers["Retry-After"] == "10"
    clock.advance(timedelta(seconds=10))
    assert (await client.get("/api/results/verify/2222-3333-4444", params={"family_name": "x"})).status_code == 404
    assert (await client.get("/api/results/verify/2222-3333-4444", params={"family_name": "x"})).status_code == 429


def test_the_verification_limiter_keeps_as_many_clients_as_the_settings_say(settings, clock):
    limiter = create_app(settings.model_copy(update={"verify_max_clients": 2}), clock).state.verify_limiter
    for client in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        limiter.retry_after(client)
    assert len(limiter) == 2


async def test_an_empty_operator_token_in_the_settings_lets_no_one_read_a_batch_report(client):
    client.app.state.operator_token = ""
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer"}):
        response = await client.get(f"/api/results/batches/{new_batch_id()}", headers=headers)
        assert response.status_code == 401 and response.json()["code"] == "invalid_operator_token"


async def test_the_batch_report_needs_the_operator_token(client, amqp_url, clock):
    batch_id = await publish_results(amqp_url, client, [record(new_candidate_id())])
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": 'Bearer {"$ne": ""}'},
                    bearer("ABC123", clock)):
        response = await client.get(f"/api/results/batches/{batch_id}", headers=headers)
        assert response.status_code == 401 and response.json()["code"] == "invalid_operator_token"
    report = await client.get(f"/api/results/batches/{batch_id}", headers=OPERATOR)
    assert report.status_code == 200
    assert {k: report.json()[k] for k in ("batch_id", "board", "exam", "session", "parts_expected", "parts_received",
                                          "complete", "results_stored", "results_rejected")} == {
        "batch_id": batch_id, "board": "Test Board", "exam": "B2_FIRST", "session": "2026-06", "parts_expected": 1,
        "parts_received": 1, "complete": True, "results_stored": 1, "results_rejected": 0}
    for unknown in (new_batch_id(), '{"$ne": ""}'):
        missing = await client.get(f"/api/results/batches/{unknown}", headers=OPERATOR)
        assert missing.status_code == 404 and missing.json()["code"] == "batch_not_found"


async def test_health_readiness_and_metrics(client):
    assert (await client.get("/healthz")).json() == {"status": "ok", "service": "results"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"mongodb": True, "rabbitmq": True}
    assert "http_request_duration_seconds" in (await client.get("/metrics")).text
    assert (await client.get("/healthz", headers={"X-Request-ID": "req-9"})).headers["X-Request-ID"] == "req-9"
