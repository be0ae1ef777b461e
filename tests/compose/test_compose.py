"""The production shape booted for real: docker-compose.yml with its offline stand-ins
(docker-compose.offline.yml; no registry answers here), built from a clean state (the images stay
cached between runs), and driven only from this machine: the board tools over the published AMQP
port, everything else through the gateway on a published 127.0.0.1 port.

1. Entries go in with `entries-publish`; candidates register; the confirmation arrives.
2. A candidate logs in; `results-publish` releases 2,000 results; the candidate sees theirs.
3. In the middle of that release the notifier is scaled to 3 and results to 2, and the notifier
   sending the results emails is killed: every candidate still gets theirs, a repeat carries the
   same Message-ID, and there are at most DISPATCH_RECORD_GROUP repeats.
4. Everything comes down with its volumes.

Where Docker cannot run, the test fails and says what is missing."""

import asyncio
import csv
import email
import email.policy
import json
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from crs_tools.local_stack import free_port
from tests.support.compose import prepare_env
from tests.support.metrics import scraped
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = [str(ROOT / "deploy" / "compose" / "compose.sh")]
PROJECT = "crscomposetest"
NETWORK_PREFIX = "172.30.239"  # not docker-compose.yml's, so that a `make up` stack can run beside
EXAM, SESSION, RESULTS = "B2_FIRST", "2026-06", 2000
REGISTERED = 10  # the gateway's registration burst from one address
PASSWORD = "abcdef12"
DISPATCH_RECORD_GROUP = 3  # tests/compose/docker-compose.test.yml
# registration's /metrics, read inside its container (the services publish no port)
METRICS = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8001/metrics').read().decode())"
# results' batch report for operators, asked inside its container (it is not behind the gateway):
# 404 until the batch's first part is stored
BATCH_REPORT = """
import os, urllib.error, urllib.request
request = urllib.request.Request("http://127.0.0.1:8003/api/results/batches/{batch_id}",
                                 headers={{"Authorization": "Bearer " + os.environ["OPERATOR_TOKEN"]}})
try:
    print(urllib.request.urlopen(request).read().decode())
except urllib.error.HTTPError as error:
    print('{{"complete": false, "status": %d}}' % error.code)
"""
KINDS = {"is confirmed": "registration_confirmation", "is now available": "results_ready"}


class Stack:
    """The test's compose project: its own name, env file, ports, network and mail folder."""

    def __init__(self, folder: Path):
        make_up = prepare_env()
        self.mail = folder / "mail"
        self.mail.mkdir()
        self.ports = {name: free_port() for name in ("GATEWAY_PORT", "RABBITMQ_AMQP_PORT", "RABBITMQ_UI_PORT",
                                                      "MAILPIT_UI_PORT")}
        settings = make_up.read_env(make_up.fill_secrets(make_up.EXAMPLE.read_text()))
        users = folder / "rabbitmq-users.json"
        users.write_text(json.dumps(make_up.users_definitions(settings)))
        users.chmod(0o644)
        settings |= {name: str(port) for name, port in self.ports.items()} | {
            "COMPOSE_PROJECT_NAME": PROJECT, "NETWORK_PREFIX": NETWORK_PREFIX,
            "RABBITMQ_USERS_DEFINITIONS": str(users), "OFFLINE_MAIL_FOLDER": str(self.mail),
            "SMTP_CONNECTIONS": "2"}
        self.env_file = folder / "compose.env"
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        self.gateway = f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}"
        # The board tools publish with a board's own account, as a board does (publish only).
        self.amqp_url = (f"amqp://board-example:{settings['RABBITMQ_BOARD_EXAMPLE_PASSWORD']}"
                         f"@127.0.0.1:{self.ports['RABBITMQ_AMQP_PORT']}/")

    def compose(self, *args: str, timeout: float = 120) -> str:
        # compose.sh gives docker-compose.yml and docker-compose.offline.yml; this file comes after them.
        command = [*COMPOSE, "-p", PROJECT, "--env-file", str(self.env_file),
                   "-f", str(Path(__file__).parent / "docker-compose.test.yml"), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                              env={**os.environ, "CRS_COMPOSE_OFFLINE": "1"})
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).split()

    def messages(self) -> list[email.message.EmailMessage]:
        return [email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                for path in sorted(self.mail.glob("*.eml"))]


