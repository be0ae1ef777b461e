"""The nginx gateway as a real process (deploy/gateway/nginx.conf.template), in front of stand-in
services that echo what reached them: routing, request ids, rate limits, client addresses, names
looked up while it runs, headers, gzip, limits."""

import gzip
import json
import re

import httpx
import pytest

from crs_tools.gateway import find_nginx
from tests.support.gateway import DnsStandIn, EchoUpstream, GatewayProcess
from tests.support.waiting import wait_until_sync

pytestmark = pytest.mark.e2e

PAGES = ["/", "/register", "/login", "/forgot-password", "/reset-password", "/results", "/verify", "/logout"]


@pytest.fixture(scope="module")
def upstreams():
    if find_nginx() is None:
        pytest.fail("nginx is not installed: `make test` installs Debian's nginx "
                    "(deploy/local/ensure-system-packages.sh)")
    started = {"registration": EchoUpstream("registration").start(), "auth": EchoUpstream("auth").start(),
               "results": EchoUpstream("results", padding=200).start()}
    yield started
    for server in started.values():
        server.stop()


def addresses(upstreams: dict[str, EchoUpstream], **replaced: str) -> dict[str, str]:
    return {name: server.address for name, server in upstreams.items()} | replaced


@pytest.fixture
def gateway(upstreams, tmp_path):
    """A fresh gateway per test, so each starts with empty rate-limit counters."""
    process = GatewayProcess(addresses(upstreams), tmp_path).start()
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
    assert http.post("/api/auth/logout").json()["upstream"] == "auth"


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
    [*_, spoofer, second] = upstreams["registration"].requests
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


def client_from(gateway: GatewayProcess, address: str) -> httpx.Client:
    """A client whose connections come from `address` (every 127.x.y.z is this machine)."""
    return httpx.Client(base_url=gateway.url, timeout=10, transport=httpx.HTTPTransport(local_address=address))


def test_only_a_trusted_proxy_says_who_the_client_is(upstreams, tmp_path):
    """127.0.0.2 plays the ingress in front of the gateway (trusted); 127.0.0.3 a client that
    forges X-Forwarded-For."""
    gateway = GatewayProcess(addresses(upstreams), tmp_path, trusted_proxies=["127.0.0.2"]).start()
    login, told = {"candidate_id": "123456", "password": "wrong"}, upstreams["auth"].requests

    def logins(client: httpx.Client, forwarded_for: list[str]) -> tuple[list[int], list[dict]]:
        before = len(told)
        statuses = [client.post("/api/auth/login", json=login, headers={"X-Forwarded-For": value}).status_code
                    for value in forwarded_for]
        return statuses, [request["headers"] for request in told[before:]]

    try:
        with client_from(gateway, "127.0.0.3") as forger, client_from(gateway, "127.0.0.2") as ingress:
            # The forger's 40 "clients" are one: limited together after the burst of 20, as in
            # test_a_burst_of_logins_from_one_address_gets_429s, and the service hears of one.
            statuses, headers = logins(forger, [f"198.51.100.{i}" for i in range(40)])
            assert statuses[:21] == [200] * 21 and 18 <= statuses.count(429) <= 19
            assert {(h["X-Forwarded-For"], h["X-Real-IP"]) for h in headers} == {("127.0.0.3", "127.0.0.3")}

            # Through the ingress, 40 clients are 40 clients, each with a bucket of its own...
            statuses, headers = logins(ingress, [f"203.0.113.{i}" for i in range(40)])
            assert statuses == [200] * 40
            assert [h["X-Forwarded-For"] for h in headers] == [f"203.0.113.{i}" for i in range(40)]
            assert [h["X-Real-IP"] for h in headers] == [f"203.0.113.{i}" for i in range(40)]

            # ...and held back at its limit. The ingress appends the address it sees to what the
            # client sent: only that last, untrusted address counts.
            statuses, headers = logins(ingress, [f"198.51.100.{i}, 203.0.113.99" for i in range(40)])
            assert statuses[:21] == [200] * 21 and 18 <= statuses.count(429) <= 19
            assert {(h["X-Forwarded-For"], h["X-Real-IP"]) for h in headers} == {("203.0.113.99", "203.0.113.99")}
            forger.get("/stop")  # the access log is written as each request ends; this one comes last
    finally:
        gateway.stop()
    log = gateway.log()
    assert "203.0.113.99 [" in log and "127.0.0.3 [" in log
    assert "198.51.100." not in log


def test_a_service_name_is_looked_up_again_while_the_gateway_runs(upstreams, tmp_path):
    """As in compose, a service is a name, and `--scale` adds and removes the replicas behind it
    with no reload of the gateway. Auth's replicas here: 127.0.0.4 and 127.0.0.5, on one port."""
    names = DnsStandIn().start()
    first = EchoUpstream("auth-1", host="127.0.0.4").start()
    second = EchoUpstream("auth-2", host="127.0.0.5", port=first.port).start()
    names.records["auth"] = [first.host]
    gateway = GatewayProcess(addresses(upstreams, auth=f"auth:{first.port}", results="nowhere:8003"), tmp_path,
                             resolver=names.address)
    try:
        gateway.start()  # a name that is not there yet does not keep nginx from starting
        with httpx.Client(base_url=gateway.url, timeout=10) as http:
            def answered_by() -> str:
                response = http.get("/api/auth/me")
                assert response.status_code == 200, response.text
                return response.json()["upstream"]

            assert {answered_by() for _ in range(4)} == {"auth-1"}
            assert http.get("/api/results/me").json()["code"] == "service_unavailable"

            names.records["auth"] = [first.host, second.host]  # scaled up
            wait_until_sync(lambda: answered_by() == "auth-2", timeout=30, what="a request to the new replica")
            assert {answered_by() for _ in range(6)} == {"auth-1", "auth-2"}

            # A replica gone while its address is still known: reads are tried again on the other.
            first.stop()
            assert {answered_by() for _ in range(6)} == {"auth-2"}
            assert "Connection refused) while connecting to upstream" in gateway.log()
    finally:
        gateway.stop()
        for server in (first, second, names):
            server.stop()


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
    process = GatewayProcess(addresses(upstreams, registration="127.0.0.1:9"), tmp_path).start()
    try:
        response = httpx.post(f"{process.url}/api/registration/candidates", json={})
        assert response.status_code == 503
        assert response.json()["code"] == "service_unavailable"
        assert response.headers["X-Request-ID"]
    finally:
        process.stop()
