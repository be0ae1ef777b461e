"""The exams table of contract section 5, at every boundary score, on both sides of each boundary."""

import pytest

from crs_shared.domain.exams import EXAMS, ValidResult, check_part, find_exam, overall_score, validate_result
from crs_shared.messaging.contracts import ResultRecord

# The contract's table restated, so the module is checked against it rather than against itself:
# code, alias, name, five skills?, reported range, then (low, high, grade, cefr) from the top band down.
TABLE = [
    ("A2_KEY", "KET", "A2 Key (KET)", False, (100, 150),
     [(140, 150, "A", "B1"), (133, 139, "B", "A2"), (120, 132, "C", "A2"), (100, 119, None, "A1")]),
    ("B1_PRELIMINARY", "PET", "B1 Preliminary (PET)", False, (102, 170),
     [(160, 170, "A", "B2"), (153, 159, "B", "B1"), (140, 152, "C", "B1"), (120, 139, None, "A2"), (102, 119, None, None)]),
    ("B2_FIRST", "FCE", "B2 First (FCE)", True, (122, 190),
     [(180, 190, "A", "C1"), (173, 179, "B", "B2"), (160, 172, "C", "B2"), (140, 159, None, "B1"), (122, 139, None, None)]),
    ("C1_ADVANCED", "CAE", "C1 Advanced (CAE)", True, (142, 210),
     [(200, 210, "A", "C2"), (193, 199, "B", "C1"), (180, 192, "C", "C1"), (160, 179, None, "B2"), (142, 159, None, None)]),
    ("C2_PROFICIENCY", "CPE", "C2 Proficiency (CPE)", True, (162, 230),
     [(220, 230, "A", "C2"), (213, 219, "B", "C2"), (200, 212, "C", "C2"), (180, 199, None, "C1"), (162, 179, None, None)]),
]
FOUR = ["reading", "writing", "listening", "speaking"]


def expected_band(code: str, score: int):
    for low, high, grade, cefr in next(row for row in TABLE if row[0] == code)[5]:
        if low <= score <= high:
            return grade, cefr
    return None


def boundary_cases() -> list:
    """Every band's lowest and highest score and the score either side of each, per exam."""
    cases = []
    for code, _alias, _name, _five, (low, high), bands in TABLE:
        scores = {low - 1, high + 1}
        for band_low, band_high, _grade, _cefr in bands:
            scores |= {band_low - 1, band_low, band_low + 1, band_high - 1, band_high, band_high + 1}
        for score in sorted(scores):
            cases.append(pytest.param(code, score, id=f"{code}-{score}"))
    return cases


def skills_for(code: str, score: int, *, use_of_english: bool | None = None) -> dict[str, int]:
    five = next(row for row in TABLE if row[0] == code)[3]
    names = FOUR + ["use_of_english"] if (five if use_of_english is None else use_of_english) else FOUR
    return {name: score for name in names}


def record(code: str, score: int, **overrides) -> ResultRecord:
    grade, cefr = expected_band(code, score) or ("A", "B1")
    fields = dict(candidate_id="123456", given_name="Amy", family_name="Chen", overall_score=score,
                  grade=grade, cefr_level=cefr, skills=skills_for(code, score), status="issued")
    return ResultRecord(**(fields | overrides))


@pytest.mark.parametrize("code, alias, name, five, reported, bands", TABLE, ids=[row[0] for row in TABLE])
def test_the_table_matches_the_contract(code, alias, name, five, reported, bands):
    exam = EXAMS[code]
    assert (exam.code, exam.alias, exam.name, (exam.low, exam.high)) == (code, alias, name, reported)
    assert list(exam.skills) == (FOUR + ["use_of_english"] if five else FOUR)
    assert find_exam(alias) is exam and find_exam(alias.lower()) is exam and find_exam(f" {code.lower()} ") is exam


@pytest.mark.parametrize("code, score", boundary_cases())
def test_each_boundary_score_gets_the_band_of_the_table(code, score):
    expected = expected_band(code, score)
    outcome = validate_result(code, record(code, score))
    if expected is None:  # outside the reported range
        assert isinstance(outcome, list)
        assert any("outside the reported range" in reason for reason in outcome)
    else:
        assert isinstance(outcome, ValidResult), outcome
        assert (outcome.overall_score, outcome.grade, outcome.cefr_level) == (score, *expected)


