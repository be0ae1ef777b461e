"""Checking a board's entries file: every row with the contract's Entry model, problems by line."""

import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest

from crs_shared.messaging.contracts import Entry
from crs_tools.board_csv import CsvFileError, RowRejected, check_file
from crs_tools.entries_publish import COLUMNS, ENTRY_ROWS

HEADER = ",".join(COLUMNS)
GOOD = "123456,4821,Amy,Chen,B2_FIRST,2026-06,GB001"


def write(tmp_path: Path, text: str | bytes, name: str = "entries.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def problems_of(tmp_path: Path, text: str | bytes) -> list[str]:
    return [str(p) for p in check_file(write(tmp_path, text), ENTRY_ROWS).problems]


def test_a_good_file_gives_every_entry_as_the_contract_model(tmp_path):
    text = f"{HEADER}\n{GOOD}\nsir094701,0397, Ben ,Okafor,A2_KEY,2026-05,GB002\n"
    records = []
    checked = check_file(write(tmp_path, text), ENTRY_ROWS, on_record=records.append)
    assert checked.ok and checked.rows == checked.records == 2
    second = records[1]
    assert (second.candidate_id, second.secret_number, second.given_name) == ("SIR094701", "0397", "Ben")


def test_the_sample_file_is_valid():
    sample = Path(__file__).resolve().parents[2] / "deploy" / "sample-data" / "entries.csv"
    records = []
    checked = check_file(sample, ENTRY_ROWS, on_record=records.append)
    assert checked.ok, checked.problems
    assert {e.exam for e in records} == {
        "A2_KEY", "B1_PRELIMINARY", "B2_FIRST", "C1_ADVANCED", "C2_PROFICIENCY"}


@pytest.mark.parametrize("row, expected", [
    ("12,4821,Amy,Chen,B2_FIRST,2026-06,GB001",
     "line 2: candidate_id: has the wrong format (expected ^[A-Za-z0-9]{3,9}$)"),
    ("ABC-123,4821,Amy,Chen,B2_FIRST,2026-06,GB001", "line 2: candidate_id: has the wrong format"),
    ("123456,482,Amy,Chen,B2_FIRST,2026-06,GB001", "line 2: secret_number: has the wrong format (expected ^[0-9]{4}$)"),
    ("123456,48x1,Amy,Chen,B2_FIRST,2026-06,GB001", "line 2: secret_number: has the wrong format"),
    ("123456,,Amy,Chen,B2_FIRST,2026-06,GB001", "line 2: secret_number: is empty"),
    ("123456,4821,,Chen,B2_FIRST,2026-06,GB001", "line 2: given_name: is empty"),
    ("123456,4821,Amy,   ,B2_FIRST,2026-06,GB001", "line 2: family_name: is empty"),
    (f"123456,4821,Amy,{'x' * 101},B2_FIRST,2026-06,GB001",
     "line 2: family_name: string should have at most 100 characters"),
    ("123456,4821,Amy,Chen,,2026-06,GB001", "line 2: exam: is empty"),
    ("123456,4821,Amy,Chen,B2_FIRST,2026-13,GB001", "line 2: session: has the wrong format"),
    ("123456,4821,Amy,Chen,B2_FIRST,06/2026,GB001", "line 2: session: has the wrong format"),
    ("123456,4821,Amy,Chen,B2_FIRST,2026-06,", "line 2: centre: is empty"),
    ("123456,4821,Amy,Chen,B2_FIRST,2026-06", "line 2: has 6 cells, but the header has 7 columns"),
    ("123456,4821,Amy,Chen,B2_FIRST,2026-06,GB001,extra", "line 2: has 8 cells, but the header has 7 columns"),
])
def test_each_kind_of_bad_row_is_named_with_its_line_and_column(tmp_path, row, expected):
    problems = problems_of(tmp_path, f"{HEADER}\n{row}\n")
    assert len(problems) == 1 and problems[0].startswith(expected), problems


def test_every_bad_row_is_reported_in_one_pass_with_the_lines_an_editor_shows(tmp_path):
    text = "\r\n".join([
        HEADER,
        GOOD,                                                        # line 2
        "1,12,Amy,Chen,B2_FIRST,2026-06,GB001",                      # line 3: two problems
        "",                                                          # line 4: blank, skipped
        '123458,1111,"Chloé\nMarie",Martin,B1_PRELIMINARY,2026-06,FR042',  # lines 5-6: one row over two lines
        "123459,2222,Dan,Wu,C1_ADVANCED,2026-00,TW015",             # line 7
        ",,,,,,",                                                    # line 8: spreadsheet filler, skipped
        "123460,3333,Eve,Li,C2_PROFICIENCY,2026-06,TW015",          # line 9: fine
    ]) + "\r\n"
    records = []
    checked = check_file(write(tmp_path, text), ENTRY_ROWS, on_record=records.append)
    assert [(p.line, p.column) for p in checked.problems] == [(3, "candidate_id"), (3, "secret_number"), (7, "session")]
    assert [e.candidate_id for e in records] == ["123456", "123458", "123460"]
    assert records[1].given_name == "Chloé\nMarie"


def test_duplicate_candidate_ids_are_found_whatever_their_case_and_spacing(tmp_path):
    problems = problems_of(tmp_path, "\n".join([
        HEADER,
        "abc123,1111,Amy,Chen,B2_FIRST,2026-06,GB001",
        GOOD,
        " ABC123 ,2222,Ann,Chan,A2_KEY,2026-06,GB001",
        "123456,3333,Al,Ng,A2_KEY,2026-06,GB001",
    ]))
    assert problems == ["line 4: candidate_id: ABC123 is already on line 2",
                        "line 5: candidate_id: 123456 is already on line 3"]


def test_secret_numbers_are_never_echoed(tmp_path):
    problems = problems_of(tmp_path, f"{HEADER}\n123456,98765,Amy,Chen,B2_FIRST,2026-06,GB001\n"
                                     "123457,9x7y,Amy,Chen,B2_FIRST,2026-06,GB001\n")
    assert len(problems) == 2
    assert not any("98765" in p or "9x7y" in p for p in problems)


def test_cells_that_look_like_spreadsheet_formulas_are_just_data(tmp_path):
    records = []
    checked = check_file(write(tmp_path, "\n".join([
        HEADER,
        '123456,4821,"=HYPERLINK(""http://evil.example"",""x"")",+cmd|\' /C calc\'!A0,B2_FIRST,2026-06,@SUM(A1:A9)',
        "-2+3,4821,Amy,=1+1,B2_FIRST,2026-06,GB001",
    ])), ENTRY_ROWS, on_record=records.append)
    [entry] = records
    assert entry.given_name == '=HYPERLINK("http://evil.example","x")'
    assert entry.family_name == "+cmd|' /C calc'!A0"
    assert entry.centre == "@SUM(A1:A9)"
    # The model refuses the candidate ID "-2+3" like any other bad ID; it is not evaluated to 1.
    assert [str(p) for p in checked.problems] == [
        "line 3: candidate_id: has the wrong format (expected ^[A-Za-z0-9]{3,9}$)"]


def test_a_byte_order_mark_is_accepted(tmp_path):
    records = []
    checked = check_file(write(tmp_path, b"\xef\xbb\xbf" + f"{HEADER}\n{GOOD}\n".encode()), ENTRY_ROWS,
                         on_record=records.append)
    assert checked.ok and records[0].candidate_id == "123456"


def test_blank_lines_before_the_header_are_skipped_and_lines_still_count(tmp_path):
    problems = problems_of(tmp_path, f"\n,,,,,,\n{HEADER}\n{GOOD}\n123457,12,Amy,Chen,B2_FIRST,2026-06,GB001\n")
    assert problems == ["line 5: secret_number: has the wrong format (expected ^[0-9]{4}$)"]


def test_header_names_may_differ_in_case_and_spacing_and_order(tmp_path):
    header = "Candidate_ID , secret_number,family_name,given_name,exam,session,centre"
    records = []
    checked = check_file(write(tmp_path, f"{header}\n123456,4821,Chen,Amy,B2_FIRST,2026-06,GB001\n"), ENTRY_ROWS,
                         on_record=records.append)
    assert checked.ok and (records[0].given_name, records[0].family_name) == ("Amy", "Chen")


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty: expected a header line with the columns candidate_id,secret_number,"),
    (b"\xef\xbb\xbf \r\n\n", "the file is empty"),
    (f"{HEADER}\n".encode(), "the file has a header but no rows"),
    (f"{HEADER}\n,,,,,,\n".encode(), "the file has a header but no rows"),
    (b"candidate_id,given_name,family_name,exam,session,centre\n1,a,b,c,d,e\n",
     "line 1: missing column(s): secret_number;"),
    (f"{HEADER},email\n{GOOD},a@b.c\n".encode(), "line 1: unknown column(s): email;"),
    (f"{HEADER},\n{GOOD},\n".encode(), "line 1: unknown column(s): (a column with no name)"),
    (f"{HEADER},centre\n{GOOD},x\n".encode(), "line 1: repeated column(s): centre"),
    (HEADER.replace(",", ";").encode() + b"\n", "line 1: the header is not comma-separated"),
    (f"{HEADER}\n{GOOD}\n123457,1234,Chlo\xe9,Martin,B1,2026-06,FR042\n".encode("latin-1"),
     "line 3: the file is not valid UTF-8 (byte 0xE9)"),
    (f"{HEADER}\n{GOOD}\n{GOOD}\x00\n".encode(), "line 3: the file contains a NUL character"),
    (f'{HEADER}\n{GOOD}\n123457,1234,"Amy,Chen,B2_FIRST,2026-06,GB001\n{GOOD}\n'.encode(),
     "lines 3-4: not readable as CSV (unexpected end of data); check the quotes on line 3"),
    (f'{HEADER}\n123457,1234,"Amy" Bee,Chen,B2_FIRST,2026-06,GB001\n'.encode(), "line 2: not readable as CSV"),
])
def test_a_file_that_is_not_the_expected_csv_is_refused_as_a_whole(tmp_path, content, message):
    with pytest.raises(CsvFileError) as refused:
        check_file(write(tmp_path, content), ENTRY_ROWS)
    assert message in str(refused.value)


