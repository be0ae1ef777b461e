"""The whole system started for one benchmark run: its own SecantusDB (on disk, in a temp folder),
its own RabbitMQ vhost, the SMTP capture server as a process, the four services and the gateway
with its per-address rate limits off (all the load comes from 127.0.0.1). Everything is stopped
by PID and the vhost deleted when the run ends."""

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from crs_shared.config import DEV_SECRET
from crs_tools.local_stack import (
    Child, child_pids, free_port, proc_stat, secantus_url, service_wiring, start_gateway, start_secantus,
    start_service, start_smtp_capture,
)
from notifier.config import Settings as NotifierSettings
from tests.support.infrastructure import RabbitVhost
from tests.support.stack import SERVICES

OPERATOR_TOKEN = DEV_SECRET  # the services' dev default; the bench's system is local and throw-away


@dataclass
class System:
    folder: Path
    mongo_url: str = ""
    amqp_url: str = ""
    smtp_port: int = 0
    gateway_port: int = 0
    smtp_connections: int = 0  # the notifier's SMTP pool: the connections the SMTP floor sends with
    ports: dict[str, int] = field(default_factory=dict)
    children: dict[str, Child] = field(default_factory=dict)
    vhosts: list[RabbitVhost] = field(default_factory=list)

    @property
    def mail_folder(self) -> Path:
        return self.folder / "mail"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def pid(self, name: str) -> int:
        return self.children[name].process.pid

    @contextlib.contextmanager
    def cpu_use(self) -> Iterator[dict[str, float]]:
        """CPU seconds each process of the system (with its child processes, e.g. nginx's workers)
        spent while the block ran: with the wall time, it shows where the cores went."""
        used: dict[str, float] = {}
        before = {name: _tree_cpu_seconds(child.process.pid) for name, child in self.children.items()}
        yield used
        for name, child in self.children.items():
            used[name] = round(_tree_cpu_seconds(child.process.pid) - before[name], 2)

    def scratch_vhost(self) -> str:
        """A second vhost on the same broker, for the floors."""
        self.vhosts.append(RabbitVhost())
        return self.vhosts[-1].url

    def start(self) -> "System":
        logs = self.folder / "log"
        logs.mkdir(parents=True, exist_ok=True)
        mongo_port = free_port()
        self.children["mongodb"] = start_secantus(mongo_port, str(self.folder / "mongo"), logs / "mongodb.log")
        self.mongo_url = secantus_url(mongo_port)
        self.vhosts.append(RabbitVhost())
        self.amqp_url = self.vhosts[0].url
        self.smtp_port = free_port()
        self.children["smtp"] = start_smtp_capture(self.smtp_port, self.mail_folder, logs / "smtp.log")
        self.ports = {name: free_port() for name in SERVICES}
        self.gateway_port = free_port()
        env = {"MONGODB_URL": self.mongo_url, "AMQP_URL": self.amqp_url, "SMTP_PORT": str(self.smtp_port),
               "PUBLIC_BASE_URL": self.gateway_url, "LOG_JSON": "true"}
        extra = service_wiring(self.folder, self.service_url("auth"))
        # The notifier's own setting, as this environment gives it, passed to it explicitly: the
        # floor it is measured against sends with the same number of connections.
        self.smtp_connections = NotifierSettings().smtp_connections
        extra["notifier"] |= {"SMTP_CONNECTIONS": str(self.smtp_connections)}
        # Side by side: each start is mostly waiting for imports and connections.
        with ThreadPoolExecutor(len(SERVICES)) as pool:
            futures = {name: pool.submit(start_service, name, self.ports[name], {**env, **extra[name]},
                                         logs / f"{name}.log") for name in SERVICES}
            for name, future in futures.items():
                self.children[name] = future.result()
        self.children["gateway"] = start_gateway(
            self.gateway_port, {name: f"127.0.0.1:{self.ports[name]}" for name in ("registration", "auth", "results")},
            self.folder / "gateway", logs / "gateway.log", rate_limits=False)
        return self

    def stop(self) -> None:
        for child in reversed(list(self.children.values())):
            child.stop()
        for vhost in self.vhosts:
            vhost.delete()


@contextlib.contextmanager
def running_system(keep: bool) -> Iterator[System]:
    """The started system; stopped at the end, its folder (logs, data, mail) removed unless `keep`."""
    system = System(Path(tempfile.mkdtemp(prefix="crs-bench-")))
    try:
        yield system.start()
    finally:
        system.stop()
        if not keep:
            shutil.rmtree(system.folder, ignore_errors=True)


def reset_peak_memory(pid: int) -> None:
    """Resets the process's peak resident set size (VmHWM), so the next reading covers only what follows."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_memory_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def _tree_cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of the process and its live descendants (/proc/PID/stat)."""
    total = 0.0
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        fields = proc_stat(pid)
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        for child in child_pids(pid):
            total += _tree_cpu_seconds(child)
    return total
