"""Reading and checking an exam board's CSV file, whatever the rows hold.

Every row is checked before anything is published, so a board fixes all of its problems in one
pass. The file is read a row at a time and each good record handed on as it is checked: nothing
here holds the file or its records, so a million rows cost no more memory than a thousand (only
the keys seen, to find duplicates). The rules a row must meet are the event contract's own pydantic
models (crs_shared.messaging.contracts): this module only maps CSV cells to a model and the
model's errors back to "line N: column: reason". It never echoes a cell's value in a reason, so
secret numbers (and anything else) stay out of terminals and logs.

Cells that look like spreadsheet formulas (=, +, -, @) are plain text here: the model accepts or
rejects them like any other value, and nothing ever evaluates them.
"""

import codecs
import csv
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

R = TypeVar("R", bound=BaseModel)

# Far above any real board file (a million entries is about 100 MB), low enough to refuse a wrong file
# (an export of a whole database, a video) before reading it.
MAX_FILE_BYTES = 200 * 1024 * 1024
# The rows are not held, but each one's key is (to find duplicates), and a batch is published a
# part at a time: a million rows is 1,000 parts, far more than any board's session.
MAX_ROWS = 1_000_000


class CsvFileError(Exception):
    """The file as a whole cannot be read as the expected CSV (the message says why)."""


class RowRejected(Exception):
    """Raised by a `RowSpec.to_record` for rules that live outside a pydantic model (for results,
    the exams table): each reason with its column, or None for the row as a whole. Reasons must
    not quote secret values."""

    def __init__(self, reasons: Sequence[tuple[str | None, str]]):
        super().__init__("; ".join(reason for _, reason in reasons))
        self.reasons = list(reasons)


@dataclass(frozen=True)
class RowProblem:
    line: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.column}: {self.reason}" if self.column else f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class CsvRow:
    line: int  # the line the row starts on, as an editor shows it (the header is line 1)
    cells: dict[str, str]


@dataclass(frozen=True)
class RowSpec(Generic[R]):
    """What one kind of board file holds: its columns and how a row becomes a contract record.

    `to_record` builds the record from the row's cells (raising pydantic's ValidationError, or
    RowRejected);
    `column_of` maps an error location of the model back to a CSV column; `key` names the value
    that must be unique within the file; `secret_columns` are columns whose values must never be
    shown, even if a model's message were ever to quote its input."""

    columns: tuple[str, ...]
    to_record: Callable[[Mapping[str, str]], R]
    key: Callable[[R], Hashable] | None = None
    key_column: str | None = None
    secret_columns: frozenset[str] = frozenset()
    column_of: Callable[[tuple[int | str, ...]], str | None] | None = None


@dataclass
class CheckedFile:
    rows: int = 0
    records: int = 0  # the good rows, each handed to `on_record`
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_file(path: str | Path, spec: RowSpec[R], *, on_record: Callable[[R], None] = lambda record: None,
               max_bytes: int = MAX_FILE_BYTES, max_rows: int = MAX_ROWS) -> CheckedFile:
    """Reads and checks the whole file, handing each good record to `on_record` in file order.
    File-level problems raise CsvFileError (possibly after some records were handed on); row
    problems are all collected in the result, in line order."""
    checked = CheckedFile()
    first_line_of: dict[Hashable, int] = {}
    for row in read_rows(path, spec.columns, max_bytes=max_bytes, max_rows=max_rows):
        checked.rows += 1
        if isinstance(row, RowProblem):
            checked.problems.append(row)
            continue
        try:
            record = spec.to_record(row.cells)
        except ValidationError as exc:
            checked.problems.extend(_problems_of(exc, row, spec))
            continue
        except RowRejected as exc:
            checked.problems.extend(RowProblem(row.line, column, reason) for column, reason in exc.reasons)
            continue
        if spec.key is not None:
            key = spec.key(record)
            if key in first_line_of:
                checked.problems.append(
                    RowProblem(row.line, spec.key_column, f"{key} is already on line {first_line_of[key]}")
                )
                continue
            first_line_of[key] = row.line
        checked.records += 1
        on_record(record)
    checked.problems.sort(key=lambda p: p.line)
    return checked


def read_rows(path: str | Path, columns: Sequence[str], *, max_bytes: int = MAX_FILE_BYTES,
              max_rows: int = MAX_ROWS) -> Iterator[CsvRow | RowProblem]:
    """The file's rows, each split into the header's columns, or a RowProblem for a row that
    cannot be; blank lines are skipped. Raises CsvFileError for the file as a whole."""
    path = Path(path)
    try:
        _check_size(path, max_bytes)
        # utf-8-sig drops a leading byte-order mark; newline="" leaves line ends to the csv module.
        with path.open(encoding="utf-8-sig", errors="strict", newline="") as text:
            yield from _split_rows(_lines_without_nul(text), columns, max_rows)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except OSError as exc:
        raise CsvFileError(f"cannot read the file: {exc.strerror or exc}") from None