def test_a_missing_file_and_an_oversized_file_are_refused(tmp_path):
    with pytest.raises(CsvFileError, match="cannot read the file: No such file"):
        check_file(tmp_path / "nope.csv", ENTRY_ROWS)
    with pytest.raises(CsvFileError, match="over the limit"):
        check_file(write(tmp_path, f"{HEADER}\n{GOOD}\n"), ENTRY_ROWS, max_bytes=50)


def test_rules_outside_the_model_can_reject_a_row_with_reasons_by_column(tmp_path):
    """For tools whose rows also meet rules beyond a pydantic model (results and the exams table)."""
    def to_record(cells):
        entry = Entry.model_validate(dict(cells))
        if entry.exam != "B2_FIRST":
            raise RowRejected([("exam", "is not an exam this test knows")])
        return entry

    spec = replace(ENTRY_ROWS, to_record=to_record)
    other_exam = "123457,4821,Amy,Chen,XX,2026-06,GB001"
    checked = check_file(write(tmp_path, f"{HEADER}\n{GOOD}\n{other_exam}\n"), spec)
    assert [str(p) for p in checked.problems] == ["line 3: exam: is not an exam this test knows"]


def test_entries_name_a_known_exam_by_code_or_alias(tmp_path):
    path = write(tmp_path, f"{HEADER}\n123456,4821,Amy,Chen,fce,2026-06,GB001\n123457,4821,Ben,Chen,B2_FRIST,2026-06,GB001\n")
    records = []
    result = check_file(path, ENTRY_ROWS, on_record=records.append)
    assert [(p.line, p.column) for p in result.problems] == [(3, "exam")]
    assert "B2_FRIST" in result.problems[0].reason and "B2_FIRST (FCE)" in result.problems[0].reason
    assert [r.exam for r in records] == ["B2_FIRST"]


def test_checking_holds_no_row_or_record_only_each_key(tmp_path):
    """A release file of hundreds of thousands of rows must not need its size in memory: rows are
    read one at a time and each record is handed on. Holding them took about 1,700 bytes a row."""
    rows = [f"C{n:06d},4821,Amy,Chen,B2_FIRST,2026-06,GB001" for n in range(20_000)]
    path = write(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    tracemalloc.start()
    try:
        checked = check_file(path, ENTRY_ROWS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert checked.ok and checked.records == 20_000
    assert peak < 250 * 20_000, f"{peak / 20_000:.0f} bytes a row at the peak"
