"""Release day: N registered candidates, then an N-result batch published with the real
`results-publish`, timed until every result can be read and every "your result is available"
email has reached the SMTP server; then the three floors with the same messages, documents and
emails on the same servers."""

import argparse
import asyncio
import csv
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import httpx

from bench import floors
from bench.profiles import Profiler, no_profile
from bench.system import OPERATOR_TOKEN, System, peak_memory_mib, reset_peak_memory
from crs_shared.domain.exams import ISSUED, find_exam
from crs_shared.messaging.contracts import CandidateRegistered, ResultsPublished
from crs_shared.messaging.envelope import new_envelope
from crs_shared.messaging.publisher import EventPublisher
from crs_shared.mongo import create_client
from crs_tools import results_publish
from crs_tools.board_csv import check_file
from crs_tools.board_publish import prepare_batch
from crs_tools.local_stack import BIN
from crs_tools.record_spool import RecordSpool

EXAM, SESSION, BOARD = "B2_FIRST", "2026-06", "bench"
PASSWORD = "benchmark42"  # every made-up candidate's password; its hash is made once
PUBLISH_WINDOW = 500  # registrations awaiting their confirms at once
# Only results consumes ResultsPublished; the notifier mails from the ResultsReleased it publishes.
RESULTS_PUBLISHED_QUEUES = 1
POLL_SECONDS = 0.1  # the batch report: when results are readable is known to this precision
# How long one poll of the batch report may take: a results service busy storing parts on a loaded
# machine has taken over httpx's default 5 s, and a late answer means "not yet", not a failed run.
REPORT_TIMEOUT_SECONDS = 30.0
# Listing tens of thousands of files costs CPU on the cores being measured, and when each email
# arrived is read from the file names anyway: this only decides when to stop waiting.
MAIL_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Candidates:
    """What the set-up made: the generator's files and the registered candidates."""
    ids: list[str]
    results_csv: Path
    issued: frozenset[str]  # the candidates whose result gets an email: the issued ones (all are registered)
    setup_seconds: float


def mail_files(folder: Path) -> set[str]:
    """The messages the capture server has stored (it renames each into place when complete)."""
    return {entry.name for entry in os.scandir(folder) if entry.name.endswith(".eml") and entry.name[0] != "."}


def address(candidate_id: str) -> str:
    """The email address each made-up candidate registers with."""
    return f"{candidate_id.lower()}@example.com"


def addressing(folder: Path, names: set[str]) -> dict[str, tuple[str, str]]:
    """Each message's recipient and Message-ID, from its headers."""
    found = {}
    for name in names:
        headers = floors.mail_headers(folder / name)
        found[name] = (headers["To"].addresses[0].addr_spec, str(headers["Message-ID"]))
    return found


def check_addressing(addressed: dict[str, tuple[str, str]], expected: set[str]) -> dict:
    """Fails unless the messages went to exactly the expected addresses; counts what repeats."""
    to = Counter(recipient for recipient, _ in addressed.values())
    if unexpected := to.keys() - expected:
        raise RuntimeError(f"release day: {len(unexpected)} result emails went to addresses without an issued "
                           f"result, e.g. {sorted(unexpected)[:3]}")
    if missing := expected - to.keys():
        raise RuntimeError(f"release day: {len(missing)} candidates with an issued result got no email, "
                           f"e.g. {sorted(missing)[:3]}")
    message_ids = Counter(message_id for _, message_id in addressed.values())
    return {"emails_beyond_one_per_recipient": sum(to.values()) - len(to),
            "repeated_message_ids": sum(message_ids.values()) - len(message_ids)}


def stored_at_ns(name: str) -> int:
    """The capture server names each file `<time_ns>-<pid>-<n>.eml` when it accepts the message."""
    return int(name.split("-", 1)[0])


