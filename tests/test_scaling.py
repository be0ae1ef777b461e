"""Two processes each of registration, auth, results and notifier on one MongoDB, one broker and one
mail server. Registrations, a 2,000-result batch, log-ins and lockouts run through them; every
result is stored once, every email sent once, locks are exact, and both replicas of each service
did part of the work, as their own /metrics show. One request is followed across services by its
correlation id."""

import asyncio
import itertools
from collections import Counter

import httpx
import pytest

from auth.keys import generate_private_pem
from crs_shared.messaging.contracts import EntriesPublished, Entry
from crs_shared.mongo import create_client
from crs_tools.local_stack import service_wiring
from services.notifier.tests.conftest import all_sent
from services.results.tests.conftest import record, results_part
from tests.support.broker import envelope_for, publish
from tests.support.metrics import scraped
from tests.support.stack import ServiceProcess, service_env, wait_for_entries
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e
PASSWORD, WRONG = "abcdef12", "not-the-password-1"
OPERATOR_TOKEN = "operator-token-for-tests"
REGISTERED = [f"S{n:05d}" for n in range(40)]
LOCKED = REGISTERED[:4]  # these get 20 simultaneous wrong passwords each
RESULTS, PER_PART = 2000, 1000
GUESSES, THRESHOLD = 20, 3  # auth's default lockout threshold: 3 wrong passwords answer 401
KINDS = {"is confirmed": "registration_confirmation", "is now available": "results_ready", "is locked": "login_locked"}


def email_of(candidate_id: str) -> str:
    return f"{candidate_id.lower()}@example.com"


@pytest.fixture
async def replicas(mongo_url, amqp_url, smtp, tmp_path):
    """Two processes per service; replicas of a service share its settings and so its database."""
    def pair(name: str, **extra: str) -> list[ServiceProcess]:
        env = service_env(mongo_url, amqp_url, smtp.port, name) | extra
        return [ServiceProcess(name, env, tmp_path) for _ in range(2)]

    auth = pair("auth", JWT_SIGNING_KEY=generate_private_pem().decode())  # both replicas sign with one key
    stack = {
        "registration": pair("registration"), "auth": auth, "notifier": pair("notifier"),
        "results": pair("results", OPERATOR_TOKEN=OPERATOR_TOKEN, **service_wiring(tmp_path, auth[0].url)["results"]),
    }
    processes = [p for pair_ in stack.values() for p in pair_]
    try:
        await asyncio.gather(*(asyncio.to_thread(p.start) for p in processes))
        yield stack
    finally:
        for process in processes:
            process.stop()


