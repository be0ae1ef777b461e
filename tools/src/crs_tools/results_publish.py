"""`results-publish FILE.csv --board NAME --exam CODE --session YYYY-MM [--release-at ISO8601]
[--dry-run] [--batch-id ID] [--amqp-url URL]`

Publishes a board's result batch (contract section 6) as `ResultsPublished` parts. Every row is
checked with `crs_shared.domain.exams.validate_result`, the same code the results service applies."""

import argparse
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial

from crs_shared.domain.exams import ALL_SKILLS, Exam, find_exam, unknown_exam_reason, validate_result
from crs_shared.messaging.contracts import ResultRecord, ResultsPublished
from crs_tools.board_cli import BoardTool, board_parser, run
from crs_tools.board_csv import RowRejected, RowSpec

COLUMNS = ("candidate_id", "given_name", "family_name", *ALL_SKILLS, "overall_score", "grade", "cefr_level", "status")
SESSION = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def to_result(exam: Exam, cells: Mapping[str, str]) -> ResultRecord:
    """A row as the board's record, normalised by the exams table, or RowRejected with every reason."""
    blank_is_none = lambda column: cells[column].strip() or None  # noqa: E731
    record = ResultRecord.model_validate({
        "candidate_id": cells["candidate_id"], "given_name": cells["given_name"], "family_name": cells["family_name"],
        "overall_score": blank_is_none("overall_score"), "grade": blank_is_none("grade"),
        "cefr_level": blank_is_none("cefr_level"), "status": cells["status"].strip() or "issued",
        "skills": {skill: blank_is_none(skill) for skill in ALL_SKILLS},
    })
    valid = validate_result(exam, record)
    if isinstance(valid, list):
        raise RowRejected([(None, reason) for reason in valid])
    return ResultRecord(candidate_id=valid.candidate_id, given_name=valid.given_name, family_name=valid.family_name,
                        overall_score=valid.overall_score, grade=valid.grade, cefr_level=valid.cefr_level,
                        skills=valid.skills, status=valid.status)


def _column_of(location: tuple[int | str, ...]) -> str | None:
    """pydantic's error location -> the CSV column: `skills.reading` is the `reading` column."""
    if not location:
        return None
    return str(location[-1]) if location[0] == "skills" else str(location[0])


def _part_builder(exam: Exam, args: argparse.Namespace, batch_id: str):
    def build(part: int, parts: int, results: list[ResultRecord]) -> ResultsPublished:
        return ResultsPublished(board=args.board, batch_id=batch_id, part=part, parts=parts, exam=exam.code,
                                session=args.session, release_at=args.release_at, results=results)
    return build


def _release_at(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time such as 2026-08-01T09:00:00Z") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} has no time zone; add Z for UTC or an offset such as +08:00")
    return moment


def _session(value: str) -> str:
    if not SESSION.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a session in the form YYYY-MM")
    return value


def tool_for(exam: Exam) -> BoardTool[ResultRecord]:
    spec: RowSpec[ResultRecord] = RowSpec(
        columns=COLUMNS, to_record=partial(to_result, exam), key=lambda r: r.candidate_id, key_column="candidate_id",
        column_of=_column_of,
    )
    return BoardTool(name="results-publish", noun="results", spec=spec, part_builder=partial(_part_builder, exam),
                     record_model=ResultRecord, breakdown=lambda result: result.status)


def parser(tool: BoardTool) -> argparse.ArgumentParser:
    parser = board_parser(
        tool,
        "Check an exam board's results file row by row against the exams table (ranges, overall score,\n"
        "grade and CEFR level), then publish it as ResultsPublished events (parts of at most 1,000\n"
        "results, each confirmed by the broker). Nothing is published if any row is bad.",
    )
    parser.add_argument("--exam", required=True, metavar="CODE", help="exam code or alias, e.g. B2_FIRST or FCE")
    parser.add_argument("--session", required=True, type=_session, metavar="YYYY-MM", help="the exam session")
    parser.add_argument("--release-at", type=_release_at, metavar="ISO8601",
                        help="when candidates may see the results (default: as soon as they are stored)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The rows are checked against the exam named on the command line, so read that first.
    probe = parser(tool_for(find_exam("A2_KEY")))
    args = probe.parse_args(argv)
    exam = find_exam(args.exam)
    if exam is None:
        probe.error(f"--exam: {unknown_exam_reason(args.exam)}")
    tool = tool_for(exam)
    return run(tool, parser(tool), argv)

if __name__ == "__main__":
    raise SystemExit(main())
