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