def _split_rows(lines: Iterable[str], columns: Sequence[str], max_rows: int) -> Iterator[CsvRow | RowProblem]:
    reader = csv.reader(lines, strict=True)
    header: list[str] | None = None
    rows = 0
    previous_end = 0  # the line the previous record ended on: a quoted cell may span lines
    try:
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if all(not cell.strip() for cell in cells):
                continue  # blank lines, and the ",,,,,," rows spreadsheets leave at the end
            if header is None:
                header = _check_header(cells, columns, start)
                continue
            if rows == max_rows:
                raise CsvFileError(
                    f"line {start}: the file has more than {max_rows:,} rows; split it into several files"
                )
            rows += 1
            if len(cells) != len(header):
                yield RowProblem(start, None, f"has {len(cells)} cells, but the header has {len(header)} columns")
            else:
                yield CsvRow(start, dict(zip(header, cells, strict=True)))
    except csv.Error as exc:
        start, end = previous_end + 1, max(reader.line_num, previous_end + 1)
        where = f"line {start}" if end == start else f"lines {start}-{end}"
        raise CsvFileError(f"{where}: not readable as CSV ({exc}); check the quotes on line {start}") from None
    if header is None:
        raise CsvFileError("the file is empty: expected a header line with the columns " + ",".join(columns))
    if not rows:
        raise CsvFileError("the file has a header but no rows")


def _check_size(path: Path, max_bytes: int) -> None:
    size = path.stat().st_size
    if not path.is_file():
        raise CsvFileError("not a file")
    if size > max_bytes:
        raise CsvFileError(
            f"the file is {size / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.0f} MB; split it into several files"
        )


def _lines_without_nul(text: Iterable[str]) -> Iterator[str]:
    for number, line in enumerate(text, start=1):
        if "\x00" in line:
            raise CsvFileError(
                f"line {number}: the file contains a NUL character; it does not look like a CSV text file"
            )
        yield line


def _not_utf8(path: Path) -> CsvFileError:
    """Where the file stops being UTF-8, found by reading it again a line at a time (a newline
    byte is never part of a longer UTF-8 character)."""
    with path.open("rb") as data:
        for number, line in enumerate(data, start=1):
            try:
                (line.removeprefix(codecs.BOM_UTF8) if number == 1 else line).decode("utf-8")
            except UnicodeDecodeError as exc:
                return CsvFileError(
                    f"line {number}: the file is not valid UTF-8 (byte 0x{line[exc.start]:02X}); "
                    "save it as \"CSV UTF-8\" and try again"
                )
    return CsvFileError("the file is not valid UTF-8; save it as \"CSV UTF-8\" and try again")


def _check_header(cells: list[str], columns: Sequence[str], line: int) -> list[str]:
    header = [cell.strip().lower() for cell in cells]
    expected = "expected the columns " + ",".join(columns)
    if len(header) == 1 and any(sep in header[0] for sep in ";\t|"):
        raise CsvFileError(f"line {line}: the header is not comma-separated; {expected}")
    missing = [c for c in columns if c not in header]
    unknown = [c or "(a column with no name)" for c in header if c not in columns]
    repeated = sorted({c for c in header if c in columns and header.count(c) > 1})
    reasons = []
    if missing:
        reasons.append("missing column(s): " + ", ".join(missing))
    if unknown:
        reasons.append("unknown column(s): " + ", ".join(unknown))
    if repeated:
        reasons.append("repeated column(s): " + ", ".join(repeated))
    if reasons:
        raise CsvFileError(f"line {line}: " + "; ".join(reasons) + f"; {expected}")
    return header


def _problems_of(exc: ValidationError, row: CsvRow, spec: RowSpec) -> list[RowProblem]:
    problems = []
    for error in exc.errors(include_url=False, include_input=True):
        loc = tuple(error["loc"])
        column = spec.column_of(loc) if spec.column_of else (str(loc[0]) if loc else None)
        problems.append(RowProblem(row.line, column, _reason(error, secret=column in spec.secret_columns)))
    return problems


def _reason(error: Mapping[str, Any], *, secret: bool) -> str:
    """The model's reason, without the value. For a secret column not even the model's own message
    is used, in case some rule's message ever quotes its input."""
    value = error.get("input")
    if error["type"] == "missing" or (isinstance(value, str) and not value.strip()):
        return "is empty"
    if error["type"] == "string_pattern_mismatch":
        return f"has the wrong format (expected {error['ctx']['pattern']})"
    message = str(error["msg"])
    if secret or not message:
        return "is not valid"
    return message[0].lower() + message[1:]
