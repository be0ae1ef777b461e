"""`--profile`: py-spy samples the services a benchmark drives while it runs, and writes one
flame graph (SVG) per service under bench/results/profiles/. Sampling takes CPU on the same cores,
so the figures of a profiled run are not the ones to quote."""

import contextlib
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from bench.report import RESULTS_DIR
from crs_tools.local_stack import BIN

PROFILES_DIR = RESULTS_DIR / "profiles"
STOP_TIMEOUT_SECONDS = 60

# (benchmark, {service: pid}) -> a context that profiles those processes and yields {service: file}
Profiler = Callable[[str, dict[str, int]], AbstractContextManager[dict[str, str]]]


def py_spy() -> str:
    found = shutil.which("py-spy") or (str(BIN / "py-spy") if (BIN / "py-spy").exists() else None)
    if found is None:
        raise RuntimeError("--profile needs py-spy (pip install py-spy; the bench extra of pyproject.toml)")
    return found


@contextlib.contextmanager
def no_profile(_benchmark: str, _pids: dict[str, int]) -> Iterator[dict[str, str]]:
    yield {}


@contextlib.contextmanager
def recording(stamp: str, benchmark: str, pids: dict[str, int]) -> Iterator[dict[str, str]]:
    """Records each process in `pids` while the block runs; yields {service: file}, filled at the end."""
    written: dict[str, str] = {}
    PROFILES_DIR.mkdir(parents=True, exist_ok=True)
    samplers = {}
    for service, pid in pids.items():
        path = PROFILES_DIR / f"{stamp}-{benchmark}-{service}.svg"
        samplers[service, path] = subprocess.Popen(
            [py_spy(), "record", "--nonblocking", "--pid", str(pid), "--format", "flamegraph", "--output", str(path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield written
    finally:
        for (service, path), sampler in samplers.items():
            sampler.send_signal(signal.SIGINT)  # py-spy writes its output when interrupted
            try:
                sampler.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                sampler.kill()
                sampler.wait()
            if Path(path).exists():
                written[service] = str(Path(path).relative_to(RESULTS_DIR.parent.parent))
