"""The exams and their scores on the Cambridge English Scale (contract section 5), and the check of
one board record against them. The results service (consuming `ResultsPublished`) and the board tool
`results-publish` both validate with `validate_result`, so the rules exist once.

Rules, beyond the table itself:
- Every score, of a skill or overall, lies in the exam's reported range.
- An `issued` record carries a score for each skill of its exam and no other skill (a null score
  counts as absent, so an empty `use_of_english` column of an A2 or B1 record is fine).
- The overall score is the average of the exam's skill scores, rounded half up.
- The grade is `A`, `B` or `C` inside those bands, and none (null or empty) below them. The CEFR
  level is the one of the overall score's band; below the "level below" band there is none.
- `withheld` and `pending` records may carry no scores; any they carry are dropped, since a result
  that is not issued must not show scores.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from crs_shared.messaging.contracts import ResultRecord

READING, WRITING, LISTENING, SPEAKING, USE_OF_ENGLISH = "reading", "writing", "listening", "speaking", "use_of_english"
ALL_SKILLS = (READING, WRITING, LISTENING, SPEAKING, USE_OF_ENGLISH)
FOUR_SKILLS = (READING, WRITING, LISTENING, SPEAKING)

ISSUED, WITHHELD, PENDING = "issued", "withheld", "pending"
STATUSES = (ISSUED, WITHHELD, PENDING)

CANDIDATE_ID = re.compile(r"^[A-Z0-9]{3,9}$")
NAME_MAX_LENGTH = 100


@dataclass(frozen=True)
class Band:
    """Overall scores `low`..`high` (inclusive) earn `grade` (None below grade C) and `cefr_level`."""

    low: int
    high: int
    grade: str | None
    cefr_level: str | None

    def __contains__(self, score: int) -> bool:
        return self.low <= score <= self.high


@dataclass(frozen=True)
class Exam:
    code: str
    name: str
    alias: str
    skills: tuple[str, ...]
    low: int
    high: int
    bands: tuple[Band, ...] = field(repr=False)  # highest first; together they cover low..high

    def band(self, overall_score: int) -> Band:
        for band in self.bands:
            if overall_score in band:
                return band
        raise ValueError(f"{overall_score} is outside the reported range {self.low}-{self.high} of {self.name}")

    def in_range(self, score: int) -> bool:
        return self.low <= score <= self.high


Row = tuple[int, int, str]  # lowest and highest overall score of a band, and its CEFR level


def _exam(code: str, name: str, alias: str, skills: tuple[str, ...], low: int,
          a: Row, b: Row, c: Row, below: Row) -> Exam:
    bands = (
        Band(a[0], a[1], "A", a[2]),
        Band(b[0], b[1], "B", b[2]),
        Band(c[0], c[1], "C", c[2]),
        Band(below[0], below[1], None, below[2]),
        Band(low, below[0] - 1, None, None),
    )
    return Exam(code, name, alias, skills, low, a[1], bands)


# Contract section 5, row by row.
EXAMS: dict[str, Exam] = {exam.code: exam for exam in (
    _exam("A2_KEY", "A2 Key (KET)", "KET", FOUR_SKILLS, 100,
          (140, 150, "B1"), (133, 139, "A2"), (120, 132, "A2"), (100, 119, "A1")),
    _exam("B1_PRELIMINARY", "B1 Preliminary (PET)", "PET", FOUR_SKILLS, 102,
          (160, 170, "B2"), (153, 159, "B1"), (140, 152, "B1"), (120, 139, "A2")),
    _exam("B2_FIRST", "B2 First (FCE)", "FCE", ALL_SKILLS, 122,
          (180, 190, "C1"), (173, 179, "B2"), (160, 172, "B2"), (140, 159, "B1")),
    _exam("C1_ADVANCED", "C1 Advanced (CAE)", "CAE", ALL_SKILLS, 142,
          (200, 210, "C2"), (193, 199, "C1"), (180, 192, "C1"), (160, 179, "B2")),
    _exam("C2_PROFICIENCY", "C2 Proficiency (CPE)", "CPE", ALL_SKILLS, 162,
          (220, 230, "C2"), (213, 219, "C2"), (200, 212, "C2"), (180, 199, "C1")),
)}
_BY_NAME = {key: exam for exam in EXAMS.values() for key in (exam.code, exam.alias)}


def find_exam(code_or_alias: str) -> Exam | None:
    """The exam of a code (`B2_FIRST`) or alias (`FCE`), in any case; None if there is no such exam."""
    return _BY_NAME.get(code_or_alias.strip().upper().replace("-", "_").replace(" ", "_"))


def unknown_exam_reason(given: str) -> str:
    known = ", ".join(f"{exam.code} ({exam.alias})" for exam in EXAMS.values())
    return f"exam {given!r} is not known; use one of {known}"


def overall_score(skills: dict[str, int]) -> int:
    """The average of the skill scores, rounded half up, in integers only (no float rounding)."""
    total, count = sum(skills.values()), len(skills)
    return (2 * total + count) // (2 * count)


def grade_and_cefr(exam: Exam, overall: int) -> tuple[str | None, str | None]:
    band = exam.band(overall)
    return band.grade, band.cefr_level


@dataclass(frozen=True)
class ValidResult:
    """A record that agrees with the exams table, normalised: exam code, upper-case IDs, grades and
    levels; skills in the exam's order; no scores unless `issued`."""

    candidate_id: str
    given_name: str
    family_name: str
    exam: Exam
    status: str
    overall_score: int | None
    grade: str | None
    cefr_level: str | None
    skills: dict[str, int]


