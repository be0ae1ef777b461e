import pytest

from crs_shared import faults


def test_fault_hooks_are_refused_in_production():
    with pytest.raises(RuntimeError, match="refused in production"):
        faults.arm("prod", {faults.KILL_AFTER_HANDLE: "results.results.published"})


def test_an_unarmed_or_unmatched_hook_does_nothing():
    faults.arm("dev", {})
    faults.kill_after_handle("results.results.published")
    faults.arm("dev", {faults.KILL_BEFORE_PUBLISH: "CandidateRegistered"})
    try:
        faults.kill_before_publish("LoginLocked")  # another event: the process lives on
        faults.kill_after_handle("CandidateRegistered")  # another hook with the same value: nothing
    finally:
        faults.arm("dev", {})


def test_a_hook_with_a_condition_kills_only_after_a_message_that_holds_it(monkeypatch):
    killed = []
    monkeypatch.setattr(faults.os, "kill", lambda pid, sig: killed.append(sig))
    faults.arm("dev", {faults.KILL_AFTER_HANDLE: "notifier.results.released", faults.KILL_AFTER_HANDLE_IF: "1000042"})
    try:
        faults.kill_after_handle("notifier.results.released", b'{"results": [{"candidate_id": "1000041"}]}')
        assert killed == []
        faults.kill_after_handle("notifier.results.released", b'{"results": [{"candidate_id": "1000042"}]}')
        assert killed == [faults.signal.SIGKILL]
    finally:
        faults.arm("dev", {})
