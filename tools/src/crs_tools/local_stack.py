"""Starting and stopping the local pieces of the system as child processes, by PID.

Used by `make run` (deploy/local/run.py) and by the tests that run services as processes."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from crs_shared.messaging import definitions

SERVICES = {"registration": 8001, "auth": 8002, "results": 8003, "notifier": 8004}
BIN = Path(sys.executable).parent


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state, ..., utime at 11, stime at 12).
    FileNotFoundError once the process is gone."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def child_pids(pid: int) -> list[int]:
    """The process's children, from every one of its threads (/proc/PID/task/*/children)."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def wait_for(check, *, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with status {process.returncode}")
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not ready after {timeout:.0f}s")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path | None = None
    _log: object = field(default=None, repr=False)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()

    def kill(self) -> None:
        """SIGKILL: for crash tests."""
        self.process.kill()
        self.process.wait()


def spawn(name: str, args: list[str], *, env: dict[str, str] | None = None, log_path: Path | None = None,
          own_session: bool = False) -> Child:
    """`own_session`: out of the terminal's process group, so a Ctrl-C there does not reach it; it
    stops when its starter stops it, by PID (the database and mail server, so that the services a
    Ctrl-C stops can still finish their work with them)."""
    log = open(log_path, "ab") if log_path else None
    process = subprocess.Popen(
        args, env={**os.environ, **(env or {})}, stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=own_session,
    )
    return Child(name, process, log_path, log)


def rabbitmqctl_command(*args: str) -> list[str]:
    tool = shutil.which("rabbitmqctl")
    if tool is None:
        raise RuntimeError("rabbitmqctl is not installed: the machine's RabbitMQ (Debian package rabbitmq-server) "
                           "is needed")
    return [tool, *args]


def rabbitmqctl(*args: str, stdin: str | None = None) -> None:
    result = subprocess.run(rabbitmqctl_command(*args), input=stdin, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}")


def import_definitions(document: dict) -> None:
    rabbitmqctl("import_definitions", "--format", "json", stdin=json.dumps(document))


def amqp_vhost(amqp_url: str) -> str:
    """The virtual host an AMQP URL names: its path, percent-decoded; `/` when it names none."""
    return unquote(urlsplit(amqp_url).path[1:]) or "/"


def prepare_broker(amqp_url: str) -> None:
    """Loads the system's broker definitions (the exchange, and the policies that dead-letter and
    limit deliveries) into the virtual host of `amqp_url`, on this machine's RabbitMQ."""
    import_definitions(definitions.topology(amqp_vhost(amqp_url)))


def secantus_url(port: int) -> str:
    """How the services reach a SecantusDB started here, and only that: a single server, reached
    directly, without retryable writes. SecantusDB keeps the last 10,000 of them and, past that,
    sorts them all on every write (11 ms a write instead of 1), so a release of a few thousand
    results slowed to a crawl. A MONGODB_URL given from outside is used as it is (MongoDB keeps the
    driver's defaults, and crs_shared.mongo's concerns); production refuses both options."""
    return f"mongodb://127.0.0.1:{port}/?directConnection=true&retryWrites=false"


def start_secantus(port: int, storage: str, log_path: Path | None = None) -> Child:
    child = spawn("mongodb (SecantusDB)", [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
                                           "--storage-path", storage, "--log-level", "WARNING"], log_path=log_path,
                  own_session=True)
    wait_for(lambda: port_open("127.0.0.1", port), timeout=60, what="SecantusDB", process=child.process)
    return child


def start_smtp_capture(port: int, folder: Path, log_path: Path | None = None) -> Child:
    child = spawn("smtp capture", [str(BIN / "smtp-capture"), "--port", str(port), "--folder", str(folder)],
                  log_path=log_path, own_session=True)
    wait_for(lambda: port_open("127.0.0.1", port), timeout=30, what="SMTP capture server", process=child.process)
    return child


def migrate_service(name: str, env: dict[str, str], log_path: Path | None = None) -> None:
    """Runs the service's `migrate` command (its collections and indexes, crs_shared.schema) to the
    end, as the one-shot before the service starts; RuntimeError with its last words if it fails."""
    result = subprocess.run([str(BIN / f"{name}-migrate")], env={**os.environ, **env}, capture_output=True,
                            text=True, timeout=300)
    if log_path is not None:
        with open(log_path, "a") as log:
            log.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"{name}-migrate failed: {(result.stderr or result.stdout).strip()[-2000:]}")


def start_service(name: str, port: int, env: dict[str, str], log_path: Path | None = None, *,
                  migrate: bool = True) -> Child:
    """Runs the service's `migrate` command to the end (unless `migrate` is False), as deployments
    do before a service starts, then starts the service and waits until it is ready."""
    if migrate:
        migrate_service(name, env, log_path)
    child = spawn(name, [str(BIN / "python"), "-m", name], env={f"{name.upper()}_PORT": str(port), **env},
                  log_path=log_path)
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/readyz"), timeout=60, what=f"{name} service",
             process=child.process)
    return child


def service_wiring(folder: Path, auth_url: str) -> dict[str, dict[str, str]]:
    """The settings each service started on this machine needs to find the others: auth keeps its
    signing key under `folder`, results verifies tokens with auth's JWKS."""
    return {"registration": {}, "notifier": {}, "auth": {"JWT_KEYS_DIR": str(folder / "auth-keys")},
            "results": {"JWKS_URL": f"{auth_url}/api/auth/.well-known/jwks.json"}}


class NginxMissing(RuntimeError):
    pass


@dataclass
class GatewayChild(Child):
    prefix: Path | None = None

    def stop(self, timeout: float = 20.0) -> None:
        super().stop(timeout)
        from crs_tools import gateway

        if self.prefix is not None:
            gateway.cleanup(self.prefix)


def start_gateway(port: int, upstreams: dict[str, str], prefix: Path, log_path: Path | None = None,
                  **options) -> Child:
    """nginx (deploy/gateway/nginx.conf.template) on 127.0.0.1:`port`, in the foreground, with its
    config, pid and temp files under `prefix`. `upstreams` maps registration/auth/results to their
    host:port; `options` as for `crs_tools.gateway.render` (`rate_limits=False` is for the
    benchmarks only)."""
    from crs_tools import gateway

    nginx = gateway.find_nginx()
    if nginx is None:
        raise NginxMissing("nginx is not installed (Debian package nginx; deploy/local/ensure-system-packages.sh)")
    if port_open("127.0.0.1", port):
        raise RuntimeError(f"the gateway's port 127.0.0.1:{port} is already in use (set GATEWAY_PORT)")
    conf = gateway.prepare(prefix, f"127.0.0.1:{port}", upstreams, **options)
    check = subprocess.run(gateway.command(nginx, prefix, conf, test_only=True), capture_output=True, text=True)
    if check.returncode != 0:
        gateway.cleanup(prefix)
        raise RuntimeError(f"nginx refused its config {conf}: {check.stderr.strip()}")
    child = spawn("gateway (nginx)", gateway.command(nginx, prefix, conf), log_path=log_path)
    child = GatewayChild(child.name, child.process, child.log_path, child._log, prefix=prefix)
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), timeout=30, what="gateway (nginx)",
                 process=child.process)
    except RuntimeError:
        child.stop()
        raise
    return child