async def batch_report(client: httpx.AsyncClient, batch_id: str) -> dict | None:
    """The results service's report of the batch, or None while none of it has arrived or the
    service is too busy to answer in time (the caller's deadline decides when to give up)."""
    try:
        response = await client.get(f"/api/results/batches/{batch_id}", timeout=REPORT_TIMEOUT_SECONDS)
    except httpx.TimeoutException:
        return None
    if response.status_code == 404:  # no part has arrived yet
        return None
    return response.raise_for_status().json()


async def wait_until(check, *, timeout: float, what: str, every: float = POLL_SECONDS) -> float:
    """Polls the async `check` until it is true; returns when (perf_counter), or fails saying what."""
    deadline = time.perf_counter() + timeout
    while not await check():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"release day: {what} not reached within {timeout:.0f} s")
        await asyncio.sleep(every)
    return time.perf_counter()


def deadline_for(n: int) -> float:
    return 600 + n / 10


async def register(system: System, entries: list[dict]) -> None:
    """CandidateRegistered for each entry, as registration publishes it (with confirms), all with
    the same argon2id hash: hashing N passwords would only time the hashing again."""
    password_hash = floors.argon2_hasher().hash(PASSWORD)
    now = datetime.now(UTC)
    connection = await aio_pika.connect(system.amqp_url)
    async with connection:
        publisher = EventPublisher(connection)
        await publisher.start()
        for start in range(0, len(entries), PUBLISH_WINDOW):
            await asyncio.gather(*(
                publisher.publish(new_envelope(
                    CandidateRegistered(
                        candidate_id=e["candidate_id"], email=address(e["candidate_id"]),
                        given_name=e["given_name"], family_name=e["family_name"],
                        language="zh-TW" if i % 10 == 0 else "en", password_hash=password_hash, registered_at=now),
                    producer="registration", correlation_id=f"bench-{e['candidate_id']}", occurred_at=now),
                    CandidateRegistered.ROUTING_KEY)
                for i, e in enumerate(entries[start:start + PUBLISH_WINDOW], start=start)))


async def set_up(system: System, n: int, workdir: Path) -> Candidates:
    started = time.perf_counter()
    generated = await asyncio.create_subprocess_exec(
        str(BIN / "sample-data"), "--n", str(n), "--exam", EXAM, "--session", SESSION, "--out", str(workdir),
        stdout=asyncio.subprocess.DEVNULL)
    if await generated.wait() != 0:
        raise RuntimeError("sample-data failed")
    with (workdir / "entries.csv").open(encoding="utf-8") as f:
        entries = list(csv.DictReader(f))
    results_csv = workdir / f"results-{EXAM}.csv"
    with results_csv.open(encoding="utf-8") as f:
        results = list(csv.DictReader(f))
    ids = [e["candidate_id"] for e in entries]
    if [r["candidate_id"] for r in results] != ids or len(ids) != n:
        raise RuntimeError("sample-data's results are not for the candidates of its entries")
    await register(system, entries)
    credentials = create_client(system.mongo_url)["auth"]["credentials"]

    async def all_registered() -> bool:
        return (len(mail_files(system.mail_folder)) >= n
                and await credentials.count_documents({}) >= n)

    await wait_until(all_registered, timeout=deadline_for(n), what=f"{n} credentials and confirmation emails",
                     every=MAIL_POLL_SECONDS)
    await credentials.database.client.close()
    return Candidates(ids, results_csv, frozenset(r["candidate_id"] for r in results if r["status"] == ISSUED),
                      time.perf_counter() - started)


async def _publish(system: System, csv_path: Path, batch_id: str) -> float:
    process = await asyncio.create_subprocess_exec(
        str(BIN / "results-publish"), str(csv_path), "--board", BOARD, "--exam", EXAM, "--session", SESSION,
        "--batch-id", batch_id, "--amqp-url", system.amqp_url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"results-publish failed ({process.returncode}): {err.decode(errors='replace')[-2000:]}")
    return time.perf_counter()


