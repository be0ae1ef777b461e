"""The answers of the results API (contract section 2)."""

from pydantic import BaseModel

from crs_shared.domain.exams import ISSUED, EXAMS
from crs_shared.messaging.contracts import UtcDatetime


class Result(BaseModel):
    result_id: str
    exam: str
    exam_name: str
    session: str
    overall_score: int | None
    grade: str | None
    cefr_level: str | None
    skills: dict[str, int]
    status: str
    released_at: UtcDatetime
    verification_number: str | None

    @classmethod
    def of(cls, doc: dict) -> "Result":
        """A stored result as the candidate sees it: a withheld or pending one without scores or number."""
        issued = doc["status"] == ISSUED
        return cls(
            result_id=doc["_id"], exam=doc["exam"], exam_name=EXAMS[doc["exam"]].name, session=doc["session"],
            overall_score=doc["overall_score"] if issued else None, grade=doc["grade"] if issued else None,
            cefr_level=doc["cefr_level"] if issued else None, skills=doc["skills"] if issued else {},
            status=doc["status"], released_at=doc["release_at"],
            verification_number=doc["verification_number"] if issued else None,
        )


class MyResults(BaseModel):
    candidate_id: str
    results: list[Result]


class Verification(BaseModel):
    verification_number: str
    name: str
    given_name: str
    family_name: str
    exam: str
    exam_name: str
    session: str
    overall_score: int
    grade: str | None
    cefr_level: str | None

    @classmethod
    def of(cls, doc: dict) -> "Verification":
        name = " ".join(part for part in (doc["given_name"], doc["family_name"]) if part)
        return cls(
            verification_number=doc["verification_number"], name=name, given_name=doc["given_name"],
            family_name=doc["family_name"], exam=doc["exam"], exam_name=EXAMS[doc["exam"]].name,
            session=doc["session"], overall_score=doc["overall_score"], grade=doc["grade"],
            cefr_level=doc["cefr_level"],
        )


class Rejection(BaseModel):
    candidate_id: str
    part: int
    reasons: list[str]


class BatchReport(BaseModel):
    batch_id: str
    board: str
    exam: str
    session: str
    release_at: UtcDatetime
    parts_expected: int
    parts_received: int
    parts_missing: list[int]
    complete: bool
    records_received: int
    results_stored: int
    results_corrected: int
    results_rejected: int
    rejections: list[Rejection]
