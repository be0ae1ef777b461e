"""Fuzzing both board tools with bad CSV files. Generated bad rows (hypothesis) are each named by
their line and column; and the installed commands, run against a vhost of the test's own on the real
broker, refuse every bad file (encodings, binary bytes, columns, empty, huge, injection-looking
cells) with exit status 1 and a reason, while a queue bound to every routing key on the exchange
stays empty: nothing was published.

Cases already covered elsewhere are not repeated here: test_board_csv.py checks single bad rows,
Latin-1, NUL, BOM, missing/unknown/repeated columns, empty and header-only files and the size limit
in-process; test_entries_publish_cli.py runs a UTF-16 file and a file with bad rows through
entries-publish."""

import asyncio
import csv
import io
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crs_shared.domain.exams import find_exam
from crs_shared.messaging.topology import declare_exchange
from crs_tools.board_csv import MAX_FILE_BYTES, CsvFileError, RowSpec, check_file
from crs_tools.entries_publish import COLUMNS as ENTRY_COLUMNS
from crs_tools.entries_publish import ENTRY_ROWS
from crs_tools.results_publish import COLUMNS as RESULT_COLUMNS
from crs_tools.results_publish import tool_for
from tests.support.broker import drain, queue_depth

BIN = Path(sys.executable).parent
RESULT_ROWS = tool_for(find_exam("B2_FIRST")).spec
FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

# Cells that would do something somewhere else: a spreadsheet formula, a MongoDB operator, markup.
INJECTIONS = ["=cmd|' /C calc'!A0", "@SUM(A1:A9)", "+1", "-1", '{"$ne": ""}', '{"$gt": ""}',
              "<script>alert(1)</script>", "'; DROP TABLE candidates; --"]
# No valid ID, secret number, exam, session, score, grade, CEFR level or status contains one of these.
NEVER_VALID = "=@<>{}$;\"'|!?#%&*"


@dataclass(frozen=True)
class Tool:
    command: str
    columns: tuple[str, ...]
    spec: RowSpec
    good: list[str]  # a valid row
    constrained: list[str]  # the columns with a format or rule, as opposed to free text
    args: list[str]  # the command's options besides the file and the board

    def row(self, n: int) -> list[str]:
        return [f"F{n:06d}", *self.good[1:]]

    def run(self, path: Path, amqp_url: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / self.command), str(path), "--board", "Fuzz Board", *self.args,
                               "--amqp-url", amqp_url], capture_output=True, text=True, timeout=120)


ENTRIES = Tool("entries-publish", ENTRY_COLUMNS, ENTRY_ROWS, ["123456", "4821", "Amy", "Chen", "B2_FIRST", "2026-06", "GB001"],
               ["candidate_id", "secret_number", "exam", "session"], [])
RESULTS = Tool("results-publish", RESULT_COLUMNS, RESULT_ROWS,
               ["123456", "Amy", "Chen", "176", "170", "180", "175", "179", "176", "B", "B2", "issued"],
               ["candidate_id", "reading", "use_of_english", "overall_score", "grade", "cefr_level", "status"],
               ["--exam", "B2_FIRST", "--session", "2026-06"])
TOOLS = [ENTRIES, RESULTS]


def csv_text(tool: Tool, rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(tool.columns)
    writer.writerows(rows)
    return out.getvalue()


# Text around a character no constrained column accepts; no NUL (a file-level refusal of its own).
bad_values = st.one_of(
    st.sampled_from(INJECTIONS),
    st.builds(lambda before, bad, after: before + bad + after,
              st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12),
              st.sampled_from(NEVER_VALID),
              st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)),
)


def start_line(text_before: str) -> int:
    """The line a row starts on, as an editor shows it, given the text before it."""
    return len(re.findall(r"\r\n|\r|\n", text_before)) + 1


@st.composite
def files_with_one_bad_cell(draw, tool: Tool):
    """Good rows and one bad cell in a constrained column: (csv text, the bad row's line, column, value)."""
    rows = [tool.row(n) for n in range(draw(st.integers(1, 30)))]
    index = draw(st.integers(0, len(rows) - 1))
    column, value = draw(st.sampled_from(tool.constrained)), draw(bad_values)
    rows[index][tool.columns.index(column)] = value
    return csv_text(tool, rows), start_line(csv_text(tool, rows[:index])), column, value


def write(folder: Path, content: str | bytes) -> Path:
    path = folder / f"{uuid.uuid4().hex[:8]}.csv"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.command)
def test_a_generated_bad_cell_is_named_by_its_line_and_column_and_never_slips_through(tool, tmp_path):
    @FUZZ
    @given(files_with_one_bad_cell(tool))
    def check(generated):
        text, line, column, value = generated
        checked = check_file(write(tmp_path, text), tool.spec)
        assert checked.problems, f"{column}={value!r} on line {line} was accepted"
        assert {p.line for p in checked.problems} == {line}, [str(p) for p in checked.problems]
        assert any(p.column == column or (p.reason or "").startswith(column) for p in checked.problems), \
            [str(p) for p in checked.problems]
        assert checked.records == checked.rows - 1
        if column == "secret_number" and len(value) > 2:
            assert not any(value in str(p) for p in checked.problems)

    check()


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.command)
def test_injection_looking_names_are_carried_as_plain_text(tool, tmp_path):
    """Free-text cells (names) are data: never evaluated, never interpreted, kept as written."""
    @FUZZ
    @given(st.sampled_from(INJECTIONS), st.sampled_from(["given_name", "family_name"]))
    def check(value, column):
        row = tool.row(1)
        row[tool.columns.index(column)] = value
        records = []
        checked = check_file(write(tmp_path, csv_text(tool, [row])), tool.spec, on_record=records.append)
        assert checked.ok, [str(p) for p in checked.problems]
        assert getattr(records[0], column) == value

    check()