@pytest.mark.parametrize("code, score", [case for case in boundary_cases() if expected_band(*case.values)])
def test_a_grade_or_level_from_the_neighbouring_band_is_refused(code, score):
    expected = expected_band(code, score)
    bands = next(row for row in TABLE if row[0] == code)[5]
    for _low, _high, grade, cefr in bands:
        if grade != expected[0]:
            outcome = validate_result(code, record(code, score, grade=grade, cefr_level=expected[1]))
            assert isinstance(outcome, list) and any(reason.startswith("grade") for reason in outcome)
        if cefr != expected[1]:
            outcome = validate_result(code, record(code, score, grade=expected[0], cefr_level=cefr))
            assert isinstance(outcome, list) and any(reason.startswith("cefr_level") for reason in outcome)


@pytest.mark.parametrize("code", [row[0] for row in TABLE])
@pytest.mark.parametrize("with_use_of_english", [True, False])
def test_use_of_english_is_required_exactly_for_b2_to_c2(code, with_use_of_english):
    exam = EXAMS[code]
    score = exam.bands[0].low
    outcome = validate_result(code, record(code, score, skills=skills_for(code, score, use_of_english=with_use_of_english)))
    five = "use_of_english" in exam.skills
    if with_use_of_english == five:
        assert isinstance(outcome, ValidResult), outcome
        assert list(outcome.skills) == list(exam.skills)
    elif five:
        assert outcome == ["use_of_english score is missing"]
    else:
        assert outcome == [f"{exam.name} has no use_of_english score, but one was given"]


@pytest.mark.parametrize("code", ["A2_KEY", "B1_PRELIMINARY"])
def test_a_null_use_of_english_counts_as_absent_for_four_skill_exams(code):
    score = EXAMS[code].bands[0].low
    outcome = validate_result(code, record(code, score, skills=skills_for(code, score) | {"use_of_english": None}))
    assert isinstance(outcome, ValidResult) and "use_of_english" not in outcome.skills


def test_overall_is_the_average_rounded_half_up():
    assert overall_score({"reading": 140, "writing": 140, "listening": 141, "speaking": 141}) == 141  # 140.5
    assert overall_score({"reading": 140, "writing": 140, "listening": 140, "speaking": 141}) == 140  # 140.25
    assert overall_score({"reading": 140, "writing": 141, "listening": 141, "speaking": 141}) == 141  # 140.75
    five = {"reading": 180, "writing": 180, "listening": 180, "speaking": 181, "use_of_english": 181}
    assert overall_score(five) == 180  # 180.4
    assert overall_score(five | {"listening": 181}) == 181  # 180.6


def test_an_overall_score_that_disagrees_with_the_skills_is_refused():
    skills = {"reading": 140, "writing": 140, "listening": 141, "speaking": 141}  # 140.5 -> 141
    good = validate_result("KET", record("A2_KEY", 141, skills=skills))
    assert isinstance(good, ValidResult) and good.exam.code == "A2_KEY"
    rounded_down = validate_result("KET", record("A2_KEY", 140, skills=skills))
    assert rounded_down == ["overall_score 140 is not the average of the skill scores rounded half up, which is 141"]


def test_a_skill_score_outside_the_range_is_refused_even_when_the_average_fits():
    skills = {"reading": 99, "writing": 150, "listening": 150, "speaking": 150}
    outcome = validate_result("A2_KEY", record("A2_KEY", 137, skills=skills, grade="B", cefr_level="A2"))
    assert outcome == ["reading score 99 is outside the reported range 100-150 of A2 Key (KET)"]


def test_unknown_skills_and_missing_scores_are_named():
    outcome = validate_result("B2_FIRST", record("B2_FIRST", 180, skills={"reading": 180, "grammar": 180}))
    assert isinstance(outcome, list)
    assert "'grammar' is not a skill of B2 First (FCE)" in outcome
    assert {"writing score is missing", "listening score is missing", "speaking score is missing",
            "use_of_english score is missing"} <= set(outcome)


