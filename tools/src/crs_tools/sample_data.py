"""`sample-data --n N [--exam CODE] [--session YYYY-MM] [--seed S] --out DIR`

Writes a consistent pair of board files for N made-up candidates: `entries.csv` (for
`entries-publish`) and `results-<EXAM>.csv` (for `results-publish`), with scores that agree with the
exams table. The same seed gives the same files; the benchmarks use it for large batches."""

import argparse
import csv
import random
from collections.abc import Iterator
from pathlib import Path

from crs_shared.domain.exams import EXAMS, Exam, find_exam, grade_and_cefr, overall_score
from crs_tools import entries_publish, results_publish

GIVEN = ["Amy", "Ben", "Chloé", "Daniel", "Esther", "Farah", "George", "Hana", "Ivan", "Jia", "美玲", "志明"]
FAMILY = ["Chen", "Okafor", "Martin", "Wu", "García López", "Khan", "Smith", "Sato", "Petrov", "Lin", "林", "陳"]


def candidate_id(n: int) -> str:
    return f"S{n:08d}"


def secret_number(rng: random.Random) -> str:
    return f"{rng.randrange(10_000):04d}"


def result_row(exam: Exam, rng: random.Random, cid: str, given: str, family: str) -> list[str]:
    status = rng.choices(["issued", "withheld", "pending"], weights=[96, 2, 2])[0]
    if status != "issued":
        return [cid, given, family, *[""] * 5, "", "", "", status]
    centre = rng.randint(exam.low + 15, exam.high - 5)
    skills = {s: max(exam.low, min(exam.high, centre + rng.randint(-12, 12))) for s in exam.skills}
    overall = overall_score(skills)
    grade, cefr = grade_and_cefr(exam, overall)
    scores = [str(skills[s]) if s in skills else "" for s in results_publish.COLUMNS[3:8]]
    return [cid, given, family, *scores, str(overall), grade or "", cefr or "", status]


def rows(n: int, exam: Exam, session: str, seed: int, first: int = 1) -> Iterator[tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    for i in range(first, first + n):
        cid, given, family = candidate_id(i), rng.choice(GIVEN), rng.choice(FAMILY)
        entry = [cid, secret_number(rng), given, family, exam.code, session, f"GB{rng.randint(1, 99):03d}"]
        yield entry, result_row(exam, rng, cid, given, family)


def write(n: int, exam: Exam, session: str, seed: int, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    entries_path, results_path = out / "entries.csv", out / f"results-{exam.code}.csv"
    with entries_path.open("w", newline="", encoding="utf-8") as e, results_path.open("w", newline="", encoding="utf-8") as r:
        entries, results = csv.writer(e), csv.writer(r)
        entries.writerow(entries_publish.COLUMNS)
        results.writerow(results_publish.COLUMNS)
        for entry, result in rows(n, exam, session, seed):
            entries.writerow(entry)
            results.writerow(result)
    return entries_path, results_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, required=True, help="number of candidates")
    parser.add_argument("--exam", default="B2_FIRST", choices=sorted(EXAMS) + ["KET", "PET", "FCE", "CAE", "CPE"])
    parser.add_argument("--session", default="2026-06")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", type=Path, required=True, help="folder to write the two CSV files to")
    args = parser.parse_args(argv)
    entries_path, results_path = write(args.n, find_exam(args.exam), args.session, args.seed, args.out)
    print(f"{args.n} candidates: {entries_path} and {results_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
