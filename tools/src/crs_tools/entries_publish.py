"""`entries-publish FILE.csv --board NAME [--dry-run] [--batch-id ID] [--amqp-url URL]`

Publishes an exam board's entries (contract section 6) as `EntriesPublished` parts. Each row is
checked with the contract's own `Entry` model, the same one the registration service applies."""

import argparse
from collections.abc import Sequence

from crs_shared.domain.exams import find_exam, unknown_exam_reason
from crs_shared.messaging.contracts import EntriesPublished, Entry
from crs_tools.board_cli import BoardTool, board_parser, run
from crs_tools.board_csv import RowRejected, RowSpec

COLUMNS = ("candidate_id", "secret_number", "given_name", "family_name", "exam", "session", "centre")



def to_entry(cells) -> Entry:
    """A row as an `Entry`, with its exam (code or alias such as FCE) as the exams table names it."""
    entry = Entry.model_validate(dict(cells))
    exam = find_exam(entry.exam)
    if exam is None:
        raise RowRejected([("exam", unknown_exam_reason(entry.exam))])
    return entry.model_copy(update={"exam": exam.code})


ENTRY_ROWS: RowSpec[Entry] = RowSpec(
    columns=COLUMNS,
    to_record=to_entry,
    key=lambda entry: entry.candidate_id,
    key_column="candidate_id",
    secret_columns=frozenset({"secret_number"}),
)


def _part_builder(args: argparse.Namespace, batch_id: str):
    def build(part: int, parts: int, entries: list[Entry]) -> EntriesPublished:
        return EntriesPublished(board=args.board, batch_id=batch_id, part=part, parts=parts, entries=entries)
    return build


ENTRIES_PUBLISH = BoardTool(
    name="entries-publish", noun="entries", spec=ENTRY_ROWS, part_builder=_part_builder, record_model=Entry,
    breakdown=lambda entry: f"{entry.exam} {entry.session}",
)


def parser() -> argparse.ArgumentParser:
    return board_parser(
        ENTRIES_PUBLISH,
        "Check an exam board's entries file row by row, then publish it as EntriesPublished events\n"
        "(parts of at most 1,000 entries, each confirmed by the broker). Nothing is published if\n"
        "any row is bad.",
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run(ENTRIES_PUBLISH, parser(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