async def measure(system: System, candidates: Candidates, profiler: Profiler = no_profile) -> dict:
    n, memory_of = len(candidates.ids), ("registration", "auth", "results", "notifier")
    for name in memory_of:
        reset_peak_memory(system.pid(name))
    before = mail_files(system.mail_folder)
    expected = {address(candidate_id) for candidate_id in candidates.issued}
    addressed: dict[str, tuple[str, str]] = {}
    batch_id = f"bench-{uuid.uuid4().hex[:12]}"
    report: dict = {}

    async with httpx.AsyncClient(base_url=system.service_url("results"),
                                 headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as client:
        async def all_readable() -> bool:
            if (latest := await batch_report(client, batch_id)) is None:
                return False
            report.update(latest)
            return report["complete"] and report["results_stored"] + report["results_rejected"] >= n

        async def all_emailed() -> bool:
            new = mail_files(system.mail_folder) - before
            if len(new) < len(expected):  # the file names alone: the cheap test, until it can pass
                return False
            # Read in a thread: the batch report is polled meanwhile.
            addressed.update(await asyncio.to_thread(addressing, system.mail_folder, new - addressed.keys()))
            # Done when every expected address has its email, or when one went elsewhere (which
            # check_addressing then reports); waiting only while the recipients are some of those expected.
            return not {recipient for recipient, _ in addressed.values()} < expected

        with (profiler("release_day", {name: system.pid(name) for name in ("results", "notifier", "mongodb")}) as profiles,
              system.cpu_use() as cpu):
            start_ns, start = time.time_ns(), time.perf_counter()
            published, readable, _ = await asyncio.gather(
                _publish(system, candidates.results_csv, batch_id),
                wait_until(all_readable, timeout=deadline_for(n), what="every result readable"),
                wait_until(all_emailed, timeout=deadline_for(n),
                           what="an email to every candidate with an issued result", every=MAIL_POLL_SECONDS))
    new_mail = sorted(mail_files(system.mail_folder) - before)
    addressed.update(addressing(system.mail_folder, set(new_mail) - addressed.keys()))
    repeats = check_addressing(addressed, expected)
    sent = sorted(stored_at_ns(name) for name in new_mail)
    first_email, last_email = (sent[0] - start_ns) / 1e9, (sent[-1] - start_ns) / 1e9
    sending = last_email - first_email
    return {
        "batch_id": batch_id, "results": n, "results_stored": report["results_stored"],
        "results_rejected": report["results_rejected"], "emails": len(sent), **repeats,
        "publish_seconds": published - start,
        "results_readable_seconds": readable - start,
        "first_email_seconds": first_email,
        "emails_done_seconds": last_email,
        "end_to_end_seconds": max(readable - start, last_email),
        "throughput_per_second": {
            "publish": n / (published - start),
            "results_stored": n / (readable - start),
            "emails_sending": len(sent) / sending if sending > 0 else None,
            "emails_end_to_end": len(sent) / last_email,
        },
        "peak_memory_mib": {name: round(peak_memory_mib(system.pid(name)), 1) for name in memory_of},
        "cpu_seconds_by_process": cpu,
        "profiles": profiles,
        "new_mail": new_mail,
    }


def batch_bodies(csv_path: Path) -> list[bytes]:
    """The part bodies results-publish sends for this file (their event ids and times differ)."""
    tool = results_publish.tool_for(find_exam(EXAM))
    args = argparse.Namespace(board=BOARD, session=SESSION, release_at=None)
    batch_id = f"floor-{uuid.uuid4().hex[:12]}"
    with RecordSpool(tool.record_model) as records:
        check_file(csv_path, tool.spec, on_record=records.append)
        batch = prepare_batch(records, batch_id=batch_id, make_part=tool.part_builder(args, batch_id))
        return [envelope.to_json() for envelope in batch.envelopes()]


async def measure_floors(system: System, candidates: Candidates, new_mail: list[str]) -> dict:
    client = create_client(system.mongo_url)
    try:
        documents = await client["results"]["results"].find({}).to_list()
    finally:
        await client.close()
    messages = [system.mail_folder / name for name in new_mail]
    return {
        "broker": await floors.broker(system.scratch_vhost(), batch_bodies(candidates.results_csv),
                                      ResultsPublished.ROUTING_KEY, RESULTS_PUBLISHED_QUEUES),
        "bulk_insert": await floors.bulk_insert(system.mongo_url, documents),
        # What the capture server takes from as many connections as the notifier sends with: the
        # floor of the emails. One connection waits for each answer and leaves the server idle
        # much of the time; it stays beside it, so that ratios to it can be compared across runs.
        "smtp": await smtp_floor(system, messages, system.smtp_connections),
        "smtp_one_connection": await smtp_floor(system, messages, 1),
    }


async def smtp_floor(system: System, messages: list[Path], connections: int) -> dict:
    """floors.smtp, with the share of its time the capture server spent on the CPU."""
    with system.cpu_use() as cpu:
        floor = await floors.smtp(system.smtp_port, messages, connections)
    return floor | {"capture_server_cpu_share": cpu["smtp"] / floor["seconds"]}


def ratios(measured: dict, floor: dict) -> dict:
    floor_sum = floor["broker"]["seconds"] + floor["bulk_insert"]["seconds"] + floor["smtp"]["seconds"]
    rates = measured["throughput_per_second"]
    sending = rates["emails_sending"] or 0.0
    stages = {
        "publish_over_broker": measured["publish_seconds"] / floor["broker"]["seconds"],
        "results_readable_over_bulk_insert": measured["results_readable_seconds"] / floor["bulk_insert"]["seconds"],
        "emails_sending_over_smtp": (measured["emails_done_seconds"] - measured["first_email_seconds"])
        / floor["smtp"]["seconds"],
    }
    # The stage that takes the most time beyond its floor: where to look first.
    extra = {
        "publish_over_broker": measured["publish_seconds"] - floor["broker"]["seconds"],
        "results_readable_over_bulk_insert": measured["results_readable_seconds"] - floor["bulk_insert"]["seconds"],
        "emails_sending_over_smtp": measured["emails_done_seconds"] - measured["first_email_seconds"]
        - floor["smtp"]["seconds"],
    }
    return {
        "floor_sum_seconds": floor_sum,
        "end_to_end_over_floor_sum": measured["end_to_end_seconds"] / floor_sum,
        "stages_over_floor": stages,
        "seconds_beyond_floor": extra,
        "most_time_beyond_floor": max(extra, key=extra.get),
        # Emails per second while sending (first email to last), and from the start of the publish.
        "emails_share_of_smtp_floor": sending / floor["smtp"]["per_second"],
        "emails_from_publish_share_of_smtp_floor": rates["emails_end_to_end"] / floor["smtp"]["per_second"],
        "emails_share_of_one_connection_floor": sending / floor["smtp_one_connection"]["per_second"],
    }


async def run(system: System, n: int, workdir: Path, profiler: Profiler = no_profile) -> tuple[dict, Candidates]:
    candidates = await set_up(system, n, workdir)
    print(f"Set-up done in {candidates.setup_seconds:.0f} s; publishing {n:,} results...", flush=True)
    measured = await measure(system, candidates, profiler)
    new_mail = measured.pop("new_mail")
    print(f"All readable after {measured['results_readable_seconds']:.1f} s, all emailed after "
          f"{measured['emails_done_seconds']:.1f} s; floors...", flush=True)
    floor = await measure_floors(system, candidates, new_mail)
    return {"parameters": {"n": n, "exam": EXAM, "session": SESSION},
            "setup_seconds": candidates.setup_seconds, "measured": measured, "floors": floor,
            "ratios": ratios(measured, floor)}, candidates
