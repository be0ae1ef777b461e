"""`python -m bench.plot [--results DIR] [--out PNG] [--table]`: each target figure over the committed
runs in bench/results/, one panel per figure with its target line, written to bench/results/ratios.png.

A run counts when its code is a commit anyone can check out (`uncommitted_changes` false) and it was
not profiled (sampling slows it). The figures are ratios to their floors, except the read p99, which
is in milliseconds against its 50 ms line. `--table` prints, as Markdown, the targets of the newest
such run of each benchmark: the README's performance table."""

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bench.report import RESULTS_DIR

DEFAULT_OUT = RESULTS_DIR / "ratios.png"
BENCHMARK_ORDER = ("release day", "log-in", "results read")


@dataclass(frozen=True)
class Run:
    name: str  # the file's name without .json
    document: dict

    @property
    def date(self) -> datetime:
        return datetime.fromisoformat(self.document["date"].replace("Z", "+00:00"))


@dataclass(frozen=True)
class Point:
    date: datetime
    value: float
    passed: bool
    run: str


def counts(run: Run) -> bool:
    """Whether a run's figures are quoted: committed code, and no profiler slowing it."""
    profiled = run.name.endswith("-profiled") or bool(run.document.get("parameters", {}).get("profile"))
    return run.document.get("uncommitted_changes") is False and not profiled


def load(results_dir: Path) -> list[Run]:
    """Every results file in the folder, oldest first (their names are their UTC start times)."""
    return [Run(path.stem, json.loads(path.read_text())) for path in sorted(results_dir.glob("*.json"))]


def series(runs: Iterable[Run]) -> dict[tuple[str, str, str], list[Point]]:
    """(benchmark, figure, goal) -> its value in each run that counts, oldest first. A figure whose
    definition changed (a new floor) has a new name, so it is a series of its own."""
    found: dict[tuple[str, str, str], list[Point]] = {}
    for run in sorted((r for r in runs if counts(r)), key=lambda r: r.date):
        for target in run.document.get("targets", []):
            key = (target["benchmark"], target["figure"], target["goal"])
            found.setdefault(key, []).append(Point(run.date, target["value"], target["passed"], run.name))
    return found


def latest(runs: Iterable[Run]) -> list[tuple[Run, dict]]:
    """The targets of the newest run that counts of each benchmark, with their run."""
    newest: dict[str, Run] = {}
    for run in sorted((r for r in runs if counts(r)), key=lambda r: r.date):
        for target in run.document.get("targets", []):
            newest[target["benchmark"]] = run
    rows = []
    for benchmark in sorted(newest, key=lambda b: (BENCHMARK_ORDER + (b,)).index(b)):
        run = newest[benchmark]
        rows += [(run, t) for t in run.document["targets"] if t["benchmark"] == benchmark]
    return rows


def table(runs: Iterable[Run]) -> str:
    lines = ["| benchmark | figure | target | value | | run (commit) |", "| --- | --- | --- | --- | --- | --- |"]
    for run, t in latest(runs):
        value = f"{t['value']:.1f}" if t["figure"].startswith("p99") else f"{t['value']:.2f}"
        lines.append(f"| {t['benchmark']} | {t['figure']} | {t['goal']} | {value} | "
                     f"{'met' if t['passed'] else 'missed'} | "
                     f"[`{run.name}`](bench/results/{run.name}.json) ({run.document['commit'][:7]}) |")
    return "\n".join(lines)


def goal_value(goal: str) -> float:
    """The number in a goal: "<= 1.5" -> 1.5."""
    return float(goal.lstrip("<>= "))


def draw(runs: Iterable[Run], out: Path) -> Path:
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    lines = series(runs)
    figure = Figure(figsize=(9, 2.1 * max(len(lines), 1)), layout="constrained")
    axes = figure.subplots(max(len(lines), 1), 1, sharex=True, squeeze=False)[:, 0]
    for ax, ((benchmark, name, goal), points) in zip(axes, lines.items(), strict=False):
        dates = [p.date for p in points]
        ax.plot(dates, [p.value for p in points], color="0.6", linewidth=1, zorder=1)
        ax.scatter(dates, [p.value for p in points], s=18, zorder=2,
                   c=["tab:green" if p.passed else "tab:red" for p in points])
        ax.axhline(goal_value(goal), color="tab:blue", linestyle="--", linewidth=1, label=f"target {goal}")
        ax.set_title(f"{benchmark}: {name}", fontsize=9, loc="left")
        ax.set_ylabel("ms" if name.startswith("p99") else "ratio to floor", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="best")
    axes[-1].xaxis.set_major_formatter(DateFormatter("%m-%d"))
    axes[-1].set_xlabel("run date (UTC); green met, red missed", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=90)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=RESULTS_DIR, help="the folder of results files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the PNG to write")
    parser.add_argument("--table", action="store_true", help="print the latest runs' targets as Markdown")
    args = parser.parse_args(argv)
    runs = load(args.results)
    if args.table:
        print(table(runs))
    else:
        print(f"Wrote {draw(runs, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
