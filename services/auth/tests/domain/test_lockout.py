"""The lockout rule alone: no database, no clock but the one passed in."""

from datetime import UTC, datetime, timedelta

from auth.domain.lockout import LockoutPolicy, lock_message

NOW = datetime(2026, 6, 1, 9, 0, 0, 123456, tzinfo=UTC)
POLICY = LockoutPolicy(threshold=3, duration=timedelta(minutes=30))


def test_the_attempt_after_three_in_a_row_is_the_one_that_locks():
    assert POLICY.locking_attempt == 4


def test_the_threshold_is_a_setting():
    assert LockoutPolicy(threshold=1, duration=timedelta(minutes=5)).locking_attempt == 2


def test_a_lock_lasts_its_duration_to_the_millisecond():
    until = POLICY.locked_until(NOW)
    assert until == datetime(2026, 6, 1, 9, 30, 0, 123000, tzinfo=UTC)
    assert POLICY.is_locked(until, NOW + timedelta(minutes=30) - timedelta(milliseconds=1))
    assert POLICY.is_locked(until, until - timedelta(microseconds=1))
    assert not POLICY.is_locked(until, until)
    assert not POLICY.is_locked(until, NOW + timedelta(minutes=30, seconds=1))
    assert not POLICY.is_locked(None, NOW)


def test_retry_after_counts_whole_seconds_up_and_never_zero():
    until = POLICY.locked_until(NOW)
    assert POLICY.retry_after_seconds(until, NOW) == 30 * 60
    assert POLICY.retry_after_seconds(until, NOW + timedelta(minutes=29, seconds=59, milliseconds=500)) == 1
    assert POLICY.retry_after_seconds(until, until) == 1


def test_the_message_says_how_many_minutes_remain():
    assert lock_message(1800) == "This account has been locked. Please try again in 30 minutes."
    assert lock_message(1799) == "This account has been locked. Please try again in 30 minutes."
    assert lock_message(601) == "This account has been locked. Please try again in 11 minutes."
    assert lock_message(59) == "This account has been locked. Please try again in 1 minute."
