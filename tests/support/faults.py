"""Servers a fault test may stop and start at will, all of its own and all on 127.0.0.1: a private
RabbitMQ node (never the machine's shared broker), a SecantusDB on a storage folder that survives a
restart on the same port, and an SMTP capture server that comes back on the same port."""

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from crs_shared.messaging import definitions
from crs_tools import smtp_capture
from crs_tools.local_stack import Child, port_open, secantus_url, spawn, start_secantus, wait_for
from tests.support.infrastructure import SmtpCapture, free_port

# The scripts themselves: /usr/sbin/rabbitmq-* would switch to the rabbitmq user and its cookie.
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")


class PrivateRabbit:
    """A RabbitMQ node of the test's own, in the foreground as our child, with its data, logs, config
    and Erlang cookie in `folder`: `stop_app` / `start_app` on it disturb nobody else."""

    def __init__(self, folder: Path):
        server = RABBITMQ_BIN / "rabbitmq-server"
        if not server.exists() or shutil.which("rabbitmq-server") is None:
            raise RuntimeError("rabbitmq-server is not installed (Debian package rabbitmq-server): the broker fault test needs it")
        self.folder = folder
        self.node = f"crs-fault-{uuid.uuid4().hex[:8]}@localhost"
        self.port, dist_port = free_port(), free_port()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{self.port}\n")
        (folder / "enabled_plugins").write_text("[].\n")  # no management plugin and its ports
        (folder / "rabbitmq-env.conf").write_text("")  # not the machine's /etc/rabbitmq/rabbitmq-env.conf
        self.env = {
            "HOME": str(folder),  # the Erlang cookie rabbitmqctl shares with the node
            "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"), "RABBITMQ_LOG_BASE": str(folder / "log"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        self.child: Child = spawn("rabbitmq (private)", [str(server)], env=self.env, log_path=folder / "server.log")
        try:
            wait_for(self.answers, timeout=90, what=f"private RabbitMQ node {self.node}", process=self.child.process)
            (folder / "definitions.json").write_text(json.dumps(definitions.topology()))
            self.ctl("import_definitions", str(folder / "definitions.json"))
        except RuntimeError:
            self.child.stop()
            raise

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def answers(self) -> bool:
        return port_open("127.0.0.1", self.port)

    def ctl(self, *args: str) -> str:
        result = subprocess.run([str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, *args], capture_output=True,
                                text=True, timeout=60, env={**os.environ, **self.env})
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.node} {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def stop_app(self) -> None:
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        wait_for(self.answers, timeout=60, what="the private RabbitMQ node after start_app")

    def stop(self) -> None:
        if self.child.process.poll() is None:
            try:
                self.ctl("stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass  # SIGTERM below still stops it
        self.child.stop(timeout=60)


class RestartableSecantus:
    """A SecantusDB of the test's own, with real storage, so it can be stopped (by PID) and started
    again on the same port with its data intact."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.storage = folder / "data"
        self.log_path = folder / "secantus.log"
        self.child: Child | None = None
        self.start()

    @property
    def url(self) -> str:
        return secantus_url(self.port)

    def start(self) -> None:
        self.child = start_secantus(self.port, str(self.storage), self.log_path)

    def stop(self) -> None:
        """SIGTERM, so the server closes its storage cleanly; then nothing listens on the port."""
        if self.child is not None:
            self.child.stop(timeout=60)
            self.child = None


class RestartableSmtp(SmtpCapture):
    """The SMTP capture server, which can go away and come back on the same port and folder."""

    def __init__(self, folder: Path):
        super().__init__(folder, free_port())
        self.running = True

    def stop(self) -> None:
        if self.running:
            super().stop()
            self.running = False

    def start(self) -> None:
        self.controller = smtp_capture.start(self.folder, "127.0.0.1", self.port)
        self.running = True
