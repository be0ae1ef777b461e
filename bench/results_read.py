"""Results read: GET /api/results/me through the gateway with the tokens of many candidates, with
wrk; floor: the same JSON answered from memory by a bare FastAPI app (bench/bare_app.py) behind
the same gateway config."""

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bench import load
from bench.profiles import Profiler, no_profile
from bench.release_day import PASSWORD, Candidates
from bench.system import System
from crs_tools.local_stack import BIN, free_port, http_ok, spawn, start_gateway, wait_for

LOGINS_AT_ONCE = 8
# Each measured run, the system's and the floor's, follows a short unmeasured one of the same load:
# the first seconds a process serves 50 connections are slower than the rest (p99 89-93 ms in a
# first run on a fresh system, 46-59 ms in the runs after it, 2026-12-06), and the figures are of
# the steady state both alike.
WARM_UP_SECONDS, WARM_UP_REQUESTS = 3, 10_000


async def log_in(gateway_url: str, candidate_ids: list[str]) -> list[str]:
    limit = asyncio.Semaphore(LOGINS_AT_ONCE)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        async def token(candidate_id: str) -> str:
            async with limit:
                response = await client.post("/api/auth/login",
                                             json={"candidate_id": candidate_id, "password": PASSWORD})
            return response.raise_for_status().json()["access_token"]

        return await asyncio.gather(*(token(c) for c in candidate_ids))


@contextlib.contextmanager
def bare_app_behind_gateway(body: bytes, folder: Path) -> Iterator[str]:
    """The floor's app and a gateway of its own in front of it; yields the gateway's URL."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "body.json").write_bytes(body)
    port, gateway_port = free_port(), free_port()
    app = spawn("bare app", [str(BIN / "python"), "-m", "bench.bare_app", str(port), str(folder / "body.json")],
                log_path=folder / "bare-app.log")
    gateway = None
    try:
        wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/api/results/me"), timeout=60, what="bare app",
                 process=app.process)
        upstream = f"127.0.0.1:{port}"
        gateway = start_gateway(gateway_port, dict.fromkeys(("registration", "auth", "results"), upstream),
                                folder / "gateway", folder / "gateway.log", rate_limits=False)
        yield f"http://127.0.0.1:{gateway_port}/"
    finally:
        if gateway is not None:
            gateway.stop()
        app.stop()


def write_tokens(path: Path, tokens: list[str]) -> Path:
    path.touch(mode=0o600)
    path.write_text("\n".join(tokens) + "\n")
    return path


def run(system: System, candidates: Candidates, folder: Path, *, requests: int, clients: int, max_seconds: float,
        candidates_logged_in: int, hot_candidates: int, profiler: Profiler = no_profile) -> dict:
    """Reads spread over `candidates_logged_in` candidates, as on release day, and the same reads
    over the first `hot_candidates` of them, whose entries the results cache nearly always holds."""
    started = time.perf_counter()
    tokens = asyncio.run(log_in(system.gateway_url, candidates.ids[:candidates_logged_in]))
    log_in_seconds = time.perf_counter() - started
    spread_file = write_tokens(folder / "tokens.txt", tokens)
    hot_tokens = tokens[:hot_candidates]
    hot_file = write_tokens(folder / "hot-tokens.txt", hot_tokens)
    system_url = f"{system.gateway_url}/"
    try:
        body = httpx.get(f"{system.gateway_url}/api/results/me",
                         headers={"Authorization": f"Bearer {tokens[0]}"}).raise_for_status().content

        def reads(url: str, tokens_file: Path, **options) -> dict:
            return load.run(url, "read.lua", connections=clients, args=[str(tokens_file)], **options)

        # The floor runs just before the system's reads and again just after, each with half their
        # budget, counted as one measurement: the machine's speed drifts within minutes
        # (bench/README.md), as for the log-in's floor. The hot reads follow the spread ones, on a
        # system those have warmed up.
        with bare_app_behind_gateway(body, folder / "read-floor") as floor_url:
            reads(floor_url, spread_file, requests=WARM_UP_REQUESTS, max_seconds=WARM_UP_SECONDS)
            floor_before = reads(floor_url, spread_file, requests=requests // 2, max_seconds=max_seconds / 2)
            reads(system_url, spread_file, requests=WARM_UP_REQUESTS, max_seconds=WARM_UP_SECONDS)
            with profiler("results_read", {"results": system.pid("results")}) as profiles, system.cpu_use() as cpu:
                measured = reads(system_url, spread_file, requests=requests, max_seconds=max_seconds)
            with system.cpu_use() as hot_cpu:
                hot = reads(system_url, hot_file, requests=requests, max_seconds=max_seconds)
            floor = load.on_both_sides(floor_before, reads(floor_url, spread_file, requests=requests // 2,
                                                           max_seconds=max_seconds / 2))
    finally:
        spread_file.unlink()
        hot_file.unlink()
    measured |= _spread(measured, len(tokens), cpu)
    hot |= _spread(hot, len(hot_tokens), hot_cpu)
    return {"parameters": {"requests": requests, "clients": clients, "max_seconds": max_seconds,
                           "warm_up": {"requests": WARM_UP_REQUESTS, "max_seconds": WARM_UP_SECONDS},
                           "candidates_logged_in": len(tokens), "log_in_seconds": log_in_seconds,
                           "body_bytes": len(body)},
            "measured": measured, "measured_hot": hot, "floor": floor, "profiles": profiles,
            "ratios": {"reads_over_bare_app": measured["ok_per_second"] / floor["ok_per_second"],
                       "hot_reads_over_bare_app": hot["ok_per_second"] / floor["ok_per_second"]}}


def _spread(reads: dict, candidates: int, cpu: dict[str, float]) -> dict:
    """How many candidates the reads went round, and how often each was read: well below one read
    per `results_cache_seconds` (the results cache's lifetime of an entry), most reads load their
    candidate's results; well above it, nearly all find them in the cache."""
    return {"candidates": candidates, "reads_per_candidate_per_second": reads["ok_per_second"] / candidates,
            "cpu_seconds_by_process": cpu}
