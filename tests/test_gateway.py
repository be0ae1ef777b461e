"""The nginx gateway as a real process (deploy/gateway/nginx.conf.template), in front of stand-in
services that echo what reached them: routing, request ids, rate limits, headers, gzip, limits."""

import gzip
import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from crs_tools.gateway import find_nginx
from tests.support.gateway import EchoUpstream, GatewayProcess

pytestmark = pytest.mark.e2e

PAGES = ["/", "/register", "/login", "/forgot-password", "/reset-password", "/results", "/verify", "/logout"]


@pytest.fixture(scope="module")
def upstreams():
    if find_nginx() is None:
        pytest.fail("nginx is not installed: `make test` installs Debian's nginx "
                    "(deploy/local/ensure-system-packages.sh)")
    started = {
        "registration": [EchoUpstream("registration").start()],
        "auth": [EchoUpstream("auth-1").start(), EchoUpstream("auth-2").start()],
        "results": [EchoUpstream("results", padding=200).start()],
    }
    yield started
    for servers in started.values():
        for server in servers:
            server.stop()


@pytest.fixture
def gateway(upstreams, tmp_path):
    """A fresh gateway per test, so each starts with empty rate-limit counters."""
    process = GatewayProcess({name: [s.address for s in servers] for name, servers in upstreams.items()},
                             tmp_path).start()
    yield process
    process.stop()


@pytest.fixture
def http(gateway):
    with httpx.Client(base_url=gateway.url, timeout=10) as client:
        yield client


def test_routes_each_api_to_its_service_with_the_full_path(http, upstreams):
    assert http.post("/api/registration/candidates", json={}).json()["upstream"] == "registration"
    answer = http.get("/api/results/me/r1/statement.pdf?x=1").json()
    assert (answer["upstream"], answer["path"]) == ("results", "/api/results/me/r1/statement.pdf?x=1")
    answered_by = {http.post("/api/auth/logout").json()["upstream"] for _ in range(6)}
    assert answered_by == {"auth-1", "auth-2"}  # an upstream holds several replicas


def test_unknown_api_paths_answer_404_json(http):
    for path in ("/api/nothing", "/api/notifier/notifications/failed", "/api/registrationx"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "There is no such API endpoint.", "code": "not_found"}
        assert response.headers["Content-Type"].startswith("application/json")


def test_portal_pages_are_served_at_clean_urls(http):
    for path in PAGES:
        response = http.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Type"] == "text/html; charset=utf-8"
        assert '<script type="module" src="/assets/js/app.js"></script>' in response.text
    missing = http.get("/no-such-page")
    assert missing.status_code == 404 and 'data-page="not-found"' in missing.text
    assert http.get("/i18n/zh-TW.json").json()["login"]["heading"] == "登入"


