"""`make run`: starts what is missing of the local infrastructure, then the four services, each
after its `migrate` command (its collections and indexes), and the gateway (nginx, serving the web
portal), and prints the URLs. Ctrl-C stops everything it started,
by PID, in reverse order: the gateway and the services first (the Ctrl-C reaches them too), then the
SMTP capture server and SecantusDB, which it does not reach (crs_tools.local_stack.spawn), so the
services shut down with their database and mail server still there."""

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from crs_tools.local_stack import (
    SERVICES, Child, port_open, prepare_broker, secantus_url, start_gateway, start_secantus, start_service,
    start_smtp_capture,
)

ROOT = Path(__file__).resolve().parents[2]
# Data and logs; CRS_VAR_DIR puts them elsewhere (tests/test_local_run.py does).
VAR = Path(os.environ.get("CRS_VAR_DIR", ROOT / "var"))


def shown(path: Path) -> str:
    return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}/"


def env_port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def ensure_rabbitmq(amqp_url: str) -> None:
    parts = urlsplit(amqp_url)
    if port_open(parts.hostname or "127.0.0.1", parts.port or 5672):
        return
    result = subprocess.run([str(ROOT / "deploy/local/ensure-rabbitmq.sh")])
    if result.returncode != 0:
        sys.exit("Cannot continue without RabbitMQ.")


def ensure_nginx() -> None:
    """Debian's nginx, installed with apt-get when missing and root; else a clear stop."""
    result = subprocess.run([str(ROOT / "deploy/local/ensure-system-packages.sh"), "nginx"])
    if result.returncode != 0:
        sys.exit("Cannot start the gateway without nginx.")


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def main() -> None:
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    # Explicit, because a shell that starts us in the background leaves SIGINT ignored.
    # SIGHUP too (the terminal closed): SecantusDB and the SMTP server do not get it, so they are
    # stopped here like on Ctrl-C.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    started: list[Child] = []
    amqp_url = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    mongodb_url = os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017")
    smtp_port = env_port("SMTP_PORT", 1025)
    gateway_port = env_port("GATEWAY_PORT", 8080)
    try:
        ensure_rabbitmq(amqp_url)
        print("Loading the broker definitions (exchange, dead-letter and delivery-limit policies)...", flush=True)
        prepare_broker(amqp_url)
        ensure_nginx()
        mongo = urlsplit(mongodb_url)
        if not port_open(mongo.hostname or "127.0.0.1", mongo.port or 27017):
            print(f"Starting SecantusDB on 127.0.0.1:{mongo.port or 27017} (data in {shown(VAR / 'mongo')})...",
                  flush=True)
            started.append(start_secantus(mongo.port or 27017, str(VAR / "mongo"), VAR / "log/mongodb.log"))
            mongodb_url = secantus_url(mongo.port or 27017)
        if not port_open(os.environ.get("SMTP_HOST", "127.0.0.1"), smtp_port):
            print(f"Starting the SMTP capture server on 127.0.0.1:{smtp_port} (mail in {shown(VAR / 'mail')})...",
                  flush=True)
            started.append(start_smtp_capture(smtp_port, VAR / "mail", VAR / "log/smtp.log"))
        env = {"AMQP_URL": amqp_url, "MONGODB_URL": mongodb_url, "SMTP_PORT": str(smtp_port),
               "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", f"http://127.0.0.1:{gateway_port}")}
        urls = {}
        for name, default_port in SERVICES.items():
            if not (ROOT / "services" / name / "pyproject.toml").exists():
                continue
            port = env_port(f"{name.upper()}_PORT", default_port)
            print(f"Starting {name} on 127.0.0.1:{port}, after {name}-migrate...", flush=True)
            started.append(start_service(name, port, env, VAR / f"log/{name}.log"))
            urls[name] = f"http://127.0.0.1:{port}"
        print(f"Starting the gateway (nginx) on 127.0.0.1:{gateway_port}...", flush=True)
        upstreams = {name: f"127.0.0.1:{env_port(f'{name.upper()}_PORT', SERVICES[name])}"
                     for name in ("registration", "auth", "results")}
        started.append(start_gateway(gateway_port, upstreams, VAR / "gateway", VAR / "log/gateway.log"))
        print("\nThe Candidate Results Service is running:")
        print(f"  web portal    http://127.0.0.1:{gateway_port}/   (APIs under http://127.0.0.1:{gateway_port}/api/)")
        for name, url in urls.items():
            print(f"  {name:<13} {url}   (API docs: {url}/docs)")
        print(f"  mail          {shown(VAR / 'mail')} (SMTP on 127.0.0.1:{smtp_port})")
        print(f"  logs          {shown(VAR / 'log')}\n\nPress Ctrl-C to stop everything started here.", flush=True)
        signal.pause()
    except KeyboardInterrupt:
        pass
    except RuntimeError as exc:
        print(f"Start-up failed: {exc}. See {shown(VAR / 'log')}.", file=sys.stderr)
    finally:
        for child in reversed(started):
            print(f"Stopping {child.name} (pid {child.process.pid})...", flush=True)
            child.stop()


if __name__ == "__main__":
    main()
