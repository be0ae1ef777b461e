"""`make run` (deploy/local/run.py) starts the whole system, and a Ctrl-C at its terminal stops all
of it: the services shut down cleanly, with the SecantusDB and SMTP capture server it started still
there for them (the Ctrl-C does not reach those), and then those too, by PID."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from crs_tools.local_stack import SERVICES, child_pids, free_port, proc_stat
from tests.support.waiting import wait_until_sync

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]
STOP_BOUND = 90  # seconds from the Ctrl-C to exit; generous for a shared 2-core machine


def running(pid: int) -> bool:
    """Alive and not a zombie (a child whose parent has exited may wait a while to be reaped)."""
    try:
        state = proc_stat(pid)[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_ctrl_c_stops_the_services_cleanly_then_the_database_and_mail_server(amqp_url, tmp_path):
    var, gateway_port = tmp_path / "var", free_port()
    env = {**os.environ, **{f"{name.upper()}_PORT": str(free_port()) for name in SERVICES},
           "GATEWAY_PORT": str(gateway_port), "AMQP_URL": amqp_url, "SMTP_PORT": str(free_port()),
           "MONGODB_URL": f"mongodb://127.0.0.1:{free_port()}", "CRS_VAR_DIR": str(var)}
    output = tmp_path / "run.out"
    with output.open("wb") as out:
        # A process group of its own, as a terminal gives it: the Ctrl-C below goes to all of it.
        run = subprocess.Popen([sys.executable, str(ROOT / "deploy/local/run.py")], env=env, stdout=out,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    started: list[int] = []
    try:
        wait_until_sync(lambda: "Press Ctrl-C" in output.read_text() or run.poll() is not None, timeout=180,
                        what="make run to print its URLs")
        assert run.poll() is None, output.read_text()
        assert httpx.get(f"http://127.0.0.1:{gateway_port}/", timeout=10).status_code == 200
        started = child_pids(run.pid)
        assert len(started) == len(SERVICES) + 3  # SecantusDB, SMTP capture and nginx besides

        os.killpg(run.pid, signal.SIGINT)
        assert run.wait(timeout=STOP_BOUND) == 0
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGTERM)
            run.wait(timeout=STOP_BOUND)

    wait_until_sync(lambda: not any(running(pid) for pid in started), timeout=10,
                    what="every process make run started to be gone")
    stopped = re.findall(r"Stopping (.+) \(pid \d+\)", output.read_text())
    assert stopped[-2:] == ["smtp capture", "mongodb (SecantusDB)"]
    for name in SERVICES:
        log = (var / "log" / f"{name}.log").read_text()
        # Its migrate ran to the end before the service started (its output comes first).
        before = log[:log.index(f"{name}-migrate: {name}: every collection and index is there")]
        assert all(line.startswith(f"{name}-migrate: ") for line in before.splitlines()), before
        assert "shutdown: connections closed" in log, f"{name} did not shut down cleanly:\n{log[-3000:]}"
        shutdown = log[log.index("shutdown:"):]
        assert not re.search(r"\[(warning|error|critical)", shutdown), f"{name}'s shutdown:\n{shutdown}"