def docker(*args: str, timeout: float = 60) -> str:
    """Its standard output and error, one after the other."""
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"docker {' '.join(args)} failed: {done.stderr}"
    return done.stdout + done.stderr


def left_behind() -> list[str]:
    label = f"label=com.docker.compose.project={PROJECT}"
    return [f"{kind}: {name}" for kind in ("container", "network", "volume")
            for name in docker(kind, "ls", *(["-a"] if kind == "container" else []), "-q", "--filter", label).split()]


@pytest.fixture(scope="module")
def dockerd():
    """A Docker daemon: the machine's, or one started here and stopped again by its PID."""
    started = subprocess.run([str(ROOT / "deploy" / "docker" / "ensure-dockerd.sh")], capture_output=True, text=True)
    if started.returncode != 0:
        pytest.fail(f"Docker cannot run here: {started.stderr.strip()}")
    pid = started.stdout.strip()
    yield
    if pid:
        subprocess.run(["kill", pid], check=True)
        subprocess.run(["tail", f"--pid={pid}", "-f", "/dev/null"], timeout=60)


@pytest.fixture
def stack(dockerd, tmp_path):
    if not (ROOT / "var" / "wheelhouse" / ".built").exists():
        pytest.fail("No wheelhouse for the images: run `make wheelhouse` (`make test` does).")
    stack = Stack(tmp_path)
    stack.compose("down", "--volumes", "--remove-orphans")  # a clean state, even after an interrupted run
    try:
        # A cold build is mostly apt and pip waiting on the network: the images build side by side.
        stack.compose("build", "--parallel", timeout=900)
        stack.compose("up", "-d", timeout=300)
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", timeout=300)
    assert left_behind() == []


