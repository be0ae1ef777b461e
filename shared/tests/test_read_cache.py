"""The per-process read-through cache: a value is read once per TTL (stepped on the clock, never
slept), refreshed ahead late in its TTL without making readers wait, keys asked for together are
loaded together, at most `max_entries` are kept, and what this process changes is never read stale."""

import asyncio
from datetime import timedelta

import pytest

from crs_shared.clock import ManualClock
from crs_shared.read_cache import ReadThroughCache, one_by_one


class Source:
    """A stand-in for the database: values by key, the keys read (and in which loads), and an
    optional gate that holds reads. A value that is an exception fails the whole load, as a
    database outage would."""

    def __init__(self, **values):
        self.values = dict(values)
        self.reads: list[str] = []
        self.loads: list[list[str]] = []
        self.gate: asyncio.Event | None = None

    async def load_many(self, keys: list[str]) -> dict:
        self.reads.extend(keys)
        self.loads.append(list(keys))
        values = {key: self.values.get(key) for key in keys}
        if self.gate is not None:
            await self.gate.wait()
        for value in values.values():
            if isinstance(value, Exception):
                raise value
        return values


def cache_of(source: Source, clock: ManualClock, *, ttl_seconds: float = 1.0, max_entries: int = 100):
    return ReadThroughCache(source.load_many, ttl_seconds=ttl_seconds, max_entries=max_entries, clock=clock)


async def turns(count: int = 2) -> None:
    """Lets the event loop turn `count` times (no clock time passes): by default, enough for a
    queued load to begin."""
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_value_is_read_once_per_ttl():
    source, clock = Source(a=1), ManualClock()
    cache = cache_of(source, clock)
    assert [await cache.get("a") for _ in range(5)] == [1] * 5
    source.values["a"] = 2  # changed by another process
    clock.advance(timedelta(seconds=0.69))
    assert await cache.get("a") == 1  # up to a TTL late (and not yet due for a refresh)
    clock.advance(timedelta(seconds=0.31))
    assert await cache.get("a") == 2
    assert source.reads == ["a", "a"]


async def test_an_entry_whose_refresh_is_slow_is_served_for_up_to_one_more_ttl():
    source, clock = Source(a=1), ManualClock()
    cache = cache_of(source, clock)
    await cache.get("a")
    source.gate = asyncio.Event()  # the database stops answering
    clock.advance(timedelta(seconds=0.95))
    assert await cache.get("a") == 1  # its refresh is queued, and then held
    await turns()
    clock.advance(timedelta(seconds=0.5))  # past the TTL, the refresh still on the way
    assert await cache.get("a") == 1
    clock.advance(timedelta(seconds=0.6))  # past twice the TTL: no longer served
    reader = asyncio.create_task(cache.get("a"))
    await turns()
    assert not reader.done()  # it waits for the refresh
    source.gate.set()
    assert await reader == 1 and source.reads == ["a", "a"]


async def test_an_entry_read_late_in_its_ttl_is_refreshed_while_readers_keep_it():
    source, clock = Source(a=1), ManualClock()
    cache = cache_of(source, clock)
    await cache.get("a")
    clock.advance(timedelta(seconds=0.69))
    assert await cache.get("a") == 1 and source.reads == ["a"]  # before 70% of the TTL: no refresh

    source.values["a"], source.gate = 2, asyncio.Event()  # the database is slow to answer
    clock.advance(timedelta(seconds=0.22))  # past 90%: refreshed, whatever the key's own point
    assert [await cache.get("a") for _ in range(3)] == [1, 1, 1]  # answered at once, not waiting for it
    await turns()
    assert source.reads == ["a", "a"]  # one refresh, however many readers

    source.gate.set()
    await refreshed(cache, "a", 2)
    clock.advance(timedelta(seconds=0.5))  # older than a TTL since the first read, not since the refresh
    assert await cache.get("a") == 2 and source.reads == ["a", "a"]


