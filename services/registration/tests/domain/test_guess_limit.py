from datetime import UTC, datetime, timedelta

from registration.domain.guess_limit import GuessLimit, held_message

NOW = datetime(2026, 12, 1, 9, 0, 0, 123456, tzinfo=UTC)


def test_the_defaults_are_the_contracts():
    limit = GuessLimit()
    assert (limit.threshold, limit.window, limit.hold) == (5, timedelta(minutes=60), timedelta(minutes=60))


def test_times_are_kept_to_the_millisecond_mongodb_stores():
    limit = GuessLimit()
    assert limit.held_until(NOW) == datetime(2026, 12, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert limit.window_ends(NOW) == datetime(2026, 12, 1, 10, 0, 0, 123000, tzinfo=UTC)
    assert limit.stale_before(NOW) == NOW - timedelta(minutes=1)


def test_retry_after_counts_down_a_hold_and_is_a_whole_hold_while_checks_fill_the_tries():
    limit = GuessLimit()
    held_until = limit.held_until(NOW)
    assert limit.retry_after_seconds(held_until, held_until - timedelta(minutes=59, seconds=59.5)) == 3600
    assert limit.retry_after_seconds(held_until, held_until - timedelta(milliseconds=1)) == 1
    assert limit.retry_after_seconds(None, NOW) == 3600  # no hold yet: the checks in hand fill the five
    assert limit.retry_after_seconds(held_until, held_until) == 3600  # a hold that has just lifted


def test_the_message_counts_whole_minutes():
    assert held_message(3600).endswith("try again in 60 minutes.")
    assert held_message(61).endswith("try again in 2 minutes.")
    assert held_message(60).endswith("try again in 1 minute.")
    assert held_message(1).endswith("try again in 1 minute.")
