"""`results-publish`: rows checked with the exams table the results service uses; the real command
against the real broker."""

import asyncio
import csv
import os
import sys
from pathlib import Path

from crs_shared.domain.exams import find_exam
from crs_tools.board_csv import check_file
from crs_tools.results_publish import COLUMNS, tool_for
from tests.support.broker import EventTap
from tests.support.waiting import wait_until
from tools.tests.test_entries_publish_cli import Ran, summary

RESULTS_PUBLISH = Path(sys.executable).parent / "results-publish"
FCE = find_exam("FCE")
GOOD = ["123456", "Amy", "Chen", "176", "170", "180", "175", "179", "176", "B", "B2", "issued"]


def results_file(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def many(count: int, first: int = 0) -> list[list[str]]:
    return [[f"R{n:06d}", *GOOD[1:]] for n in range(first, first + count)]


async def results_publish(*args: str, amqp_url: str) -> Ran:
    process = await asyncio.create_subprocess_exec(
        str(RESULTS_PUBLISH), *args, env={**os.environ, "AMQP_URL": amqp_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return Ran(process.returncode, out.decode(), err.decode())


def test_good_rows_become_normalised_records(tmp_path):
    withheld = ["SIR094701", "Daniel", "Wu", "", "", "", "", "", "", "", "", "withheld"]
    records = []
    checked = check_file(results_file(tmp_path / "r.csv", [GOOD, withheld]), tool_for(FCE).spec,
                         on_record=records.append)
    assert checked.ok, [str(p) for p in checked.problems]
    issued, held = records
    assert issued.skills == {"reading": 176, "writing": 170, "listening": 180, "speaking": 175, "use_of_english": 179}
    assert (held.status, held.overall_score, held.skills) == ("withheld", None, {})


def test_every_bad_row_is_named_with_its_reasons(tmp_path):
    rows = [
        GOOD,
        ["123457", "Ben", "Okafor", "176", "170", "180", "175", "", "176", "B", "B2", "issued"],  # no use_of_english
        ["123458", "Cal", "Lee", "176", "170", "180", "175", "179", "180", "B", "B2", "issued"],  # wrong overall
        ["123459", "Dee", "Ray", "176", "170", "180", "175", "179", "176", "A", "C1", "issued"],  # wrong grade
        ["123460", "Eve", "Ng", "abc", "170", "180", "175", "179", "176", "B", "B2", "issued"],  # not a number
        ["123456", "Amy", "Chen", "176", "170", "180", "175", "179", "176", "B", "B2", "issued"],  # duplicate
    ]
    checked = check_file(results_file(tmp_path / "r.csv", rows), tool_for(FCE).spec)
    shown = [str(p) for p in checked.problems]
    assert [p.line for p in checked.problems][:1] == [3]
    assert "line 3: use_of_english score is missing" in shown
    assert any(s.startswith("line 4: overall_score 180 is not the average") for s in shown)
    assert any(s.startswith("line 5: grade A does not match overall score 176") for s in shown)
    assert any(s.startswith("line 6: reading:") for s in shown)
    assert any(s.startswith("line 7: candidate_id:") for s in shown)
    assert {p.line for p in checked.problems} == {3, 4, 5, 6, 7}


async def test_1500_results_are_published_as_two_parts_with_the_exam_session_and_release(tmp_path, amqp_url):
    async with EventTap(amqp_url, "results.published") as tap:
        ran = await results_publish(str(results_file(tmp_path / "r.csv", many(1500))), "--board", "Cambridge",
                                    "--exam", "fce", "--session", "2026-06", "--release-at", "2026-08-01T09:00:00Z",
                                    amqp_url=amqp_url)
        assert ran.status == 0, ran.err
        await wait_until(lambda: asyncio.sleep(0, len(tap.messages) >= 2), what="two parts on the tap")
    assert (summary(ran.out)["parts"].strip(), summary(ran.out)["records"].strip()) == ("2", "1500")
    payloads = [e.payload for e in tap.envelopes()]
    assert [(p["part"], p["parts"], len(p["results"])) for p in payloads] == [(1, 2, 1000), (2, 2, 500)]
    assert {(p["exam"], p["session"], p["release_at"]) for p in payloads} == {("B2_FIRST", "2026-06", "2026-08-01T09:00:00Z")}


async def test_a_file_with_bad_rows_exits_non_zero_and_publishes_nothing(tmp_path, amqp_url):
    bad = many(3) + [["R999999", "Amy", "Chen", "176", "170", "180", "175", "179", "199", "B", "B2", "issued"]]
    async with EventTap(amqp_url, "results.published") as tap:
        ran = await results_publish(str(results_file(tmp_path / "bad.csv", bad)), "--board", "Cambridge", "--exam",
                                    "B2_FIRST", "--session", "2026-06", amqp_url=amqp_url)
        assert ran.status == 1 and "line 5: overall_score 199" in ran.err and "nothing was published" in ran.err
        sentinel = await results_publish(str(results_file(tmp_path / "ok.csv", many(1))), "--board", "Sentinel",
                                         "--exam", "B2_FIRST", "--session", "2026-06", amqp_url=amqp_url)
        assert sentinel.status == 0, sentinel.err
        await wait_until(lambda: asyncio.sleep(0, len(tap.messages) >= 1), what="the sentinel on the tap")
    assert [e.payload["board"] for e in tap.envelopes()] == ["Sentinel"]


async def test_bad_options_are_usage_errors(tmp_path, amqp_url):
    path = str(results_file(tmp_path / "r.csv", [GOOD]))
    for options, message in ((["--exam", "XYZ", "--session", "2026-06"], "is not known"),
                             (["--exam", "FCE", "--session", "2026-13"], "YYYY-MM"),
                             (["--exam", "FCE", "--session", "2026-06", "--release-at", "2026-08-01T09:00"], "time zone")):
        ran = await results_publish(path, "--board", "B", *options, amqp_url=amqp_url)
        assert ran.status == 2 and message in ran.err