async def test_keys_loaded_together_are_refreshed_at_different_ages_of_their_ttl():
    keys = [f"candidate-{n}" for n in range(100)]
    source, clock = Source(**dict.fromkeys(keys, 1)), ManualClock()
    cache = cache_of(source, clock, max_entries=len(keys))
    for key in keys:
        await cache.get(key)
    refreshed_by_age = []
    for step in range(6):  # ages 700, 750, ... 950 ms: the last is past every key's point
        clock.advance(timedelta(milliseconds=700 if step == 0 else 50))
        source.reads.clear()
        for key in keys:
            await cache.get(key)
        await turns()
        refreshed_by_age.append(len(source.reads))
    # Spread over the 70-90% window, not all at one age; each key once.
    assert max(refreshed_by_age) < len(keys) / 2 and sum(refreshed_by_age) == len(keys)


async def test_keys_asked_for_in_one_turn_are_loaded_together():
    source, clock = Source(a=1, b=2, c=3), ManualClock()
    cache = cache_of(source, clock)
    assert await asyncio.gather(cache.get("a"), cache.get("b"), cache.get("c"), cache.get("a")) == [1, 2, 3, 1]
    assert source.loads == [["a", "b", "c"]]


async def test_refreshes_ahead_and_misses_of_one_turn_are_loaded_together():
    source, clock = Source(a=1, b=2), ManualClock()
    cache = cache_of(source, clock)
    await cache.get("a")
    clock.advance(timedelta(seconds=0.95))  # past every key's point
    await cache.get("a")  # answered from its entry; its refresh is queued
    assert await cache.get("b") == 2  # a miss of the same turn
    assert source.loads == [["a"], ["a", "b"]]


async def test_a_key_that_fails_alone_fails_only_its_own_callers():
    async def signed(token: str) -> str:
        if token == "forged":
            raise PermissionError("bad signature")
        return token.upper()

    cache = ReadThroughCache(one_by_one(signed), ttl_seconds=60, max_entries=10)
    good, forged = await asyncio.gather(cache.get("good"), cache.get("forged"), return_exceptions=True)
    assert good == "GOOD" and isinstance(forged, PermissionError)
    assert len(cache) == 1  # the failure is not kept


async def test_a_key_the_load_gives_no_value_for_fails_alone():
    async def load_many(keys: list[str]) -> dict:
        return {key: 1 for key in keys if key != "lost"}

    cache = ReadThroughCache(load_many, ttl_seconds=60, max_entries=10)
    kept, lost = await asyncio.gather(cache.get("kept"), cache.get("lost"), return_exceptions=True)
    assert kept == 1 and isinstance(lost, LookupError)


async def test_a_key_still_queued_when_invalidated_is_read_once_and_kept():
    source, clock = Source(a=1), ManualClock()
    cache = cache_of(source, clock)
    await cache.get("a")
    clock.advance(timedelta(seconds=0.95))
    await cache.get("a")  # queues a refresh; its load has not begun, so it has read nothing yet
    cache.invalidate(["a"])
    source.values["a"] = 2
    assert await cache.get("a") == 2  # served by the queued load
    assert await cache.get("a") == 2 and source.reads == ["a", "a"]


async def refreshed(cache: ReadThroughCache, key: str, value, most_turns: int = 100) -> None:
    """Waits a bounded number of event-loop turns (no clock time passes) for the refreshed value."""
    for _ in range(most_turns):
        if await cache.get(key) == value:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"the background refresh of {key!r} did not finish")


async def test_a_clock_stepped_back_expires_the_entry():
    source, clock = Source(a=1), ManualClock()
    cache = cache_of(source, clock)
    await cache.get("a")
    clock.advance(timedelta(minutes=-5))
    await cache.get("a")
    assert source.reads == ["a", "a"]


async def test_a_zero_ttl_reads_every_time():
    source, clock = Source(a=1), ManualClock()
    cache = cache_of(source, clock, ttl_seconds=0)
    for _ in range(3):
        await cache.get("a")
    assert source.reads == ["a"] * 3