async def test_two_replicas_of_every_service_share_the_work_and_do_everything_once(replicas, mongo_url, amqp_url, smtp):
    stack = replicas
    entries = [Entry(candidate_id=c, secret_number="4821", given_name="Amy", family_name="Chen", exam="B2_FIRST",
                     session="2026-06", centre="GB001") for c in REGISTERED]
    part = EntriesPublished(board="Cambridge", batch_id="scale-entries", part=1, parts=1, entries=entries)
    await publish(amqp_url, (envelope_for(part), part.ROUTING_KEY))
    await wait_for_entries(stack["registration"][0], REGISTERED)

    async with httpx.AsyncClient(timeout=30) as http:
        # Registrations, alternating between the registration replicas.
        answers = await asyncio.gather(*(register(http, url, c) for c, url in
                                         zip(REGISTERED, itertools.cycle(p.url for p in stack["registration"]))))
        assert [a.status_code for a in answers] == [201] * len(REGISTERED)
        await emails(smtp, len(REGISTERED), "registration confirmations")

        # A 2,000-result batch in two parts, mostly for candidates who never registered.
        candidate_ids = REGISTERED + [f"U{n:05d}" for n in range(RESULTS - len(REGISTERED))]
        parts = [results_part([record(c) for c in candidate_ids[i * PER_PART:(i + 1) * PER_PART]],
                              batch_id="scale-results", part=i + 1, parts=2) for i in range(2)]
        await publish(amqp_url, *[(envelope_for(p), p.ROUTING_KEY) for p in parts])
        operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

        async def batch_complete():
            answer = await http.get(f"{stack['results'][1].url}/api/results/batches/scale-results", headers=operator)
            return answer.json() if answer.status_code == 200 and answer.json()["complete"] else None
        report = await wait_until(batch_complete, timeout=120, what="the 2,000-result batch to be stored")
        assert (report["results_stored"], report["results_corrected"], report["results_rejected"]) == (RESULTS, 0, 0)

        # Log-ins spread over both auth replicas; each token opens the candidate's results on either results replica.
        auth_urls = itertools.cycle(p.url for p in stack["auth"])
        results_urls = itertools.cycle(p.url for p in stack["results"])
        tokens = await asyncio.gather(*(log_in(http, next(auth_urls), c) for c in REGISTERED))
        mine = await asyncio.gather(*(http.get(f"{next(results_urls)}/api/results/me",
                                               headers={"Authorization": f"Bearer {t}"}) for t in tokens))
        assert all(m.status_code == 200 and len(m.json()["results"]) == 1 for m in mine), [m.text for m in mine]

        # Lockouts: 20 simultaneous wrong passwords per candidate, split over both auth replicas.
        for candidate_id in LOCKED:
            guesses = await asyncio.gather(*(
                http.post(f"{url}/api/auth/login", json={"candidate_id": candidate_id, "password": WRONG},
                          headers={"X-Request-ID": f"lock-{candidate_id}-{n}"})
                for n, url in zip(range(GUESSES), itertools.cycle(p.url for p in stack["auth"]))))
            assert Counter(g.status_code for g in guesses) == {401: THRESHOLD, 423: GUESSES - THRESHOLD}
            again = await http.post(f"{next(auth_urls)}/api/auth/login",
                                    json={"candidate_id": candidate_id, "password": PASSWORD})
            assert again.status_code == 423

        # Every email once: a confirmation and a results email per registered candidate, a lock notice per lockout.
        expected = 2 * len(REGISTERED) + len(LOCKED)
        await emails(smtp, expected, "all emails")
        notifier_db = stack["notifier"][0].env["DATABASE_NAME"]
        await wait_until(lambda: all_sent(mongo_url, notifier_db), what="no notification left to send")
        messages = smtp.messages()
        assert len(messages) == expected and len({m["Message-ID"] for m in messages}) == expected
        sent = Counter((str(m["To"]), kind(m["Subject"])) for m in messages)
        everyone = ("registration_confirmation", "results_ready")
        assert sent == Counter({(email_of(c), k): 1 for c in REGISTERED for k in everyone}
                               | {(email_of(c), "login_locked"): 1 for c in LOCKED})
        # A lock notice carries the correlation id of one of the log-in requests that made it.
        for message in messages:
            if kind(message["Subject"]) == "login_locked":
                assert message["X-Correlation-ID"].startswith(f"lock-{message['To'].split('@')[0].upper()}-")

        # Every result stored once.
        mongo = create_client(mongo_url)
        stored = mongo[stack["results"][0].env["DATABASE_NAME"]]["results"]
        count, distinct = await stored.count_documents({}), await stored.distinct("candidate_id")
        await mongo.close()
        assert count == RESULTS and sorted(distinct) == sorted(candidate_ids)

        # The replicas' own metrics: both did part of the work, and their sums are exact.
        metrics = {name: [(await http.get(f"{p.url}/metrics")).text for p in pair] for name, pair in stack.items()}

    def per_replica(service: str, name: str, **labels) -> list[float]:
        return [scraped(text, name, **labels) for text in metrics[service]]

    registrations = per_replica("registration", "http_request_duration_seconds_count",
                                route="/api/registration/candidates", method="POST", status="201")
    assert registrations == [len(REGISTERED) / 2] * 2
    published = per_replica("registration", "events_published_total", event_type="CandidateRegistered")
    assert sum(published) == len(REGISTERED)
    assert all(n > 0 for n in per_replica("auth", "http_request_duration_seconds_count", route="/api/auth/login"))
    assert all(n > 0 for n in per_replica("auth", "events_consumed_total", event_type="CandidateRegistered"))
    assert sum(per_replica("auth", "events_published_total", event_type="LoginLocked")) == len(LOCKED)  # locks exact
    assert per_replica("results", "events_consumed_total", event_type="ResultsPublished") == [1, 1]
    assert all(n > 0 for n in per_replica("notifier", "events_consumed_total"))
    assert sum(per_replica("notifier", "events_consumed_total", event_type="CandidateRegistered")) == len(REGISTERED)
    assert sum(per_replica("notifier", "notifications_total", outcome="sent")) == expected
    assert all(n > 0 for n in per_replica("notifier", "notifications_total", outcome="sent"))
    assert all(sum(per_replica(service, "events_dead_lettered_total")) == 0 for service in stack)

    # One registration followed across services by its request id: the HTTP request, the event it
    # caused, the consumers of that event and the email.
    request_id = f"register-{REGISTERED[0]}"
    for service in ("registration", "auth", "notifier"):
        assert any(f'"correlation_id": "{request_id}"' in p.log() for p in stack[service]), service
    [confirmation] = [m for m in smtp.messages_to(email_of(REGISTERED[0]))
                      if kind(m["Subject"]) == "registration_confirmation"]
    assert confirmation["X-Correlation-ID"] == request_id


async def register(http: httpx.AsyncClient, url: str, candidate_id: str) -> httpx.Response:
    body = {"candidate_id": candidate_id, "secret_number": "4821", "email": email_of(candidate_id),
            "password": PASSWORD, "password_confirm": PASSWORD, "accept_terms": True}
    return await http.post(f"{url}/api/registration/candidates", json=body,
                           headers={"X-Request-ID": f"register-{candidate_id}"})


async def log_in(http: httpx.AsyncClient, url: str, candidate_id: str) -> str:
    async def logged_in():
        answer = await http.post(f"{url}/api/auth/login", json={"candidate_id": candidate_id, "password": PASSWORD})
        return answer.json()["access_token"] if answer.status_code == 200 else None  # 401 until auth has the event
    return await wait_until(logged_in, timeout=60, what=f"log-in of {candidate_id}")


def kind(subject: str) -> str:
    [found] = [k for phrase, k in KINDS.items() if phrase in subject]
    return found


async def emails(smtp, count: int, what: str) -> None:
    async def arrived():
        return len(list(smtp.folder.glob("*.eml"))) >= count
    await wait_until(arrived, timeout=120, what=f"{count} emails ({what})")
