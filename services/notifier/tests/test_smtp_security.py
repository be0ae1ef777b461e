"""A real relay: an SMTP server (aiosmtpd) that requires STARTTLS and a login, with a certificate of
a CA the test makes (trustme). The notifier with the right settings delivers, logged in; with
settings the server refuses (a wrong password, plain SMTP, a CA it does not trust) nothing fails:
sending pauses, the rows wait as they were, /readyz says why, and once the server takes the
settings again the emails go by themselves. Against the real broker and database too."""

import asyncio
import ssl
import threading

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from notifier.main import create_app
from services.notifier.tests.conftest import registered
from tests.support.apps import serving
from tests.support.broker import envelope_for, publish
from tests.support.infrastructure import free_port
from tests.support.waiting import value, wait_until

USER, PASSWORD = "crs-notifier", "relay-password-1"


class Relay:
    """Requires STARTTLS and a login (`accepted`: user -> password, changeable while running);
    keeps each message with the user who sent it."""

    def __init__(self, ca: trustme.CA, implicit_tls: bool = False):
        self.accepted = {USER: PASSWORD}
        self.received: list[tuple[str, bytes]] = []
        self.logins = 0
        self._lock = threading.Lock()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.port = free_port()
        # TLS from the first byte (port 465), or STARTTLS required before anything else (port 587).
        tls = ({"ssl_context": context, "auth_require_tls": False} if implicit_tls
               else {"tls_context": context, "require_starttls": True, "auth_require_tls": True})
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, auth_required=True,
                                     authenticator=self.authenticate, **tls)
        self.controller.start()

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        with self._lock:
            self.logins += 1
            good = (isinstance(auth_data, LoginPassword)
                    and self.accepted.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=good, handled=False, auth_data=auth_data)

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.received.append((session.login_data.decode(), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"

    def sent_to(self, address: str) -> list[str]:
        with self._lock:
            return [user for user, content in self.received if f"To: {address}".encode() in content]

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def relay(ca):
    server = Relay(ca)
    yield server
    server.stop()


@pytest.fixture
def ca_file(ca, tmp_path) -> str:
    path = tmp_path / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def relay_settings(settings, relay: Relay, ca_file: str | None, **overrides):
    fields = {"smtp_port": relay.port, "smtp_tls": "starttls", "smtp_username": USER, "smtp_password": PASSWORD,
              "smtp_ca_file": ca_file, "smtp_recheck_first_seconds": 0.2, "smtp_recheck_max_seconds": 1.0}
    return type(settings)(**(settings.model_dump() | fields | overrides))


# aiosmtpd cannot tell that a server of its own speaks TLS from the first byte, and warns of AUTH without it.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("smtp_tls", ["starttls", "tls"])
async def test_the_notifier_delivers_through_a_relay_that_requires_tls_and_a_login(settings, ca, ca_file, smtp_tls):
    relay = Relay(ca, implicit_tls=smtp_tls == "tls")
    try:
        await _delivers(relay_settings(settings, relay, ca_file, smtp_tls=smtp_tls), relay)
    finally:
        relay.stop()


async def _delivers(settings, relay: Relay) -> None:
    events = [registered() for _ in range(3)]
    async with serving(create_app(settings)) as http:
        await publish(settings.amqp_url, *[(envelope_for(e), e.ROUTING_KEY) for e in events])
        for event in events:
            await wait_until(lambda: value(relay.sent_to(event.email)), timeout=30, what="the email at the relay")
        assert all(relay.sent_to(e.email) == [USER] for e in events)  # once each, logged in as the configured user
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["smtp"] is True


@pytest.mark.parametrize(("case", "why"), [
    ("wrong password", f"refused the login of SMTP_USERNAME '{USER}' (SMTP 535"),
    ("no TLS", "SMTP 530: Must issue a STARTTLS command first"),
    ("untrusted CA", "the SMTP server's certificate failed verification"),
])
async def test_settings_the_relay_refuses_pause_sending_until_it_takes_them(settings, relay, ca_file, case, why):
    overrides = {"wrong password": {"smtp_password": "not-the-password"},
                 "no TLS": {"smtp_tls": "none", "smtp_username": None, "smtp_password": None},
                 "untrusted CA": {"smtp_ca_file": None}}[case]  # the system's CAs do not know the test's
    settings = relay_settings(settings, relay, ca_file, **overrides)
    events = [registered() for _ in range(4)]
    async with serving(create_app(settings)) as http:
        repository = http._transport.app.state.dependencies.repository
        await publish(settings.amqp_url, *[(envelope_for(e), e.ROUTING_KEY) for e in events])

        async def paused():
            answer = await http.get("/readyz")
            return answer.json() if answer.status_code == 503 else None
        body = await wait_until(paused, timeout=30, what="/readyz to say sending is paused")
        assert body["checks"] == {"mongodb": True, "rabbitmq": True, "smtp": False}
        assert body["why"]["smtp"].startswith("sending is paused: ") and why in body["why"]["smtp"]
        assert "not-the-password" not in str(body) and PASSWORD not in str(body)

        async def all_written():
            return await repository.count({"candidate_id": {"$in": [e.candidate_id for e in events]}}) == len(events)
        await wait_until(all_written, timeout=30, what="the four rows written")
        logins = relay.logins
        await _seconds(1.5)  # an observation window: three rechecks (0.2 s, 0.4 s, 0.8 s apart) fall in it
        # Each recheck is one login in each mechanism; besides them, at most the logins of the
        # pool's connections already under way when the window opened (on a busy machine).
        assert relay.logins - logins <= 2 * 4 + settings.smtp_connections
        rows = await repository.find({"candidate_id": {"$in": [e.candidate_id for e in events]}})
        assert [(r["status"], r["attempts"]) for r in rows] == [("queued", 0)] * len(events)
        assert await repository.failed() == [] and relay.received == []
        assert (await http.get("/readyz")).status_code == 503

        if case == "wrong password":  # the relay is told the notifier's new password
            relay.accepted = {USER: "not-the-password"}
            for event in events:
                await wait_until(lambda: value(relay.sent_to(event.email)), timeout=30, what="the email, unpaused")
            assert all(relay.sent_to(e.email) == [USER] for e in events)

            async def ready():
                return (await http.get("/readyz")).status_code == 200
            await wait_until(ready, timeout=10, what="/readyz ready again")

            async def all_sent():
                return await repository.count({"candidate_id": {"$in": [e.candidate_id for e in events]},
                                               "status": "sent", "attempts": 1}) == len(events)
            await wait_until(all_sent, timeout=10, what="every row sent at its first counted attempt")


async def _seconds(seconds: float) -> None:
    await asyncio.sleep(seconds)


@pytest.mark.parametrize(("smtp_tls", "why"), [
    ("starttls", "STARTTLS with the SMTP server 127.0.0.1:"),
    ("tls", "TLS with the SMTP server failed"),
])
async def test_tls_asked_of_a_plain_server_pauses_sending_and_says_why(settings, smtp, smtp_tls, why):
    settings = type(settings)(**(settings.model_dump() | {"smtp_port": smtp.port, "smtp_tls": smtp_tls}))
    event = registered()
    async with serving(create_app(settings)) as http:
        await publish(settings.amqp_url, (envelope_for(event), event.ROUTING_KEY))

        async def paused():
            answer = await http.get("/readyz")
            return answer.json()["why"]["smtp"] if answer.status_code == 503 else None
        assert why in await wait_until(paused, timeout=30, what="/readyz to say sending is paused")
        repository = http._transport.app.state.dependencies.repository
        assert await repository.count({"candidate_id": event.candidate_id, "status": "queued", "attempts": 0}) == 1
        assert smtp.messages() == []
