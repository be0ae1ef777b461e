"""A per-process read-through cache for reads asked far more often than they change: each key's value
is loaded once, kept for `ttl_seconds`, and at most `max_entries` keys are kept (the least recently
used go first). Concurrent misses of one key share one load. An entry read late in its TTL is
loaded again in the background while readers keep getting it, so a key read often is never waited
for: entries loaded together would otherwise expire together, and every reader of them would wait
for the burst of reads that refills them. How late is fixed per key, between 70% and 90% of the
TTL, so that keys loaded together are not refreshed together either: those bursts of reads held up
the requests in hand (p99 of the read benchmark). (Not from half the TTL, as at first: a key read
often was then loaded twice a TTL, a tenth of a results process's time in the read benchmark.)

Keys are loaded together: `load_many` gets every key whose load was asked for in one turn of the
event loop, so a database answers them with one query. One by one, a results process serving 100
candidates made about 250 loads a second, 12% of what it could serve (the read benchmark with and
without them, 2026-12-06). (Refreshes held back a few turns for more keys to join them came too
late for some keys, and their readers waited: p99 up by a third.)

An entry whose TTL runs out while its refresh is still on the way (a slow database) is served
until the refresh lands, for up to one more TTL (`STALE_WHILE_REFRESHING`).

What this process changes it sees at once: `changing(keys)` wraps the write, reads of those keys go
to the database while it runs, and their entries are dropped when it ends. What another process
changes shows up at most `ttl_seconds` late, or twice that while the database is slow to answer."""

import asyncio
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Generic, TypeVar

from crs_shared.clock import Clock

# The age, as a share of the TTL, from which a read entry is refreshed ahead: a point in this range,
# fixed per key.
REFRESH_AHEAD_FROM = (0.7, 0.9)
# How much longer than its TTL, as a share of it, an entry is still served while its refresh is on
# the way. SecantusDB stops answering for 0.3-0.7 s once a minute (its storage's checkpoint); the
# entries that ran out meanwhile held every reader of them until it answered (p99 357 ms against
# 24 in the read benchmark).
STALE_WHILE_REFRESHING = 1.0

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
# Loads many keys at once: a value, or the exception that key failed with, for every key asked.
LoadMany = Callable[[list[K]], Awaitable[Mapping[K, V | Exception]]]


def one_by_one(load: Callable[[K], Awaitable[V]]) -> LoadMany:
    """For a load that has no many-key form, or whose keys fail one by one (a token's signature)."""
    async def load_many(keys: list[K]) -> dict[K, V | Exception]:
        values = await asyncio.gather(*(load(key) for key in keys), return_exceptions=True)
        for value in values:
            if isinstance(value, BaseException) and not isinstance(value, Exception):
                raise value  # cancelled: not a key's answer
        return dict(zip(keys, values, strict=True))

    return load_many


class ReadThroughCache(Generic[K, V]):
    def __init__(self, load_many: LoadMany, *, ttl_seconds: float, max_entries: int, clock: Clock | None = None):
        """`clock` is the service's injectable clock, so tests step past the TTL; without one, the
        monotonic clock."""
        if ttl_seconds < 0 or max_entries < 1:
            raise ValueError("ttl_seconds must be >= 0 and max_entries >= 1")
        self._load_many, self._ttl, self._max_entries = load_many, ttl_seconds, max_entries
        self._seconds: Callable[[], float] = (lambda: clock.now().timestamp()) if clock is not None else time.monotonic
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # key -> (loaded at, value), oldest use first
        self._loading: dict[K, asyncio.Future[V]] = {}  # queued or being loaded
        self._queued: dict[K, asyncio.Future[V]] = {}  # to load together at the next turn
        self._batches: set[asyncio.Task] = set()
        self._changing: Counter[K] = Counter()
        # Bumped by every invalidation: a load that started before one may have read the old value,
        # so it answers its callers but is not kept.
        self._generation = 0

    @property
    def longest_staleness_seconds(self) -> float:
        """How late, at the most, a change made by another process shows up in what `get` answers."""
        return self._ttl * (1 + STALE_WHILE_REFRESHING)

    async def get(self, key: K) -> V:
        if key in self._changing:
            value = _answer(await self._load_many([key]), key)
            if isinstance(value, Exception):
                raise value
            return value
        entry = self._entries.get(key)
        if entry is not None:
            age = self._seconds() - entry[0]
            if 0 <= age < self._ttl:  # a clock stepped back counts as expired
                self._entries.move_to_end(key)
                if age >= self._refresh_age(key) and key not in self._loading:
                    self._queue(key)  # a failure leaves the entry to expire
                return entry[1]
            if 0 <= age < self._ttl * (1 + STALE_WHILE_REFRESHING) and key in self._loading:
                return entry[1]  # its refresh is on the way: the database is slow, the entry not yet gone
            del self._entries[key]
        loading = self._loading.get(key) or self._queue(key)
        # Shielded: a caller that gives up (a client gone) does not cancel the load the others wait for.
        return await asyncio.shield(loading)

    def _refresh_age(self, key: K) -> float:
        low, high = REFRESH_AHEAD_FROM
        return self._ttl * (low + (high - low) * (hash(key) % 1024) / 1023)

    def _queue(self, key: K) -> asyncio.Future[V]:
        if not self._queued:
            asyncio.get_running_loop().call_soon(self._load_queued)
        # A key still queued after an invalidation has read nothing yet, so its load serves the new caller too.
        future = self._loading[key] = self._queued.get(key) or asyncio.get_running_loop().create_future()
        self._queued[key] = future
        return future

    def _load_queued(self) -> None:
        batch, self._queued = self._queued, {}
        task = asyncio.create_task(self._fill(batch))
        self._batches.add(task)  # a reference, so the task is not collected while it runs
        task.add_done_callback(self._batches.discard)

    async def _fill(self, batch: dict[K, asyncio.Future[V]]) -> None:
        generation, started = self._generation, self._seconds()
        try:
            values: Mapping[K, V | Exception] = await self._load_many(list(batch))
        except Exception as exc:
            values = dict.fromkeys(batch, exc)
        except BaseException:
            for key, future in batch.items():
                if self._ended(key, future):
                    future.cancel()
            raise
        for key, future in batch.items():
            value = _answer(values, key)
            if not isinstance(value, Exception) and generation == self._generation:
                self._entries[key] = (started, value)  # its age counts from before the read
                self._entries.move_to_end(key)
            if not self._ended(key, future):
                continue
            if isinstance(value, Exception):
                future.set_exception(value)
                future.exception()  # every caller has its error; this only marks it as seen
            else:
                future.set_result(value)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _ended(self, key: K, future: asyncio.Future[V]) -> bool:
        """Ends the key's load; True if its callers still wait for an answer."""
        if self._loading.get(key) is future:
            del self._loading[key]
        return not future.done()

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


def _answer(values: Mapping[K, V | Exception], key: K) -> V | Exception:
    return values[key] if key in values else LookupError("the load gave no value for a key it was asked for")
