"""argon2id hashing, off the event loop. Parameters come from settings; a hash made with older
parameters is reported by `needs_rehash` so auth can refresh it at the next log-in."""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from crs_shared.config import ServiceSettings


def usable_cpus() -> int:
    """The CPUs this process may run on: a cpuset or taskset narrows them, a CPU quota does not."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Passwords:
    def __init__(self, settings: ServiceSettings):
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
            type=Type.ID,
        )
        # argon2-cffi releases the GIL, so threads hash in parallel on every core. Their number bounds
        # the memory hashing holds (argon2_memory_kib each) however many log-ins arrive at once.
        self.workers = settings.argon2_workers or usable_cpus()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="argon2")
        self._dummy_hash = self._hasher.hash("not-a-real-password-00")

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Verifies against the stored hash, or spends the same time on a dummy hash when there is none."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy_hash, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._hasher.check_needs_rehash(stored_hash)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
