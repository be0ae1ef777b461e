"""The real servers the tests talk to: SecantusDB on a free port with :memory: storage, a RabbitMQ
vhost of our own on the machine's broker for each test, and an aiosmtpd capture server."""

import collections
import contextlib
import email
import email.policy
import os
import subprocess
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

from crs_shared.messaging import definitions
from crs_tools import smtp_capture
from crs_tools.local_stack import (  # noqa: F401  (free_port and rabbitmqctl_command re-exported)
    free_port, import_definitions, port_open, rabbitmqctl, rabbitmqctl_command, secantus_url, start_secantus,
)

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


def require_broker() -> None:
    if not port_open(RABBITMQ_HOST, 5672):
        raise RuntimeError(f"RabbitMQ is not answering on {RABBITMQ_HOST}:5672; start it with `rabbitmq-server -detached`")


def vhost_url(name: str) -> str:
    return f"amqp://guest:guest@{RABBITMQ_HOST}:5672/{name}"


def add_vhosts(count: int) -> list[str]:
    """New vhosts with the system's broker definitions (as `make run` and the deployments load them),
    open to the guest user, made with one rabbitmqctl call (a call boots an Erlang VM, about half a
    second of a core, whether it makes one vhost or many)."""
    names = [f"crs-test-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    topologies = [definitions.topology(name) for name in names]
    import_definitions({
        key: [item for topology in topologies for item in topology[key]] for key in topologies[0]
    } | {"permissions": [{"user": "guest", "vhost": name, "configure": ".*", "write": ".*", "read": ".*"}
                         for name in names]})
    return names


class RabbitVhost:
    """A vhost of our own on the machine's broker, so test runs never see each other's queues."""

    def __init__(self):
        require_broker()
        [self.name] = add_vhosts(1)

    @property
    def url(self) -> str:
        return vhost_url(self.name)

    def delete(self) -> None:
        rabbitmqctl("delete_vhost", self.name)


class RabbitVhosts:
    """A vhost for each test that asks: made `batch` at a time, and deleted in the background (at
    most `deleting` rabbitmqctl at once) while the next tests run, so a test waits for neither.
    `close` waits for every deletion and says which vhosts, if any, were left on the broker."""

    def __init__(self, batch: int = 8, deleting: int = 1):
        self._batch, self._max_deleting = batch, deleting
        self._ready: list[str] = []
        self._deleting: collections.deque[tuple[str, subprocess.Popen]] = collections.deque()
        self._left: list[str] = []
        self.made: list[str] = []

    def take(self) -> str:
        if not self._ready:
            require_broker()
            self._ready = add_vhosts(self._batch)
            self.made += self._ready
        return self._ready.pop()

    @contextlib.contextmanager
    def lent(self) -> Iterator[str]:
        """A vhost's URL for the `with` block."""
        name = self.take()
        try:
            yield vhost_url(name)
        finally:
            self.give_back(name)

    def give_back(self, name: str) -> None:
        while len(self._deleting) >= self._max_deleting:
            self._wait_for_oldest()
        deletion = subprocess.Popen(rabbitmqctl_command("delete_vhost", name), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
        self._deleting.append((name, deletion))

    def close(self) -> None:
        self._max_deleting = self._batch  # no test is waiting now
        for name in self._ready:
            self.give_back(name)
        self._ready = []
        while self._deleting:
            self._wait_for_oldest()
        if self._left:
            raise RuntimeError("rabbitmqctl delete_vhost failed; left on the broker: " + "; ".join(self._left))

    def _wait_for_oldest(self) -> None:
        name, deletion = self._deleting.popleft()
        _, errors = deletion.communicate(timeout=60)
        if deletion.returncode != 0:
            self._left.append(f"{name} ({errors.strip()})")


class SmtpCapture:
    """The same capture server `make run` uses, on a free port, writing to a folder of the test's;
    `delay_seconds` makes it answer each message that much later."""

    def __init__(self, folder: Path, port: int | None = None, delay_seconds: float = 0.0):
        self.folder = folder
        self.port = port or free_port()
        self.controller = smtp_capture.start(folder, "127.0.0.1", self.port, delay_seconds)

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for path in sorted(self.folder.glob("*.eml"))
        ]

    def messages_to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if address.lower() in str(m["To"]).lower()]

    def stop(self) -> None:
        self.controller.stop()