def test_missing_overall_grade_and_level_are_refused():
    outcome = validate_result("B2_FIRST", record("B2_FIRST", 185, overall_score=None, grade=None, cefr_level=""))
    assert outcome == [
        "overall_score is missing",
        "grade none does not match overall score 185: B2 First (FCE) gives A",
        "cefr_level none does not match overall score 185: B2 First (FCE) gives C1",
    ]


def test_below_grade_c_there_is_no_grade_and_below_the_level_below_no_level():
    assert isinstance(validate_result("FCE", record("B2_FIRST", 150, grade="", cefr_level="B1")), ValidResult)
    outcome = validate_result("FCE", record("B2_FIRST", 150, grade="C", cefr_level="B1"))
    assert outcome == ["grade C does not match overall score 150: B2 First (FCE) gives none"]
    assert isinstance(validate_result("FCE", record("B2_FIRST", 130, grade=None, cefr_level=None)), ValidResult)


def test_grades_levels_ids_and_names_are_normalised():
    outcome = validate_result("cae", record("C1_ADVANCED", 195, candidate_id=" sir094701 ", grade="b", cefr_level="c1",
                                            given_name="  Amy  Li ", family_name="陳", status="Issued"))
    assert isinstance(outcome, ValidResult)
    assert (outcome.candidate_id, outcome.given_name, outcome.family_name) == ("SIR094701", "Amy Li", "陳")
    assert (outcome.grade, outcome.cefr_level, outcome.status, outcome.exam.code) == ("B", "C1", "issued", "C1_ADVANCED")


@pytest.mark.parametrize("status", ["withheld", "pending"])
def test_withheld_and_pending_may_carry_no_scores_and_keep_none(status):
    bare = ResultRecord(candidate_id="123456", given_name="Amy", family_name="Chen", status=status)
    outcome = validate_result("C2_PROFICIENCY", bare)
    assert isinstance(outcome, ValidResult)
    assert (outcome.status, outcome.overall_score, outcome.grade, outcome.cefr_level, outcome.skills) == (status, None, None, None, {})
    with_scores = validate_result("C2_PROFICIENCY", record("C2_PROFICIENCY", 225, status=status))
    assert isinstance(with_scores, ValidResult) and with_scores.overall_score is None and with_scores.skills == {}


def test_identity_and_status_are_checked():
    outcome = validate_result("PET", record("B1_PRELIMINARY", 165, candidate_id="12", family_name=" ", status="passed"))
    assert outcome == ["candidate_id must be 3 to 9 letters or digits", "family_name is missing",
                       "status 'passed' is not one of issued, withheld, pending"]


def test_an_unknown_exam_refuses_the_record():
    outcome = validate_result("IELTS", record("B2_FIRST", 185))
    assert isinstance(outcome, list) and outcome[0].startswith("exam 'IELTS' is not known")
    assert find_exam("IELTS") is None


def test_a_malformed_record_is_refused_with_the_fields_that_are_wrong():
    malformed = record("B2_FIRST", 176).model_dump() | {"overall_score": "abc", "skills": {"reading": [1]}}
    assert validate_result("B2_FIRST", malformed) == [
        "overall_score: input should be a valid integer, unable to parse string as an integer",
        "skills.reading: input should be a valid integer",
    ]
    assert validate_result("B2_FIRST", 42) == ["the record is not an object of named fields"]


def test_a_part_is_split_into_valid_and_refused_records_each_refused_once_with_its_reasons():
    good, twice = record("B2_FIRST", 176), record("B2_FIRST", 180, candidate_id="abc123")
    broken = record("B2_FIRST", 176, candidate_id="x9", grade="A").model_dump()
    valid, refused = check_part("FCE", [good, twice, broken, twice, ["junk"]])
    assert [r.candidate_id for r in valid] == ["123456", "ABC123"]
    assert [(r.candidate_id, len(r.reasons)) for r in refused] == [("X9", 2), ("ABC123", 1), ("", 1)]
    assert refused[1].reasons == ["appears more than once in this part"]