def test_a_file_over_the_row_limit_is_refused_before_its_rows_are_checked(tmp_path):
    """The byte limit alone would let some 4 million short rows through (each one's key is kept)."""
    rows = [ENTRIES.row(n) for n in range(6)]
    assert check_file(write(tmp_path, csv_text(ENTRIES, rows[:5])), ENTRY_ROWS, max_rows=5).ok
    with pytest.raises(CsvFileError, match=r"^line 7: the file has more than 5 rows; split it into several files$"):
        check_file(write(tmp_path, csv_text(ENTRIES, rows)), ENTRY_ROWS, max_rows=5)


# -- the installed commands against the real broker ---------------------------------------------

TAP_QUEUE = "csv-fuzz.tap"


async def _bind_tap(amqp_url: str) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(TAP_QUEUE, durable=True)
        await queue.bind(await declare_exchange(channel), "#")


@pytest.fixture(scope="module")
def broker(rabbit_vhosts):
    """A vhost of the module's own, with a queue that receives every event published on the exchange."""
    with rabbit_vhosts.lent() as url:
        asyncio.run(_bind_tap(url))
        yield url


def published(amqp_url: str) -> int:
    # The tools publish with confirms, so whatever a tool had published is in the queue once it exits.
    return asyncio.run(queue_depth(amqp_url, TAP_QUEUE))


def huge(folder: Path, tool: Tool) -> Path:
    """A file one byte over the size limit, sparse so that it costs no disk: refused before reading."""
    path = write(folder, csv_text(tool, [tool.row(1)]))
    with path.open("r+b") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    return path


def injections(tool: Tool) -> str:
    rows = [tool.row(n) for n in range(len(tool.constrained))]
    for row, column, value in zip(rows, tool.constrained, INJECTIONS * 2, strict=False):
        row[tool.columns.index(column)] = value
    return csv_text(tool, rows)


def header(tool: Tool) -> str:
    return ",".join(tool.columns)


def good_row(tool: Tool) -> str:
    return ",".join(tool.row(1))


BAD_FILES = {
    # name: (content for the tool, what the error must say)
    "utf-16 with its BOM": (lambda t: f"{header(t)}\n{good_row(t)}\n".encode("utf-16"),
                            "line 1: the file is not valid UTF-8 (byte 0xFF)"),
    "binary bytes": (lambda t: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "line 1: the file is not valid UTF-8"),
    "UTF-8 BOM then Latin-1": (lambda t: b"\xef\xbb\xbf" + f"{header(t)}\n{good_row(t)}\nZ9,Chlo\xe9\n".encode("latin-1"),
                               "line 3: the file is not valid UTF-8 (byte 0xE9)"),
    "missing column": (lambda t: ",".join(t.columns[:-1]) + "\n" + ",".join(t.row(1)[:-1]) + "\n",
                       "line 1: missing column(s): "),
    "extra column": (lambda t: f"{header(t)},notes\n{good_row(t)},x\n", "line 1: unknown column(s): notes"),
    "empty file": (lambda t: b"", "the file is empty"),
    "header only": (lambda t: f"{header(t)}\r\n", "the file has a header but no rows"),
    "injection-looking cells": (injections, "line 2: candidate_id"),
}


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.command)
@pytest.mark.parametrize("case", [*BAD_FILES, "huge"])
def test_a_bad_file_exits_1_with_the_reason_and_publishes_nothing(tool, case, broker, tmp_path):
    if case == "huge":
        path, expected = huge(tmp_path, tool), f"over the limit of {MAX_FILE_BYTES / 1e6:.0f} MB"
    else:
        make, expected = BAD_FILES[case]
        path = write(tmp_path, make(tool))
    ran = tool.run(path, broker)
    assert ran.returncode == 1, ran.stderr
    assert expected in ran.stderr, ran.stderr
    assert "nothing was published" in ran.stderr.lower()
    assert published(broker) == 0


def test_every_injection_looking_cell_in_a_checked_column_is_named(tmp_path):
    """The whole list, one per line and column, in the one run of the 'injection-looking cells' file."""
    for tool in TOOLS:
        problems = check_file(write(tmp_path, injections(tool)), tool.spec).problems
        named = {(p.line, p.column or p.reason.split(" ")[0]) for p in problems}
        assert named >= {(n + 2, column) for n, column in enumerate(tool.constrained)}, [str(p) for p in problems]


@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(TOOLS).flatmap(lambda tool: st.tuples(st.just(tool), files_with_one_bad_cell(tool))))
def test_generated_bad_files_through_the_commands_publish_nothing(broker, tmp_path, generated):
    tool, (text, line, column, _value) = generated
    ran = tool.run(write(tmp_path, text), broker)
    assert ran.returncode == 1, ran.stderr
    assert f"line {line}: " in ran.stderr
    assert published(broker) == 0


def test_the_tap_sees_what_a_good_file_publishes(broker, tmp_path):
    """The check above is only as good as the tap: a valid file does land in it."""
    for tool in TOOLS:
        ran = tool.run(write(tmp_path, csv_text(tool, [tool.row(n) for n in range(3)])), broker)
        assert ran.returncode == 0, ran.stderr
    assert len(asyncio.run(drain(broker, TAP_QUEUE))) == 2  # one part per tool
