"""The results file (machine, date, commit, parameters, raw figures, ratios, targets) and the table."""

import hashlib
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Target:
    benchmark: str
    figure: str
    value: float
    goal: str  # e.g. "<= 1.5"
    passed: bool
    where_to_look: str  # the part of the results that shows where the time goes


def machine() -> dict:
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
              if line.startswith("model name")]
    return {"cores": os.cpu_count(), "cpu": models[0] if models else platform.processor(),
            "memory_gib": round(int(meminfo["MemTotal"].split()[0]) / 1024 ** 2, 1),
            "os": platform.platform(), "python": platform.python_version()}


def git_commit(root: Path) -> dict:
    """The commit, whether tracked files differ from it (results files and other untracked files do
    not count), and if so a hash of the difference, to tell runs of the same changes apart."""
    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, check=True).stdout

    changed = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    return {"commit": git("rev-parse", "HEAD").decode().strip(), "uncommitted_changes": changed,
            "diff_sha256": hashlib.sha256(git("diff", "HEAD")).hexdigest() if changed else None}


def _profile(benchmark: dict, service: str) -> str:
    """The flame graph of `service` if this run recorded one, else how to get one."""
    recorded = benchmark.get("profiles") or benchmark.get("measured", {}).get("profiles") or {}
    return recorded.get(service) or f"profile of {service}: run with --profile"


def targets(benchmarks: dict) -> list[Target]:
    found: list[Target] = []
    if release := benchmarks.get("release_day"):
        r = release["ratios"]
        stages = f"release_day.ratios: most time beyond its floor in {r['most_time_beyond_floor']}"
        found.append(Target("release day", "end to end ÷ sum of floors", r["end_to_end_over_floor_sum"], "<= 1.5",
                            r["end_to_end_over_floor_sum"] <= 1.5, stages))
        found.append(Target("release day", "emails/s ÷ SMTP floor (the notifier's connections)",
                            r["emails_share_of_smtp_floor"], ">= 0.8", r["emails_share_of_smtp_floor"] >= 0.8,
                            _profile(release, "notifier")))
    if login := benchmarks.get("login"):
        ratio = login["ratios"]["logins_over_argon2"]
        found.append(Target("log-in", "log-ins/s ÷ argon2id verifications/s", ratio, ">= 0.8", ratio >= 0.8,
                            _profile(login, "auth")))
    if read := benchmarks.get("results_read"):
        ratio, p99 = read["ratios"]["reads_over_bare_app"], read["measured"]["latency_ms"]["p99"]
        found.append(Target("results read", "requests/s ÷ bare app behind the gateway", ratio, ">= 0.5",
                            ratio >= 0.5, _profile(read, "results")))
        found.append(Target("results read", "p99 latency (ms)", p99, "< 50", p99 < 50, _profile(read, "results")))
    return found


def stamp(moment: datetime) -> str:
    """The results file's name (and its profiles' prefix): the run's start in UTC."""
    return moment.strftime("%Y%m%dT%H%M%SZ")


def write(document: dict, name: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


def document(root: Path, parameters: dict, benchmarks: dict, started: datetime, seconds: float) -> dict:
    return {"date": started.isoformat().replace("+00:00", "Z"), "run_seconds": round(seconds, 1),
            "machine": machine(), **git_commit(root), "parameters": parameters, "benchmarks": benchmarks,
            "targets": [asdict(t) for t in targets(benchmarks)]}


def _n(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _p50_p99(run: dict, digits: int, sep: str) -> str:
    return f"{_n(run['latency_ms']['p50'], digits)}{sep}{_n(run['latency_ms']['p99'], digits)}"


def _busiest(cpu: dict[str, float], top: int = 3) -> str:
    return ", ".join(f"{name} {seconds:.0f}" for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])[:top])