@dataclass(frozen=True)
class RefusedRecord:
    candidate_id: str
    reasons: list[str]


def check_part(exam: Exam | str, records: Iterable[ResultRecord | Any]) -> tuple[list[ValidResult], list[RefusedRecord]]:
    """A batch part's records split into the valid ones and the refused ones with their reasons. A
    candidate who appears twice in one part is refused the second time."""
    valid: list[ValidResult] = []
    refused: list[RefusedRecord] = []
    seen: set[str] = set()
    for record in records:
        outcome = validate_result(exam, record)
        if isinstance(outcome, list):
            refused.append(RefusedRecord(_claimed_candidate_id(record), outcome))
        elif outcome.candidate_id in seen:
            refused.append(RefusedRecord(outcome.candidate_id, ["appears more than once in this part"]))
        else:
            seen.add(outcome.candidate_id)
            valid.append(outcome)
    return valid, refused


def validate_result(exam: Exam | str, record: ResultRecord | Any) -> ValidResult | list[str]:
    """The normalised result, or every reason the record is refused (human-readable, in the order
    a board would fix them). `record` may be anything a board sent; a malformed one is refused with
    the fields that are wrong."""
    if not isinstance(record, ResultRecord):
        try:
            record = ResultRecord.model_validate(record)
        except ValidationError as exc:
            return [_malformed_reason(error) for error in exc.errors()]
    if isinstance(exam, str):
        found = find_exam(exam)
        if found is None:
            return [unknown_exam_reason(exam)]
        exam = found
    reasons: list[str] = []

    candidate_id = record.candidate_id.strip().upper()
    if not CANDIDATE_ID.match(candidate_id):
        reasons.append("candidate_id must be 3 to 9 letters or digits")
    given_name, family_name = _name(record.given_name), _name(record.family_name)
    if not family_name:
        reasons.append("family_name is missing")
    for label, value in (("given_name", given_name), ("family_name", family_name)):
        if len(value) > NAME_MAX_LENGTH:
            reasons.append(f"{label} is longer than {NAME_MAX_LENGTH} characters")
    status = (record.status or "").strip().lower()
    if status not in STATUSES:
        reasons.append(f"status {record.status!r} is not one of {', '.join(STATUSES)}")

    if status != ISSUED:
        if reasons:
            return reasons
        return ValidResult(candidate_id, given_name, family_name, exam, status, None, None, None, {})

    skills = _check_skills(exam, record.skills, reasons)
    overall = record.overall_score
    if overall is None:
        reasons.append("overall_score is missing")
    elif not exam.in_range(overall):
        reasons.append(f"overall_score {overall} is outside the reported range {exam.low}-{exam.high} of {exam.name}")
    elif skills is not None and overall != (expected := overall_score(skills)):
        reasons.append(
            f"overall_score {overall} is not the average of the skill scores rounded half up, which is {expected}"
        )

    # Grade and level are checked against the overall score the skills give, or failing that the one given.
    basis = overall_score(skills) if skills is not None else overall
    grade, cefr_level = _upper_or_none(record.grade), _upper_or_none(record.cefr_level)
    if basis is not None and exam.in_range(basis):
        band = exam.band(basis)
        for label, given, expected in (("grade", grade, band.grade), ("cefr_level", cefr_level, band.cefr_level)):
            if given != expected:
                reasons.append(f"{label} {_shown(given)} does not match overall score {basis}: "
                               f"{exam.name} gives {_shown(expected)}")

    if reasons:
        return reasons
    return ValidResult(candidate_id, given_name, family_name, exam, status, overall, grade, cefr_level, skills)


def _malformed_reason(error: Any) -> str:
    field_name = ".".join(map(str, error["loc"]))
    if not field_name:
        return "the record is not an object of named fields"
    return f"{field_name}: {error['msg'][0].lower()}{error['msg'][1:]}"


def _claimed_candidate_id(record: ResultRecord | Any) -> str:
    """The candidate id a refused record claims, for the batch report ("" if it has none)."""
    claimed = record.candidate_id if isinstance(record, ResultRecord) else (
        record.get("candidate_id") if isinstance(record, dict) else None)
    return claimed.strip().upper() if isinstance(claimed, str) else ""


def _check_skills(exam: Exam, given: dict[str, int | None], reasons: list[str]) -> dict[str, int] | None:
    """The exam's skill scores in its order, or None after adding the reasons they are unusable."""
    present = {name.strip().lower(): score for name, score in given.items() if score is not None}
    before = len(reasons)
    for name in sorted(set(present) - set(exam.skills)):
        if name in ALL_SKILLS:
            reasons.append(f"{exam.name} has no {name} score, but one was given")
        else:
            reasons.append(f"{name!r} is not a skill of {exam.name}")
    for name in exam.skills:
        score = present.get(name)
        if score is None:
            reasons.append(f"{name} score is missing")
        elif not exam.in_range(score):
            reasons.append(f"{name} score {score} is outside the reported range {exam.low}-{exam.high} of {exam.name}")
    if len(reasons) > before:
        return None
    return {name: present[name] for name in exam.skills}


def _name(value: str) -> str:
    return " ".join(unicodedata.normalize("NFC", value or "").split())


def _upper_or_none(value: str | None) -> str | None:
    value = (value or "").strip().upper()
    return value or None


def _shown(value: str | None) -> str:
    return value if value is not None else "none"


__all__ = ["ALL_SKILLS", "EXAMS", "STATUSES", "Band", "Exam", "ValidResult", "find_exam", "grade_and_cefr",
           "overall_score", "unknown_exam_reason", "validate_result"]