def board_tool(stack: Stack, tool: str, *args: str) -> None:
    done = subprocess.run([str(BIN / tool), "--board", "Cambridge", "--amqp-url", stack.amqp_url, *args],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def kind(message) -> str:
    [found] = [k for phrase, k in KINDS.items() if phrase in str(message["Subject"])]
    return found


def sent(stack: Stack, wanted: str) -> dict[str, list[str]]:
    """Message-IDs of the emails of one kind, by recipient."""
    found = defaultdict(list)
    for message in stack.messages():
        if kind(message) == wanted:
            found[str(message["To"])].append(str(message["Message-ID"]))
    return found


async def test_the_stack_boots_scales_and_survives_a_killed_notifier(stack, tmp_path):
    subprocess.run([str(BIN / "sample-data"), "--n", str(RESULTS), "--exam", EXAM, "--session", SESSION,
                    "--out", str(tmp_path)], check=True, capture_output=True)
    results = {row["candidate_id"]: row for row in csv.DictReader((tmp_path / f"results-{EXAM}.csv").open())}
    # Candidates whose result is issued: a withheld or pending one is not emailed.
    candidates = [entry for entry in csv.DictReader((tmp_path / "entries.csv").open())
                  if results[entry["candidate_id"]]["status"] == "issued"][:REGISTERED]
    addresses = {c["candidate_id"]: f"{c['candidate_id'].lower()}@example.com" for c in candidates}

    # 1. Entries from the board's tool, registrations through the gateway, their confirmations.
    board_tool(stack, "entries-publish", str(tmp_path / "entries.csv"))
    async with httpx.AsyncClient(base_url=stack.gateway, timeout=30) as http:
        async def register(candidate) -> None:
            body = {"candidate_id": candidate["candidate_id"], "secret_number": candidate["secret_number"],
                    "email": addresses[candidate["candidate_id"]], "password": PASSWORD,
                    "password_confirm": PASSWORD, "accept_terms": True}
            answer = await http.post("/api/registration/candidates", json=body)
            assert answer.status_code == 201, answer.text

        # Registering before the entries are stored would be guessing (five wrong guesses hold an
        # ID for an hour): registration's own metrics say when it has both parts of 1,000.
        async def entries_stored():
            metrics = await asyncio.to_thread(stack.compose, "exec", "-T", "registration", "python", "-c", METRICS)
            return scraped(metrics, "events_consumed_total", event_type="EntriesPublished") == 2
        await wait_until(entries_stored, timeout=120, interval=1, what="registration to store the entries")
        await asyncio.gather(*(register(c) for c in candidates))

        async def confirmations():
            found = sent(stack, "registration_confirmation")
            return found if len(found) == REGISTERED else None
        confirmed = await wait_until(confirmations, timeout=120, what="the registration confirmations")
        assert set(confirmed) == set(addresses.values())
        [first] = [m for m in stack.messages() if str(m["To"]) == addresses[candidates[0]["candidate_id"]]]
        assert candidates[0]["candidate_id"] in first.get_body(("plain",)).get_content()

        # 2. and 3. The release, scaled up while it runs, with the sending notifier killed.
        async def log_in(candidate) -> str:
            async def logged_in():  # 401 until auth has the registration
                answer = await http.post("/api/auth/login",
                                         json={"candidate_id": candidate["candidate_id"], "password": PASSWORD})
                return answer.json()["access_token"] if answer.status_code == 200 else None
            return await wait_until(logged_in, timeout=60, what=f"log-in of {candidate['candidate_id']}")
        token = await log_in(candidates[0])
        me = {"Authorization": f"Bearer {token}"}
        assert (await http.get("/api/results/me", headers=me)).json()["results"] == []

        batch_id = f"compose-{uuid.uuid4().hex[:8]}"
        await asyncio.to_thread(board_tool, stack, "results-publish", "--exam", EXAM, "--session", SESSION,
                                "--batch-id", batch_id, str(tmp_path / f"results-{EXAM}.csv"))
        await asyncio.to_thread(stack.compose, "up", "-d", "--no-deps", "--scale", "notifier=3",
                                "--scale", "results=2", "notifier", "results")
        notifiers = stack.containers("notifier")
        assert len(notifiers) == 3 and len(stack.containers("results")) == 2

        async def sending_notifier():
            for container in notifiers:
                logs = await asyncio.to_thread(docker, "logs", container)  # the services log to stderr
                if any('"email sent"' in line and "results_ready" in line for line in logs.splitlines()):
                    return container
            return None
        victim = await wait_until(sending_notifier, timeout=180, interval=0.2, what="a notifier sending results emails")
        await asyncio.to_thread(docker, "kill", victim)
        assert len(sent(stack, "results_ready")) < REGISTERED, "the notifier was killed after it had sent everything"

        async def stored():
            report = json.loads(await asyncio.to_thread(stack.compose, "exec", "-T", "results", "python", "-c",
                                                        BATCH_REPORT.format(batch_id=batch_id)))
            return report if report["complete"] else None
        report = await wait_until(stored, timeout=300, interval=1, what=f"the {RESULTS:,}-result batch to be stored")
        assert (report["results_stored"], report["results_rejected"]) == (RESULTS, 0)
        mine = (await http.get("/api/results/me", headers=me)).json()
        published = results[candidates[0]["candidate_id"]]
        assert mine["candidate_id"] == published["candidate_id"]
        assert [(r["exam"], r["overall_score"]) for r in mine["results"]] == [(EXAM, int(published["overall_score"]))]

        async def every_results_email():
            found = sent(stack, "results_ready")
            return found if len(found) == REGISTERED else None
        ready = await wait_until(every_results_email, timeout=180, what="a results email to every candidate")
    assert set(ready) == set(addresses.values())
    repeats = 0
    for message_ids in [*ready.values(), *sent(stack, "registration_confirmation").values()]:
        assert len(set(message_ids)) == 1, f"a repeat with another Message-ID: {message_ids}"
        repeats += len(message_ids) - 1
    assert repeats <= DISPATCH_RECORD_GROUP