def test_request_id_is_passed_on_and_returned(http, upstreams):
    given = http.post("/api/registration/candidates", json={}, headers={"X-Request-ID": "trace-123"})
    assert given.headers["X-Request-ID"] == "trace-123"
    assert given.json()["request_id"] == "trace-123"
    assert "upstream-must-not-leak" not in given.headers.get_list("X-Request-ID")

    generated = http.post("/api/registration/candidates", json={})
    request_id = generated.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert generated.json()["request_id"] == request_id

    insane = http.post("/api/registration/candidates", json={}, headers={"X-Request-ID": "x" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", insane.headers["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", http.get("/login").headers["X-Request-ID"])  # pages too


def test_services_learn_the_client_address_and_it_cannot_be_spoofed(http, upstreams, gateway):
    http.post("/api/registration/candidates", json={}, headers={"X-Forwarded-For": "203.0.113.9"})
    with httpx.Client(base_url=gateway.url, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        other.post("/api/registration/candidates", json={})
    [*_, spoofer, second] = upstreams["registration"][0].requests
    assert spoofer["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert spoofer["headers"]["X-Real-IP"] == "127.0.0.1"
    assert second["headers"]["X-Forwarded-For"] == "127.0.0.2"


def test_security_headers_on_pages_and_apis(http):
    for path in ("/", "/login", "/api/results/me", "/api/nothing"):
        headers = http.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["X-Frame-Options"] == "DENY"
        assert "Server" not in headers or headers["Server"] == "nginx"  # no version


def test_reset_page_sends_no_referrer_and_its_token_is_never_logged(http, gateway):
    response = http.get("/reset-password", params={"token": "very-secret-reset-token"})
    assert response.status_code == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert http.get("/reset-password.html").headers["Referrer-Policy"] == "no-referrer"
    http.get("/api/results/verify/ABC123", params={"family_name": "Chen"})
    http.get("/stop")  # the access log is written as each request ends; this one comes last
    log = gateway.log()
    assert '"GET /reset-password HTTP/1.1" 200' in log
    assert "very-secret-reset-token" not in log
    assert "Chen" not in log


def test_gzip_for_pages_scripts_and_json(http):
    for path in ("/register", "/assets/js/forms.js", "/i18n/en.json", "/api/results/me"):
        response = http.get(path, headers={"Accept-Encoding": "gzip"})
        assert response.headers.get("Content-Encoding") == "gzip", path
        assert "Accept-Encoding" in response.headers.get("Vary", "")
    with http.stream("GET", "/api/results/me", headers={"Accept-Encoding": "gzip"}) as response:
        compressed = b"".join(response.iter_raw())
    assert json.loads(gzip.decompress(compressed))["upstream"] == "results"
    assert len(compressed) < int(len(gzip.decompress(compressed)) / 3)


def test_a_burst_of_logins_from_one_address_gets_429s(http, gateway):
    statuses = [http.post("/api/auth/login", json={"candidate_id": "123456", "password": "wrong"}) for _ in range(40)]
    limited = [r for r in statuses if r.status_code == 429]
    # 20 a minute with a burst of 20: the first 21 pass (one more may refill during the burst).
    assert 40 - 22 <= len(limited) <= 40 - 21
    assert all(r.status_code == 200 for r in statuses[:21])
    answer = limited[0]
    assert answer.json() == {"detail": "Too many requests from your network. Please wait a minute and try again.",
                             "code": "rate_limited"}
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["Retry-After"] == "60"
    assert answer.headers["X-Request-ID"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"

    # Per client address: another address is not held back, and other routes are not limited.
    with httpx.Client(base_url=gateway.url, transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        assert other.post("/api/auth/login", json={}).status_code == 200
    assert http.post("/api/auth/logout").status_code == 200


@pytest.mark.parametrize(("method", "path", "burst"), [
    ("POST", "/api/auth/password-reminder", 5),
    ("POST", "/api/registration/candidates", 10),
    ("GET", "/api/results/verify/ABC123?family_name=Chen", 20),
])
def test_reminder_registration_and_verification_are_rate_limited(http, method, path, burst):
    statuses = [http.request(method, path, json={} if method == "POST" else None).status_code
                for _ in range(burst + 6)]
    assert statuses[: burst + 1] == [200] * (burst + 1)
    assert statuses.count(429) >= 4


def test_body_size_limit(http):
    response = http.post("/api/registration/candidates", content=b"x" * 100_000,
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_a_service_that_is_down_answers_503_json(tmp_path, upstreams):
    down = {"registration": ["127.0.0.1:9"], "auth": [upstreams["auth"][0].address],
            "results": [upstreams["results"][0].address]}
    process = GatewayProcess(down, tmp_path).start()
    try:
        response = httpx.post(f"{process.url}/api/registration/candidates", json={})
        assert response.status_code == 503
        assert response.json()["code"] == "service_unavailable"
        assert response.headers["X-Request-ID"]
    finally:
        process.stop()


def test_connections_to_a_service_are_kept_for_as_many_requests_as_are_in_flight(tmp_path, upstreams):
    clients, rounds = 50, 4
    results = EchoUpstream("results", together=clients).start()
    process = GatewayProcess({"registration": [upstreams["registration"][0].address],
                              "auth": [upstreams["auth"][0].address], "results": [results.address]}, tmp_path).start()
    # Clients that keep their connections, as browsers do: each stays with one nginx worker.
    sessions = [httpx.Client(base_url=process.url, timeout=20) for _ in range(clients)]
    try:
        with ThreadPoolExecutor(clients) as pool:
            for _ in range(rounds):  # every request of a round in flight at once
                answers = list(pool.map(lambda client: client.get("/api/results/me"), sessions))
                assert {a.status_code for a in answers} == {200}
        # Each round finds the connections of the round before open: none closed and opened again
        # (with `keepalive 16`, 104 or more for these 200 requests).
        assert results.connections <= clients, results.connections
    finally:
        for client in sessions:
            client.close()
        process.stop()
        results.stop()