def print_tables(doc: dict, path: Path, console: Console | None = None) -> None:
    console = console or Console()
    b = doc["benchmarks"]
    changes = ", with uncommitted changes" if doc["uncommitted_changes"] else ""
    figures = Table(title=f"Benchmarks ({doc['machine']['cores']} cores, {doc['machine']['memory_gib']} GiB, "
                          f"commit {doc['commit'][:10]}{changes})")
    for column in ("benchmark", "figure", "measured", "floor", "ratio"):
        figures.add_column(column, justify="left" if column in ("benchmark", "figure") else "right")
    if release := b.get("release_day"):
        m, f, r = release["measured"], release["floors"], release["ratios"]
        n = release["parameters"]["n"]
        figures.add_row("release day", f"end to end, {n:,} results (s)", _n(m["end_to_end_seconds"]),
                        _n(r["floor_sum_seconds"]), _n(r["end_to_end_over_floor_sum"], 2))
        figures.add_row("", "results-publish (s) vs aio-pika publish+consume", _n(m["publish_seconds"]),
                        _n(f["broker"]["seconds"]), _n(r["stages_over_floor"]["publish_over_broker"], 2))
        figures.add_row("", "all results readable (s) vs one insert_many", _n(m["results_readable_seconds"]),
                        _n(f["bulk_insert"]["seconds"]),
                        _n(r["stages_over_floor"]["results_readable_over_bulk_insert"], 2))
        rates, connections = m["throughput_per_second"], f"{f['smtp']['connections']} SMTP connections"
        figures.add_row("", f"emails/s while sending vs {connections}", _n(rates["emails_sending"]),
                        _n(f["smtp"]["per_second"]), _n(r["emails_share_of_smtp_floor"], 2))
        figures.add_row("", f"emails/s from the publish vs {connections}", _n(rates["emails_end_to_end"]),
                        _n(f["smtp"]["per_second"]), _n(r["emails_from_publish_share_of_smtp_floor"], 2))
        figures.add_row("", "emails/s while sending vs one SMTP connection", _n(rates["emails_sending"]),
                        _n(f["smtp_one_connection"]["per_second"]), _n(r["emails_share_of_one_connection_floor"], 2))
        figures.add_row("", "emails beyond one a recipient / repeated Message-IDs",
                        f"{m['emails_beyond_one_per_recipient']:,} / {m['repeated_message_ids']:,}", "0 / 0", "")
        figures.add_row("", "peak memory MiB (reg/auth/results/notifier)",
                        " / ".join(_n(v, 0) for v in m["peak_memory_mib"].values()), "", "")
        figures.add_row("", "busiest processes (CPU s)", _busiest(m["cpu_seconds_by_process"]), "", "")
    if login := b.get("login"):
        m = login["measured"]
        figures.add_row("log-in", f"log-ins/s at {m['connections']} clients (p50/p99 {_p50_p99(m, 0, '/')} ms)",
                        _n(m["ok_per_second"]), _n(login["floor"]["per_second"]),
                        _n(login["ratios"]["logins_over_argon2"], 2))
        figures.add_row("", "busiest processes (CPU s)", _busiest(m["cpu_seconds_by_process"]), "", "")
    if read := b.get("results_read"):
        f = read["floor"]
        floor_latency = f"{_p50_p99(f['before'], 1, ' / ')}; {_p50_p99(f['after'], 1, ' / ')}"
        for m, label, ratio in ((read["measured"], "results read", "reads_over_bare_app"),
                                (read["measured_hot"], "hot cache", "hot_reads_over_bare_app")):
            figures.add_row(label, f"requests/s at {m['connections']} clients, {m['candidates']:,} candidates "
                                   f"({m['reads_per_candidate_per_second']:,.1f} reads/s each)",
                            _n(m["ok_per_second"]), _n(f["ok_per_second"]), _n(read["ratios"][ratio], 2))
            figures.add_row("", "p50 / p99 latency (ms)", _p50_p99(m, 1, " / "), floor_latency, "")
            figures.add_row("", "busiest processes (CPU s)", _busiest(m["cpu_seconds_by_process"]), "", "")
    console.print(figures)
    goals = Table(title="Targets")
    for column in ("benchmark", "figure", "value", "target", "result", "where the time goes"):
        goals.add_column(column)
    for t in doc["targets"]:
        goals.add_row(t["benchmark"], t["figure"], _n(t["value"], 2), t["goal"],
                      "[green]pass[/]" if t["passed"] else "[red]miss[/]", "" if t["passed"] else t["where_to_look"])
    console.print(goals)
    console.print(f"Results: {path}")
