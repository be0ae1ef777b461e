from datetime import timedelta

from crs_shared.clock import ManualClock
from results.domain.rate_limit import RateLimiter


def test_a_client_gets_its_burst_then_waits_for_the_refill():
    clock = ManualClock()
    limiter = RateLimiter(clock, per_minute=30, burst=3)  # one every 2 seconds
    assert [limiter.retry_after("a") for _ in range(4)] == [0, 0, 0, 2]
    clock.advance(timedelta(seconds=1))
    assert limiter.retry_after("a") == 1
    clock.advance(timedelta(seconds=1))
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("a") == 2


def test_clients_are_counted_apart():
    limiter = RateLimiter(ManualClock(), per_minute=1, burst=1)
    assert limiter.retry_after("a") == 0
    assert limiter.retry_after("a") == 60
    assert limiter.retry_after("b") == 0


def test_the_bucket_never_holds_more_than_the_burst():
    clock = ManualClock()
    limiter = RateLimiter(clock, per_minute=60, burst=2)
    limiter.retry_after("a")
    clock.advance(timedelta(hours=1))
    assert [limiter.retry_after("a") for _ in range(3)] == [0, 0, 1]


def test_memory_stays_bounded_with_many_clients():
    clock = ManualClock()
    limiter = RateLimiter(clock, per_minute=60, burst=1, max_clients=100)
    for index in range(1000):
        limiter.retry_after(f"client-{index}")
    assert len(limiter._buckets) <= 100
    # A busy client is not forgotten while it is still limited.
    clock.advance(timedelta(seconds=0.5))
    assert limiter.retry_after("client-999") == 1
