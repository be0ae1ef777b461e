"""A token bucket per client: `burst` requests at once, refilled at `per_minute`. Time comes
from the service's clock so tests can refill it without sleeping."""

import math
from dataclasses import dataclass

from crs_shared.clock import Clock


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, clock: Clock, *, per_minute: float, burst: int, max_clients: int = 100_000):
        self._clock = clock
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}

    def retry_after(self, client: str) -> int:
        """Takes one request from the client's bucket: 0 if allowed, else the seconds until one is."""
        now = self._clock.now().timestamp()
        bucket = self._buckets.get(client)
        if bucket is None:
            self._forget_idle(now)
            bucket = self._buckets[client] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + max(0.0, now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self._rate))

    def _forget_idle(self, now: float) -> None:
        """Keeps memory bounded: a bucket that has refilled completely holds nothing worth keeping."""
        if len(self._buckets) < self._max_clients:
            return
        full_after = self._burst / self._rate
        for client in [c for c, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[client]
        if len(self._buckets) >= self._max_clients:  # all busy: drop the oldest
            oldest = min(self._buckets, key=lambda c: self._buckets[c].updated)
            del self._buckets[oldest]
