"""The installed `entries-publish` command against the real broker (a vhost of the test's own)."""

import asyncio
import csv
import errno
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest

from crs_shared.messaging.topology import declare_exchange
from crs_tools.entries_publish import COLUMNS, main
from crs_tools.record_spool import RecordSpool
from tests.support.broker import EventTap
from tests.support.infrastructure import free_port
from tests.support.waiting import wait_until

ENTRIES_PUBLISH = Path(sys.executable).parent / "entries-publish"
ROUTING_KEY = "entries.published"
EXAMS = ("A2_KEY", "B1_PRELIMINARY", "B2_FIRST", "C1_ADVANCED", "C2_PROFICIENCY")


@dataclass
class Ran:
    status: int
    out: str
    err: str


async def entries_publish(*args: str, amqp_url: str = "amqp://guest:guest@127.0.0.1:1/unused") -> Ran:
    process = await asyncio.create_subprocess_exec(
        str(ENTRIES_PUBLISH), *args, env={**os.environ, "AMQP_URL": amqp_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return Ran(process.returncode, out.decode(), err.decode())


def entries_file(path: Path, count: int, *, first: int = 0) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for n in range(first, first + count):
            writer.writerow([f"C{n:06d}", f"{n % 10_000:04d}", "Amy", f"Chen{n}", EXAMS[n % 5], "2026-06", "GB001"])
    return path


def summary(out: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in out.splitlines() if line.startswith(("batch id:", "parts:", "records:")))


async def publish_sentinel(tmp_path: Path, amqp_url: str) -> str:
    """A valid publish after the one under test: once the tap holds it, anything earlier would be there too."""
    batch_id = f"sentinel-{uuid.uuid4()}"
    ran = await entries_publish(str(entries_file(tmp_path / "sentinel.csv", 1)), "--board", "Sentinel",
                                "--batch-id", batch_id, amqp_url=amqp_url)
    assert ran.status == 0, ran.err
    return batch_id


async def test_2500_rows_are_published_as_three_confirmed_parts_of_one_batch(tmp_path, amqp_url):
    async with EventTap(amqp_url, ROUTING_KEY) as tap:
        ran = await entries_publish(str(entries_file(tmp_path / "entries.csv", 2500)), "--board", "Cambridge",
                                    amqp_url=amqp_url)
        assert ran.status == 0, ran.err
        await wait_until(lambda: asyncio.sleep(0, len(tap.messages) >= 3), what="three parts on the tap")

    shown = summary(ran.out)
    batch_id = shown["batch id"].strip()
    assert uuid.UUID(batch_id).version == 4
    assert (shown["parts"].strip(), shown["records"].strip()) == ("3", "2500")
    assert "Publishing" in ran.err  # the progress bar, on stderr

    envelopes = tap.envelopes()
    assert len(envelopes) == 3
    assert [(e.payload["part"], e.payload["parts"]) for e in envelopes] == [(1, 3), (2, 3), (3, 3)]
    assert {e.payload["batch_id"] for e in envelopes} == {batch_id}
    assert [len(e.payload["entries"]) for e in envelopes] == [1000, 1000, 500]
    assert [x["candidate_id"] for e in envelopes for x in e.payload["entries"]] == [f"C{n:06d}" for n in range(2500)]
    for message, envelope in zip(tap.messages, envelopes, strict=True):
        assert (envelope.event_type, envelope.producer, envelope.correlation_id) == (
            "EntriesPublished", "board:Cambridge", batch_id)
        assert envelope.payload["board"] == "Cambridge"
        assert message.message_id == envelope.event_id
        assert message.type == "EntriesPublished"
        assert message.content_type == "application/json"
        assert message.correlation_id == batch_id
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT


async def test_a_file_with_bad_rows_names_them_and_publishes_nothing(tmp_path, amqp_url):
    path = entries_file(tmp_path / "entries.csv", 1500)
    lines = path.read_text().splitlines()
    lines[2] = "C000001,98765,Amy,Chen,B2_FIRST,2026-06,GB001"   # line 3: secret number of five digits
    lines[1200] = "C001199,1199,Amy,,B2_FIRST,2026-13,GB001"     # line 1201: no family name, no such month
    lines.append(lines[5])                                          # line 1502: line 6 again
    path.write_text("\n".join(lines) + "\n")

    async with EventTap(amqp_url, ROUTING_KEY) as tap:
        ran = await entries_publish(str(path), "--board", "Cambridge", amqp_url=amqp_url)
        sentinel = await publish_sentinel(tmp_path, amqp_url)
        await wait_until(lambda: asyncio.sleep(0, tap.messages), what="the sentinel on the tap")

    assert ran.status == 1
    assert ran.err.splitlines() == [
        f"error: {path}: 4 problems in 3 rows (of 1501); nothing was published.",
        "line 3: secret_number: has the wrong format (expected ^[0-9]{4}$)",
        "line 1201: family_name: is empty",
        "line 1201: session: has the wrong format (expected ^[0-9]{4}-(0[1-9]|1[0-2])$)",
        "line 1502: candidate_id: C000004 is already on line 6",
    ]
    assert "98765" not in ran.err + ran.out
    assert [e.payload["batch_id"] for e in tap.envelopes()] == [sentinel]


async def test_a_file_that_is_not_csv_of_entries_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "entries.csv"
    path.write_bytes("candidate_id,secret_number,given_name,family_name,exam,session\n1,2,3,4,5,6\n".encode("utf-16"))
    ran = await entries_publish(str(path), "--board", "Cambridge")
    assert ran.status == 1
    assert "line 1: the file is not valid UTF-8" in ran.err and "Nothing was published." in ran.err


async def test_a_dry_run_checks_and_summarises_but_publishes_nothing(tmp_path, amqp_url):
    async with EventTap(amqp_url, ROUTING_KEY) as tap:
        ran = await entries_publish(str(entries_file(tmp_path / "entries.csv", 1001)), "--board", "Cambridge",
                                    "--dry-run", "--batch-id", "would-be", amqp_url=amqp_url)
        sentinel = await publish_sentinel(tmp_path, amqp_url)
        await wait_until(lambda: asyncio.sleep(0, tap.messages), what="the sentinel on the tap")

    assert ran.status == 0, ran.err
    assert ran.out.splitlines()[0] == f"Dry run: {tmp_path / 'entries.csv'} is valid; nothing was published."
    assert {k: v.strip() for k, v in summary(ran.out).items()} == {
        "batch id": "would-be", "parts": "2", "records": "1001"}
    assert [e.payload["batch_id"] for e in tap.envelopes()] == [sentinel]


async def test_an_unreachable_broker_is_reported_without_its_password(tmp_path):
    ran = await entries_publish(str(entries_file(tmp_path / "entries.csv", 3)), "--board", "Cambridge",
                                "--amqp-url", f"amqp://guest:topsecret@127.0.0.1:{free_port()}/")
    assert ran.status == 3
    assert "error: cannot connect to the broker at amqp://guest:***@127.0.0.1:" in ran.err
    assert ": Connection refused" in ran.err
    assert "No part was confirmed by the broker." in ran.err and "Not published: part 1 of 1." in ran.err
    assert "topsecret" not in ran.err + ran.out


async def test_an_unroutable_part_counts_as_not_sent(tmp_path, amqp_url):
    # A fresh vhost: no queue is bound to entries.published, so the broker returns the part.
    ran = await entries_publish(str(entries_file(tmp_path / "entries.csv", 3)), "--board", "Cambridge",
                                amqp_url=amqp_url)
    assert ran.status == 3
    assert "part 1 of 1 was not published: the broker returned it as unroutable" in ran.err
    assert "--batch-id " in ran.err


async def test_a_batch_refused_midway_says_which_parts_were_confirmed_and_finishes_on_a_rerun(tmp_path, amqp_url):
    path = entries_file(tmp_path / "entries.csv", 2500)
    connection = await aio_pika.connect(amqp_url)
    async with connection, EventTap(amqp_url, ROUTING_KEY) as tap:
        channel = await connection.channel()
        # A queue that takes one message and then makes the broker refuse (nack) every further one.
        full = await channel.declare_queue("full", arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
        await full.bind(await declare_exchange(channel), ROUTING_KEY)

        first = await entries_publish(str(path), "--board", "Cambridge", "--batch-id", "b-2026-06", amqp_url=amqp_url)
        assert first.status == 3
        assert "error: part 2 of 3 was not published: the broker refused it" in first.err
        assert "Confirmed by the broker: part 1 of 3 (1,000 records)." in first.err
        assert "Not published: parts 2-3 of 3." in first.err
        assert "Run the same command again with --batch-id b-2026-06" in first.err

        await full.delete(if_unused=False, if_empty=False)
        again = await entries_publish(str(path), "--board", "Cambridge", "--batch-id", "b-2026-06", amqp_url=amqp_url)
        assert again.status == 0, again.err
        await wait_until(lambda: asyncio.sleep(0, [e.payload["part"] for e in tap.envelopes()][-3:] == [1, 2, 3]),
                         what="the whole batch on the tap")
    assert {e.payload["batch_id"] for e in tap.envelopes()} == {"b-2026-06"}
    assert summary(again.out)["batch id"].strip() == "b-2026-06"


SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "sample-data" / "entries.csv"


@pytest.mark.parametrize("args, message", [
    (["--board", "x" * 97], "--board: the name is too long (board:NAME must fit in 100 characters)"),
    (["--board", "  "], "--board: String should have at least 1 character"),
    (["--board", "X", "--batch-id", ""], "--batch-id: String should have at least 1 character"),
    (["--board", "X", "--amqp-url", "http://127.0.0.1:15672/"], "--amqp-url (or AMQP_URL): expected amqp://"),
    ([], "the following arguments are required: --board"),
])
def test_bad_arguments_are_usage_errors_and_publish_nothing(args, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main([str(SAMPLE), *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_records_that_cannot_be_kept_on_disk_stop_the_run_with_the_reason(monkeypatch, capsys):
    def full_disk(spool, record):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(RecordSpool, "append", full_disk)
    assert main([str(SAMPLE), "--board", "X", "--amqp-url", "amqp://guest:guest@127.0.0.1:1/"]) == 3
    err = capsys.readouterr().err
    assert "error: cannot keep the checked records in a temporary file: No space left on device" in err
    assert "Nothing was published." in err
