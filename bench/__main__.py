"""`python -m bench [--n N] [--only release|login|read ...] [...]`: starts the system on free ports in
a temp folder, runs the benchmarks, prints the tables and writes bench/results/<UTC time>.json."""

import argparse
import asyncio
import functools
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import login, profiles, release_day, report, results_read
from bench.system import running_system

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ("release", "login", "read")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000, help="registered candidates and results on release day")
    parser.add_argument("--only", action="append", choices=BENCHMARKS,
                        help="run only this benchmark (repeatable); the set-up of N candidates always runs")
    parser.add_argument("--clients", type=int, default=50, help="concurrent connections for log-in and reads")
    parser.add_argument("--login-requests", type=int, default=5_000, help="log-in request budget")
    parser.add_argument("--login-seconds", type=float, default=30,
                        help="log-in duration (wrk always runs this long; the budget may end it sooner)")
    parser.add_argument("--read-requests", type=int, default=50_000,
                        help="results-read request budget of the system, and of its floor's two halves together")
    parser.add_argument("--read-seconds", type=float, default=20,
                        help="results-read duration of the system, and of its floor's two halves together")
    parser.add_argument("--read-candidates", type=int, default=5_000,
                        help="candidates logged in once for the reads; their tokens are used round-robin")
    parser.add_argument("--read-hot-candidates", type=int, default=100,
                        help="the first of those whose tokens a second run of reads goes round (hot cache)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, data, mail)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy flame graphs of the services under load, in bench/results/profiles/ "
                             "(sampling costs CPU: quote the figures of a run without it)")
    args = parser.parse_args(argv)
    if min(args.n, args.clients, args.read_candidates, args.read_hot_candidates) < 1:
        parser.error("--n, --clients, --read-candidates and --read-hot-candidates must be at least 1")
    args.read_candidates = min(args.read_candidates, args.n)
    args.read_hot_candidates = min(args.read_hot_candidates, args.read_candidates)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    selected = set(args.only or BENCHMARKS)
    started, clock = datetime.now(UTC), time.perf_counter()
    # A profiled run's figures are slowed by the sampling: its file says so in its name.
    name = report.stamp(started) + ("-profiled" if args.profile else "")
    profiler = functools.partial(profiles.recording, name) if args.profile else profiles.no_profile
    benchmarks: dict = {}
    with running_system(args.keep) as system, tempfile.TemporaryDirectory(prefix="crs-bench-work-") as work:
        workdir = Path(work)
        print(f"System up (gateway {system.gateway_url}, folder {system.folder}); setting up {args.n:,} candidates...",
              flush=True)
        if "release" in selected:
            benchmarks["release_day"], candidates = asyncio.run(release_day.run(system, args.n, workdir, profiler))
        else:
            candidates = asyncio.run(release_day.set_up(system, args.n, workdir))
            if "read" in selected:  # the reads need the results in place
                asyncio.run(release_day.measure(system, candidates))
        if "login" in selected:
            print("Log-in...", flush=True)
            benchmarks["login"] = login.run(system, candidates, requests=args.login_requests, clients=args.clients,
                                            max_seconds=args.login_seconds, profiler=profiler)
        if "read" in selected:
            print("Results read...", flush=True)
            benchmarks["results_read"] = results_read.run(
                system, candidates, workdir, requests=args.read_requests, clients=args.clients,
                max_seconds=args.read_seconds, candidates_logged_in=args.read_candidates,
                hot_candidates=args.read_hot_candidates, profiler=profiler)
    parameters = {k: v for k, v in vars(args).items() if k != "keep"} | {"only": sorted(selected)}
    document = report.document(ROOT, parameters, benchmarks, started, time.perf_counter() - clock)
    path = report.write(document, name)
    report.print_tables(document, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
