"""Consuming ResultsPublished against real RabbitMQ and SecantusDB: bulk, idempotent, corrections."""

from crs_shared.messaging.contracts import ResultRecord
from services.results.tests.conftest import (
    OPERATOR, bearer, new_batch_id, new_candidate_id, publish_parts, publish_results, record, repeats_handled,
    results_part,
)
from tests.support.broker import envelope_for, publish
from tests.support.waiting import wait_until

PARTS, PER_PART = 5, 1000


def inconsistent(candidate_id: str, kind: int) -> tuple[ResultRecord, str]:
    """A B2 First record that breaks one rule, and a word its rejection reason must contain."""
    good = record(candidate_id, overall=185)  # grade A, C1
    return [
        (good.model_copy(update={"overall_score": 184}), "overall_score 184"),
        (good.model_copy(update={"grade": "B"}), "grade B"),
        (good.model_copy(update={"cefr_level": "B2"}), "cefr_level B2"),
        (good.model_copy(update={"skills": {k: v for k, v in good.skills.items() if k != "use_of_english"}}),
         "use_of_english score is missing"),
        (good.model_copy(update={"skills": good.skills | {"reading": 191}}), "reading score 191"),
    ][kind % 5]


async def test_a_5000_record_batch_out_of_order_with_a_repeated_part_is_stored_exactly_once(client, amqp_url):
    batch_id = new_batch_id()
    parts, bad = [], {}
    for number in range(1, PARTS + 1):
        records = []
        for index in range(PER_PART):
            candidate_id = f"B{number}{index:04d}{new_candidate_id()[-3:]}"
            if index % 100 == 7:  # ten inconsistent records in each part
                broken, reason = inconsistent(candidate_id, index // 100)
                records.append(broken)
                bad[candidate_id] = reason
            else:
                records.append(record(candidate_id, overall=160 + index % 31))
        parts.append(results_part(records, batch_id=batch_id, part=number, parts=PARTS))
    envelopes = {p.part: envelope_for(p) for p in parts}

    # Out of order; part 2 delivered twice as the same event, part 4 sent again by the board as a new event.
    repeats_before = repeats_handled()
    await publish(amqp_url, *[(envelopes[n], "results.published") for n in (3, 1, 5, 2, 4)],
                  (envelopes[2], "results.published"), (envelope_for(parts[3]), "results.published"))

    report = await wait_until(lambda: _complete_report(client, batch_id), timeout=60, what="the batch report to be complete")
    repository = client.app.state.dependencies.repository
    await wait_until(lambda: _async(repeats_handled() - repeats_before >= 2), what="both repeats to be handled")

    stored = await repository.find_results({"batch_id": batch_id})
    valid = {r.candidate_id for p in parts for r in p.results} - set(bad)
    assert len(stored) == len(valid) == PARTS * PER_PART - len(bad)
    assert {doc["candidate_id"] for doc in stored} == valid
    assert len({doc["verification_number"] for doc in stored}) == len(stored)

    assert report["parts_expected"] == report["parts_received"] == PARTS and report["parts_missing"] == []
    assert report["records_received"] == PARTS * PER_PART
    assert report["results_stored"] == len(valid) and report["results_corrected"] == 0
    assert report["results_rejected"] == len(bad) == 50
    rejected = {r["candidate_id"]: r for r in report["rejections"]}
    assert set(rejected) == set(bad)
    for candidate_id, reason in bad.items():
        assert any(reason in text for text in rejected[candidate_id]["reasons"]), rejected[candidate_id]
        assert rejected[candidate_id]["part"] == int(candidate_id[1])


async def _complete_report(client, batch_id: str):
    response = await client.get(f"/api/results/batches/{batch_id}", headers=OPERATOR)
    return response.json() if response.status_code == 200 and response.json()["complete"] else None


async def _async(value):
    return value


async def test_a_correction_replaces_the_shown_result_and_keeps_the_old_one_in_history(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await publish_results(amqp_url, client, [record(candidate_id, overall=172)])  # C, B2
    first = (await client.get("/api/results/me", headers=bearer(candidate_id, clock))).json()["results"]
    assert [(r["overall_score"], r["grade"]) for r in first] == [(172, "C")]

    correction_batch = await publish_results(amqp_url, client, [record(candidate_id, overall=181)])
    second = (await client.get("/api/results/me", headers=bearer(candidate_id, clock))).json()["results"]
    assert [(r["overall_score"], r["grade"], r["cefr_level"]) for r in second] == [(181, "A", "C1")]
    assert second[0]["result_id"] == first[0]["result_id"]
    assert second[0]["verification_number"] != first[0]["verification_number"]

    history = await client.app.state.dependencies.repository.history(first[0]["result_id"])
    assert [(h["overall_score"], h["grade"], h["verification_number"]) for h in history] == \
        [(172, "C", first[0]["verification_number"])]
    assert history[0]["replaced_by"]["batch_id"] == correction_batch

    # The old statement's number no longer verifies (it says it was replaced); the new one does.
    old = await client.get(f"/api/results/verify/{first[0]['verification_number']}", params={"family_name": "Chen"})
    new = await client.get(f"/api/results/verify/{second[0]['verification_number']}", params={"family_name": "Chen"})
    assert (old.status_code, new.status_code) == (410, 200) and new.json()["overall_score"] == 181

    report = (await client.get(f"/api/results/batches/{correction_batch}", headers=OPERATOR)).json()
    assert (report["results_stored"], report["results_corrected"]) == (1, 1)


async def test_the_same_part_sent_again_changes_nothing(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    part = results_part([record(candidate_id)], batch_id=new_batch_id())
    await publish_parts(amqp_url, client, part)
    before = (await client.get("/api/results/me", headers=bearer(candidate_id, clock))).json()

    repeats_before = repeats_handled()
    await publish(amqp_url, (envelope_for(part), part.ROUTING_KEY))
    await wait_until(lambda: _async(repeats_handled() > repeats_before), what="the repeated part to be handled")
    after = (await client.get("/api/results/me", headers=bearer(candidate_id, clock))).json()
    assert after == before
    assert await client.app.state.dependencies.repository.history(before["results"][0]["result_id"]) == []


async def test_a_candidate_twice_in_a_batch_is_rejected_not_corrected(client, amqp_url, clock):
    twice, other = new_candidate_id(), new_candidate_id()
    batch_id = new_batch_id()
    await publish_parts(amqp_url, client,
                        results_part([record(twice), record(twice, overall=190)], batch_id=batch_id, part=1, parts=2))
    await publish_parts(amqp_url, client,
                        results_part([record(twice, overall=180), record(other)], batch_id=batch_id, part=2, parts=2))

    shown = (await client.get("/api/results/me", headers=bearer(twice, clock))).json()["results"]
    assert [r["overall_score"] for r in shown] == [179]
    report = (await client.get(f"/api/results/batches/{batch_id}", headers=OPERATOR)).json()
    assert report["results_stored"] == 2 and report["complete"]
    assert [(r["candidate_id"], r["part"], r["reasons"]) for r in report["rejections"]] == [
        (twice, 1, ["appears more than once in this part"]),
        (twice, 2, ["already has a result for B2 First (FCE) 2026-06 in part 1 of this batch"]),
    ]


async def test_an_unknown_exam_rejects_every_record_of_the_part(client, amqp_url):
    ids = [new_candidate_id(), new_candidate_id()]
    batch_id = await publish_results(amqp_url, client, [record(i) for i in ids], exam="IELTS")
    report = (await client.get(f"/api/results/batches/{batch_id}", headers=OPERATOR)).json()
    assert report["results_stored"] == 0 and [r["candidate_id"] for r in report["rejections"]] == ids
    assert report["rejections"][0]["reasons"][0].startswith("exam 'IELTS' is not known")


async def test_aliases_are_stored_as_exam_codes(client, amqp_url, clock):
    candidate_id = new_candidate_id()
    await publish_results(amqp_url, client, [record(candidate_id, exam="A2_KEY", overall=141)], exam="ket")
    results = (await client.get("/api/results/me", headers=bearer(candidate_id, clock))).json()["results"]
    assert [(r["exam"], r["exam_name"], r["grade"], r["cefr_level"]) for r in results] == [("A2_KEY", "A2 Key (KET)", "A", "B1")]
    assert set(results[0]["skills"]) == {"reading", "writing", "listening", "speaking"}


async def test_a_malformed_record_is_rejected_alone_and_the_rest_of_its_part_is_stored(client, amqp_url, clock):
    good, typo = new_candidate_id(), new_candidate_id()
    malformed = record(typo).model_dump() | {"overall_score": "one hundred"}
    batch_id = await publish_results(amqp_url, client, [record(good), malformed, "not a record"])

    report = (await client.get(f"/api/results/batches/{batch_id}", headers=OPERATOR)).json()
    assert report["results_stored"] == 1 and report["results_rejected"] == 2
    assert [(r["candidate_id"], r["reasons"]) for r in report["rejections"]] == [
        (typo, ["overall_score: input should be a valid integer, unable to parse string as an integer"]),
        ("", ["the record is not an object of named fields"]),
    ]
    shown = (await client.get("/api/results/me", headers=bearer(good, clock))).json()["results"]
    assert [r["overall_score"] for r in shown] == [record(good).overall_score]
