"""Services as real processes, for end-to-end and crash tests."""

import subprocess
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pymongo import AsyncMongoClient

from crs_tools.local_stack import SERVICES as LOCAL_PORTS
from crs_tools.local_stack import Child, free_port, service_wiring, start_service
from registration.repository import ENTRIES
from tests.support.apps import unique_database
from tests.support.waiting import wait_until


class ServiceProcess:
    def __init__(self, name: str, env: dict[str, str], log_dir: Path):
        self.name, self.env, self.log_path = name, env, log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
        self.port = free_port()
        self.child: Child | None = None
        self.migrated = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, migrate: bool = True, **extra_env: str) -> "ServiceProcess":
        """Runs the service's `migrate` command first, as `make run` and deployments do (once: a
        restart finds its database made), unless `migrate` is False."""
        self.child = start_service(self.name, self.port, {**self.env, **extra_env}, self.log_path,
                                   migrate=migrate and not self.migrated)
        self.migrated = self.migrated or migrate
        return self

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()

    def kill(self) -> None:
        self.child.kill()

    def terminate(self, timeout: float) -> int:
        """SIGTERM, then waits up to `timeout` seconds for the process to exit by itself; returns
        its exit code (fails, after a SIGKILL, if it did not exit in time)."""
        self.child.process.terminate()
        try:
            return self.child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.child.kill()
            raise AssertionError(f"{self.name} did not exit within {timeout}s of SIGTERM") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


async def wait_for_entries(registration: ServiceProcess, candidate_ids: Iterable[str], timeout: float = 60) -> None:
    """Waits until the registration process has stored these candidates' entries, by reading its
    database. Trying to register until it answers would be guessing: an ID without an entry yet
    answers 400 id_secret_mismatch, and five of those hold the ID for an hour."""
    wanted = {candidate_id.upper() for candidate_id in candidate_ids}
    client = AsyncMongoClient(registration.env["MONGODB_URL"], serverSelectionTimeoutMS=5000)
    entries = client[registration.env["DATABASE_NAME"]][ENTRIES]

    async def stored() -> bool:
        return await entries.count_documents({"_id": {"$in": sorted(wanted)}}) == len(wanted)

    try:
        await wait_until(stored, timeout=timeout, what=f"registration to store {len(wanted)} entries")
    finally:
        await client.close()


def service_env(mongo_url: str, amqp_url: str, smtp_port: int, service: str) -> dict[str, str]:
    return {
        "MONGODB_URL": mongo_url, "AMQP_URL": amqp_url, "SMTP_PORT": str(smtp_port),
        "DATABASE_NAME": unique_database(service), "LOG_JSON": "true",
        "RETRY_BACKOFF_SECONDS": "0.05", "OUTBOX_POLL_SECONDS": "0.1", "DISPATCH_POLL_SECONDS": "0.1",
    }


SERVICES = tuple(LOCAL_PORTS)  # registration, auth, results, notifier


class ServiceSet:
    """The four services as processes on the given servers, wired to each other: auth keeps its
    signing key in `folder`, results verifies tokens with auth's JWKS. Each process keeps its
    database name across restarts, as a restarted process or a replica would. `env` goes to every
    service."""

    def __init__(self, mongo_url: str, amqp_url: str, smtp_port: int, folder: Path, **env: str):
        self.services = {name: ServiceProcess(name, {**service_env(mongo_url, amqp_url, smtp_port, name), **env}, folder)
                         for name in SERVICES}
        self.extra_env = service_wiring(folder, self.services["auth"].url)

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.services[name]

    def url(self, name: str) -> str:
        return self.services[name].url

    def database(self, name: str) -> str:
        return self.services[name].env["DATABASE_NAME"]

    def start(self, **env_by_service: dict[str, str]) -> "ServiceSet":
        """Starts every service side by side (each start is mostly waiting for imports and
        connections); `env_by_service` adds variables to some, e.g. fault hooks."""
        try:
            with ThreadPoolExecutor(len(SERVICES)) as pool:
                for future in [pool.submit(self.start_one, name, **env_by_service.get(name, {})) for name in SERVICES]:
                    future.result()
        except BaseException:
            self.stop()
            raise
        return self

    def start_one(self, name: str, **env: str) -> ServiceProcess:
        return self.services[name].start(**self.extra_env[name], **env)

    def stop(self) -> None:
        for process in reversed(self.services.values()):
            process.stop()

    def logs(self) -> dict[str, str]:
        return {name: process.log() for name, process in self.services.items()}
