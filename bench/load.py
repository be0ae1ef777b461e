"""HTTP load with wrk (Debian's package; not our code), from its own process, only to 127.0.0.1,
bounded by a duration (wrk's -d; wrk always runs that long) and a request budget (the Lua scripts
stop each thread after its share). Throughput is answers over the time the Lua scripts measure
from the first thread's start to the last answer."""

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

LUA_DIR = Path(__file__).parent / "lua"
THREADS = 2
# wrk leaves answers slower than its --timeout out of the latency figures: wait longer than the
# gateway does (proxy_read_timeout 30s), so every answer is counted.
TIMEOUT = "35s"


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed (Debian package wrk; `make bench` installs it when run as root)")
    return found


def run(url: str, script: str, *, requests: int, connections: int, max_seconds: float, args: list[str]) -> dict:
    """wrk's summary (bench/lua/bounded.lua) plus requests per second."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"load goes only to 127.0.0.1, not {url}")
    threads = min(THREADS, connections)
    command = [wrk_path(), "-t", str(threads), "-c", str(connections), "-d", f"{math.ceil(max_seconds)}s",
               "--timeout", TIMEOUT, "-s", str(LUA_DIR / script), url, "--",
               str(math.ceil(requests / threads)), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=max_seconds + 60,
                          env={**os.environ, "BENCH_LUA_DIR": str(LUA_DIR)})
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    summary = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    if summary["measured_us"] <= 0:
        raise RuntimeError(f"wrk got no answers from {url}: {summary}")
    seconds = summary["measured_us"] / 1e6
    latency_ms = {k: v / 1000 for k, v in summary.pop("latency_us").items()}
    return {**summary, "threads": threads, "connections": connections, "seconds": seconds,
            "ok_per_second": (summary["answered"] - summary["non_2xx"]) / seconds, "latency_ms": latency_ms}


def on_both_sides(before: dict, after: dict) -> dict:
    """Two runs of the same load, one before and one after another run, as one: their good answers
    over their joint seconds. Each keeps its own latency figures."""
    answered, non_2xx = before["answered"] + after["answered"], before["non_2xx"] + after["non_2xx"]
    seconds = before["seconds"] + after["seconds"]
    return {"answered": answered, "non_2xx": non_2xx, "seconds": seconds,
            "ok_per_second": (answered - non_2xx) / seconds, "connections": after["connections"],
            "before": before, "after": after}
