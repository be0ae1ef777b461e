from collections import OrderedDict
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


class CountingBuckets(OrderedDict):
    """The limiter's buckets, counting every entry a call walks through."""

    walked = 0

    def __iter__(self):
        for client in super().__iter__():
            self.walked += 1
            yield client

    def items(self):
        return [(client, self[client]) for client in self]

    def values(self):
        return [self[client] for client in self]


def address(index: int) -> str:
    return f"10.{index >> 16 & 255}.{index >> 8 & 255}.{index & 255}"


def test_200_000_clients_keep_memory_at_the_cap_and_each_request_walks_no_other_client():
    clock = ManualClock()
    limiter = RateLimiter(clock, per_minute=60, burst=2, max_clients=1_000)
    limiter._buckets = buckets = CountingBuckets()
    assert [limiter.retry_after("recent") for _ in range(3)] == [0, 0, 1]
    largest = 0
    for index in range(200_000):
        assert limiter.retry_after(address(index)) == 0
        largest = max(largest, len(limiter))
        assert buckets.walked == 0, f"request {index} walked {buckets.walked} clients"
        if index % 500 == 0:
            assert limiter.retry_after("recent") == 1  # seen again and again: still limited, never forgotten
    assert largest == len(limiter) == 1_000
    # The clients seen least recently were forgotten and start again with a full bucket.
    assert [limiter.retry_after(address(0)) for _ in range(3)] == [0, 0, 1]
    clock.advance(timedelta(seconds=1))
    assert limiter.retry_after("recent") == 0


def test_the_client_forgotten_is_the_one_seen_least_recently():
    limiter = RateLimiter(ManualClock(), per_minute=1, burst=1, max_clients=2)
    assert [limiter.retry_after(client) for client in ("a", "b", "a", "c")] == [0, 0, 60, 0]  # "b" goes
    assert (limiter.retry_after("a"), limiter.retry_after("b")) == (60, 0)  # "c" goes
    assert len(limiter) == 2
