import os
import sys

from crs_tools.local_stack import spawn

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_process_in_a_session_of_its_own_is_out_of_the_terminals_process_group():
    child = spawn("sleeper", SLEEPER, own_session=True)
    try:
        pid = child.process.pid
        assert os.getsid(pid) == pid != os.getsid(0)
        assert os.getpgid(pid) != os.getpgid(0)  # so a Ctrl-C at the terminal does not reach it
    finally:
        child.stop()
    assert child.process.returncode is not None


def test_a_process_started_plainly_shares_the_starters_process_group():
    child = spawn("sleeper", SLEEPER)
    try:
        assert os.getpgid(child.process.pid) == os.getpgid(0)
    finally:
        child.stop()
