import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(check: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.1, what: str) -> T:
    """Polls `check` until it returns something truthy; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


async def value(value: T) -> T:
    """`value` as a check for `wait_until`, where the condition is a plain expression."""
    return value


async def stays(check: Callable[[], Awaitable[T]], *, seconds: float, interval: float = 0.5) -> T:
    """Polls `check` for `seconds`: its last value, or its first falsy one (what changed)."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if not value or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)


def wait_until_sync(check: Callable[[], T], *, timeout: float = 20.0, interval: float = 0.1, what: str) -> T:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")
