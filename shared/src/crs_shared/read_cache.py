"""A per-process read-through cache for reads asked far more often than they change: each key's value
is loaded once, kept for `ttl_seconds`, and at most `max_entries` keys are kept (the least recently
used go first). Concurrent misses of one key share one load. An entry read late in its TTL is
loaded again in the background while readers keep getting it, so a key read often is never waited
for: entries loaded together would otherwise expire together, and every reader of them would wait
for the burst of reads that refills them. How late is fixed per key, between 70% and 90% of the
TTL, so that keys loaded together are not refreshed together either: those bursts of reads held up
the requests in hand (p99 of the read benchmark). (Not from half the TTL, as at first: a key read
often was then loaded twice a TTL, a tenth of a results process's time in the read benchmark.)

What this process changes it sees at once: `changing(keys)` wraps the write, reads of those keys go
to the database while it runs, and their entries are dropped when it ends. What another process
changes shows up at most `ttl_seconds` late."""

import asyncio
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from crs_shared.clock import Clock

# The age, as a share of the TTL, from which a read entry is refreshed ahead: a point in this range,
# fixed per key.
REFRESH_AHEAD_FROM = (0.7, 0.9)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ReadThroughCache(Generic[K, V]):
    def __init__(self, load: Callable[[K], Awaitable[V]], *, ttl_seconds: float, max_entries: int,
                 clock: Clock | None = None):
        """`clock` is the service's injectable clock, so tests step past the TTL; without one, the
        monotonic clock."""
        if ttl_seconds < 0 or max_entries < 1:
            raise ValueError("ttl_seconds must be >= 0 and max_entries >= 1")
        self._load, self._ttl, self._max_entries = load, ttl_seconds, max_entries
        self._seconds: Callable[[], float] = (lambda: clock.now().timestamp()) if clock is not None else time.monotonic
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # key -> (loaded at, value), oldest use first
        self._loading: dict[K, asyncio.Task[V]] = {}
        self._changing: Counter[K] = Counter()
        # Bumped by every invalidation: a load that started before one may have read the old value,
        # so it answers its callers but is not kept.
        self._generation = 0

    async def get(self, key: K) -> V:
        if key in self._changing:
            return await self._load(key)
        entry = self._entries.get(key)
        if entry is not None:
            age = self._seconds() - entry[0]
            if 0 <= age < self._ttl:  # a clock stepped back counts as expired
                self._entries.move_to_end(key)
                if age >= self._refresh_age(key) and key not in self._loading:
                    self._start_loading(key)  # refreshed ahead; a failure leaves the entry to expire
                return entry[1]
            del self._entries[key]
        loading = self._loading.get(key) or self._start_loading(key)
        # Shielded: a caller that gives up (a client gone) does not cancel the load the others wait for.
        return await asyncio.shield(loading)

    def _refresh_age(self, key: K) -> float:
        low, high = REFRESH_AHEAD_FROM
        return self._ttl * (low + (high - low) * (hash(key) % 1024) / 1023)

    def _start_loading(self, key: K) -> asyncio.Task[V]:
        loading = self._loading[key] = asyncio.create_task(self._fill(key))
        loading.add_done_callback(lambda task: self._loaded(key, task))
        return loading

    async def _fill(self, key: K) -> V:
        generation, started = self._generation, self._seconds()
        value = await self._load(key)
        if generation == self._generation:
            self._entries[key] = (started, value)  # its age counts from before the read
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return value

    def _loaded(self, key: K, task: asyncio.Task) -> None:
        if self._loading.get(key) is task:
            del self._loading[key]
        if not task.cancelled():
            task.exception()  # every caller has its error; this only marks it as seen

    def invalidate(self, keys: Iterable[K]) -> None:
        self._generation += 1
        for key in keys:
            self._entries.pop(key, None)
            self._loading.pop(key, None)  # later callers must not join a load that may predate the change

    @contextmanager
    def changing(self, keys: Iterable[K]) -> Iterator[None]:
        """Around this process's write of `keys`: their reads bypass the cache until it ends, so a
        read right after the write sees it, however the event loop orders the two."""
        keys = list(keys)
        self._changing.update(keys)
        self.invalidate(keys)
        try:
            yield
        finally:
            self._changing.subtract(keys)
            self._changing += Counter()  # drops the keys now at zero
            self.invalidate(keys)

    def __len__(self) -> int:
        return len(self._entries)