async def test_at_most_max_entries_are_kept_the_least_recently_used_going_first():
    source, clock = Source(a=1, b=2, c=3), ManualClock()
    cache = cache_of(source, clock, max_entries=2)
    await cache.get("a")
    await cache.get("b")
    await cache.get("a")  # a is now the more recently used
    await cache.get("c")  # evicts b
    assert len(cache) == 2
    source.reads.clear()
    for key in ("a", "c", "b"):
        await cache.get(key)
    assert source.reads == ["b"]


async def test_invalidate_drops_the_entries_at_once():
    source, clock = Source(a=1, b=2), ManualClock()
    cache = cache_of(source, clock)
    await cache.get("a")
    await cache.get("b")
    source.values.update(a=10, b=20)
    cache.invalidate(["a"])
    assert (await cache.get("a"), await cache.get("b")) == (10, 2)


async def test_reads_while_this_process_changes_a_key_bypass_the_cache_and_see_the_change_after():
    source, clock = Source(a=1), ManualClock()
    cache = cache_of(source, clock)
    await cache.get("a")
    with cache.changing(["a"]):
        source.values["a"] = 2  # the write, committed before the block ends
        assert await cache.get("a") == 2
        assert await cache.get("a") == 2
        assert len(cache) == 0  # nothing kept while the write runs
    assert await cache.get("a") == 2
    assert await cache.get("a") == 2
    assert source.reads == ["a", "a", "a", "a"]  # once, twice while changing, once after


async def test_concurrent_misses_share_one_read():
    source, clock = Source(a=1), ManualClock()
    cache = cache_of(source, clock)
    source.gate = asyncio.Event()
    readers = [asyncio.create_task(cache.get("a")) for _ in range(10)]
    await wait_for_reads(source, 1)
    source.gate.set()
    assert await asyncio.gather(*readers) == [1] * 10
    assert source.reads == ["a"]


async def test_a_read_that_began_before_a_change_is_answered_but_not_kept():
    source, clock = Source(a="old"), ManualClock()
    cache = cache_of(source, clock)
    source.gate = asyncio.Event()
    early = asyncio.create_task(cache.get("a"))
    await wait_for_reads(source, 1)
    with cache.changing(["a"]):
        source.values["a"] = "new"
    source.gate.set()
    assert await early == "old"  # it asked before the change
    source.gate = None
    assert await cache.get("a") == "new"
    assert source.reads == ["a", "a"]


async def test_a_caller_that_gives_up_does_not_cancel_the_read_others_wait_for():
    source, clock = Source(a=1), ManualClock()
    cache = cache_of(source, clock)
    source.gate = asyncio.Event()
    leaving, staying = asyncio.create_task(cache.get("a")), asyncio.create_task(cache.get("a"))
    await wait_for_reads(source, 1)
    leaving.cancel()
    source.gate.set()
    assert await staying == 1
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert await cache.get("a") == 1 and source.reads == ["a"]


async def test_a_failed_read_reaches_its_callers_and_is_not_kept():
    source, clock = Source(a=ConnectionError("database down")), ManualClock()
    cache = cache_of(source, clock)
    with pytest.raises(ConnectionError):
        await cache.get("a")
    source.values["a"] = 1
    assert await cache.get("a") == 1


async def test_without_a_clock_the_monotonic_clock_is_used():
    source = Source(a=1)
    cache = ReadThroughCache(source.load_many, ttl_seconds=60, max_entries=10)
    await cache.get("a")
    await cache.get("a")
    assert source.reads == ["a"]


def test_settings_that_cannot_work_are_refused():
    for ttl_seconds, max_entries in ((-1, 10), (1, 0)):
        with pytest.raises(ValueError):
            ReadThroughCache(Source().load_many, ttl_seconds=ttl_seconds, max_entries=max_entries)


async def wait_for_reads(source: Source, count: int) -> None:
    """Lets the event loop run until `count` reads have begun (each is a task of its own)."""
    for _ in range(100):
        if len(source.reads) >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{count} reads never began: {source.reads}")
