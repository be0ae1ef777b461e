"""The real servers the tests talk to: SecantusDB on a free port with :memory: storage, a RabbitMQ
vhost of our own on the machine's broker, and an aiosmtpd capture server."""

import email
import email.policy
import os
import shutil
import subprocess
import uuid
from email.message import EmailMessage
from pathlib import Path

from crs_tools import smtp_capture
from crs_tools.local_stack import free_port, port_open, secantus_url, start_secantus  # noqa: F401  (free_port re-exported)

RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1")


class SecantusServer:
    """A throw-away MongoDB-compatible server on a free port, stopped by PID when the tests end."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.child = start_secantus(self.port, ":memory:", log_path)

    @property
    def url(self) -> str:
        return secantus_url(self.port)

    def stop(self) -> None:
        self.child.stop()


def rabbitmqctl(*args: str) -> None:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        raise RuntimeError("rabbitmqctl is not installed: the tests need the machine's RabbitMQ (see design.md)")
    result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")


class RabbitVhost:
    """A vhost of our own on the machine's broker, so test runs never see each other's queues."""

    def __init__(self):
        if not port_open(RABBITMQ_HOST, 5672):
            raise RuntimeError(f"RabbitMQ is not answering on {RABBITMQ_HOST}:5672; start it with `rabbitmq-server -detached`")
        self.name = f"crs-test-{uuid.uuid4().hex[:12]}"
        rabbitmqctl("add_vhost", self.name)
        rabbitmqctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{RABBITMQ_HOST}:5672/{self.name}"

    def delete(self) -> None:
        rabbitmqctl("delete_vhost", self.name)


class SmtpCapture:
    """The same capture server `make run` uses, on a free port, writing to a folder of the test's."""

    def __init__(self, folder: Path, port: int | None = None):
        self.folder = folder
        self.port = port or free_port()
        self.controller = smtp_capture.start(folder, "127.0.0.1", self.port)

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(self.folder.glob("*.eml"))
        ]

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address.lower() in str(m["To"]).lower()]

    def stop(self) -> None:
        self.controller.stop()
