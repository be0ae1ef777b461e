"""A token bucket per client: `burst` requests at once, refilled at `per_minute`. Time comes
from the service's clock so tests can refill it without sleeping.

At most `max_clients` buckets are kept, those of the clients seen most recently: a new client
beyond them takes the place of the one seen least recently, so a request costs the same however
many clients there are. A client forgotten so starts again with a full bucket, which it would
have had anyway unless `max_clients` other clients came between its requests within one refill."""

import math
from collections import OrderedDict
from dataclasses import dataclass

from crs_shared.clock import Clock


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, clock: Clock, *, per_minute: float, burst: int, max_clients: int = 100_000):
        self._clock = clock
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()  # least recently seen first

    def __len__(self) -> int:
        """The clients it keeps a bucket for."""
        return len(self._buckets)

    def retry_after(self, client: str) -> int:
        """Takes one request from the client's bucket: 0 if allowed, else the seconds until one is."""
        now = self._clock.now().timestamp()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._buckets.popitem(last=False)
            bucket = self._buckets[client] = _Bucket(self._burst, now)
        else:
            self._buckets.move_to_end(client)
        bucket.tokens = min(self._burst, bucket.tokens + max(0.0, now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self._rate))
