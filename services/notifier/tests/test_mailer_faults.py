"""The SMTP pool's sorting of failures, against real aiosmtpd servers on 127.0.0.1: a passing fault
does not pause sending, a refusal that is one email's does not pause every other, and a server
that speaks TLS from its first byte under SMTP_TLS=none or starttls pauses it with the reason."""

import ssl
from email.message import Message

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from pydantic import SecretStr

from notifier.mailer import PermanentSendError, SmtpConfigurationError, SmtpPool, SmtpSecurity, TransientSendError
from tests.support.infrastructure import free_port

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Handler:
    def __init__(self, refused_recipient: str | None = None):
        self.refused_recipient, self.delivered = refused_recipient, []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refused_recipient:
            return "530 5.7.1 Relaying to this domain requires a different route"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.delivered.extend(envelope.rcpt_tos)
        return "250 Message accepted"


def _message(to: str) -> Message:
    message = Message()
    message["To"] = to
    message.set_payload("hello")
    return message


async def _send(pool: SmtpPool, to: str) -> Exception | None:
    try:
        async with pool.connection() as connection:
            await connection.send(_message(to), "results@example.org", [to])
    except Exception as exc:  # noqa: BLE001
        return exc
    return None


@pytest.fixture
def server():
    started = []

    def start(handler: Handler, **options) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        started.append(controller)
        return port
    yield start
    for controller in started:
        controller.stop()


async def test_a_temporary_authentication_failure_454_is_a_passing_fault(server):
    """RFC 4954: 454 4.7.0 "Temporary authentication failure" (the relay's password backend is
    down) is retried like any 4xx; the username and password are not to blame."""
    def temporarily_failing(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False, message="454 4.7.0 Temporary authentication failure")

    port = server(Handler(), auth_required=True, auth_require_tls=False, authenticator=temporarily_failing)
    pool = SmtpPool("127.0.0.1", port, size=1, timeout=5,
                    security=SmtpSecurity("none", "crs-notifier", SecretStr("relay-password-1")),
                    recheck_sender="results@example.org", recheck_first_seconds=30)
    try:
        error = await _send(pool, "amy@example.org")
        assert isinstance(error, TransientSendError) and pool.fault is None, f"{error!r}; paused: {pool.fault}"
    finally:
        await pool.close()


async def test_a_530_for_one_recipient_is_that_emails_failure_alone(server):
    """The relay took the connection and MAIL FROM, and refuses one recipient with 530: that email
    fails; the others go on. (Pausing for it would resume at the first recheck, a MAIL FROM, and
    pause again on the same email, for ever.)"""
    handler = Handler(refused_recipient="poison@example.org")
    port = server(handler)
    pool = SmtpPool("127.0.0.1", port, size=2, timeout=5, recheck_sender="results@example.org",
                    recheck_first_seconds=0.05, recheck_max_seconds=0.05)
    try:
        poisoned = await _send(pool, "poison@example.org")
        paused_by_one = pool.fault
        other = await _send(pool, "amy@example.org")  # sent at once after, by another connection
        assert isinstance(poisoned, PermanentSendError) and "530" in str(poisoned)
        assert paused_by_one is None and other is None, (
            f"one recipient's 530 paused sending ({type(poisoned).__name__}); the next email got "
            f"{type(other).__name__}")
        assert handler.delivered == ["amy@example.org"]
    finally:
        await pool.close()


@pytest.mark.parametrize("smtp_tls", ["starttls", "none"])
async def test_plain_or_starttls_against_a_server_that_speaks_tls_first_pauses_sending(server, tmp_path, smtp_tls):
    """SMTP_TLS=starttls with SMTP_PORT=465: the notifier waits for a greeting, the server for a
    ClientHello. Rather than a timeout retried until every email fails, sending pauses and says to
    set SMTP_TLS=tls."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port = server(Handler(), ssl_context=context)
    pool = SmtpPool("127.0.0.1", port, size=1, timeout=1.5, security=SmtpSecurity(smtp_tls, ca_file=str(ca_file)),
                    recheck_sender="results@example.org", recheck_first_seconds=30)
    try:
        error = await _send(pool, "amy@example.org")
        assert isinstance(error, SmtpConfigurationError), f"SMTP_TLS={smtp_tls} against a TLS-first server: {error!r}"
        assert "speaks TLS from its first byte" in pool.fault and "SMTP_TLS=tls" in pool.fault
    finally:
        await pool.close()
