import hashlib
import subprocess
from dataclasses import asdict

from rich.console import Console

from bench.report import git_commit, print_tables, targets


def release(end_to_end: float, emails: float) -> dict:
    return {"ratios": {"end_to_end_over_floor_sum": end_to_end, "emails_share_of_smtp_floor": emails,
                       "most_time_beyond_floor": "emails_sending_over_smtp"}}


def test_each_target_passes_on_its_side_of_the_line_and_misses_beyond_it():
    benchmarks = {
        "release_day": release(1.5, 0.79),
        "login": {"ratios": {"logins_over_argon2": 0.8}},
        "results_read": {"ratios": {"reads_over_bare_app": 0.49}, "measured": {"latency_ms": {"p99": 49.9}}},
    }

    found = {(t.benchmark, t.figure): t.passed for t in targets(benchmarks)}

    assert found == {
        ("release day", "end to end ÷ sum of floors"): True,
        ("release day", "emails/s ÷ SMTP floor (the notifier's connections)"): False,
        ("log-in", "log-ins/s ÷ argon2id verifications/s"): True,
        ("results read", "requests/s ÷ bare app behind the gateway"): False,
        ("results read", "p99 latency (ms)"): True,
    }


def test_a_missed_release_day_names_the_stage_with_the_most_time_beyond_its_floor():
    [end_to_end, _] = targets({"release_day": release(3.0, 0.9)})

    assert not end_to_end.passed
    assert "emails_sending_over_smtp" in end_to_end.where_to_look


def test_only_the_benchmarks_that_ran_have_targets():
    assert [t.benchmark for t in targets({"login": {"ratios": {"logins_over_argon2": 0.5}}})] == ["log-in"]


def test_only_changes_to_tracked_files_count_as_uncommitted_and_their_diff_is_hashed(tmp_path):
    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args],
                              cwd=tmp_path, capture_output=True, check=True).stdout

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("commit", "-q", "-m", "code")
    (tmp_path / "results.json").write_text("{}\n")  # untracked, as a results file is

    clean = git_commit(tmp_path)
    (tmp_path / "code.py").write_text("x = 2\n")
    changed = git_commit(tmp_path)

    assert clean == {"commit": git("rev-parse", "HEAD").decode().strip(), "uncommitted_changes": False,
                     "diff_sha256": None}
    assert changed["uncommitted_changes"] is True
    assert changed["diff_sha256"] == hashlib.sha256(git("diff", "HEAD")).hexdigest()


def test_the_table_shows_both_smtp_floors_and_both_read_rows_each_with_its_ratio(tmp_path):
    def reads(per_second: float, candidates: int) -> dict:
        return {"connections": 50, "candidates": candidates, "ok_per_second": per_second,
                "reads_per_candidate_per_second": per_second / candidates,
                "latency_ms": {"p50": 5.0, "p99": 20.0}, "cpu_seconds_by_process": {"results": 9.0}}

    benchmarks = {
        "release_day": {
            "parameters": {"n": 1_000},
            "measured": {"end_to_end_seconds": 12.0, "publish_seconds": 1.0, "results_readable_seconds": 4.0,
                         "throughput_per_second": {"emails_sending": 400.0, "emails_end_to_end": 300.0},
                         "emails_beyond_one_per_recipient": 2, "repeated_message_ids": 1,
                         "peak_memory_mib": {"notifier": 90.0}, "cpu_seconds_by_process": {"notifier": 5.0}},
            "floors": {"broker": {"seconds": 0.5}, "bulk_insert": {"seconds": 2.0},
                       "smtp": {"connections": 8, "per_second": 800.0},
                       "smtp_one_connection": {"connections": 1, "per_second": 320.0}},
            "ratios": {"floor_sum_seconds": 8.0, "end_to_end_over_floor_sum": 1.5, "most_time_beyond_floor": "x",
                       "stages_over_floor": {"publish_over_broker": 2.0, "results_readable_over_bulk_insert": 2.0},
                       "emails_share_of_smtp_floor": 0.5, "emails_from_publish_share_of_smtp_floor": 0.375,
                       "emails_share_of_one_connection_floor": 1.25}},
        "results_read": {
            "measured": reads(3_000.0, 5_000), "measured_hot": reads(6_000.0, 100),
            "floor": {"ok_per_second": 10_000.0, "before": {"latency_ms": {"p50": 2.0, "p99": 9.0}},
                      "after": {"latency_ms": {"p50": 2.0, "p99": 9.0}}},
            "ratios": {"reads_over_bare_app": 0.3, "hot_reads_over_bare_app": 0.6}},
    }
    document = {"machine": {"cores": 2, "memory_gib": 8.0}, "commit": "0123456789abcdef",
                "uncommitted_changes": False, "benchmarks": benchmarks,
                "targets": [asdict(t) for t in targets(benchmarks)]}
    console = Console(record=True, width=400)

    print_tables(document, tmp_path / "run.json", console)

    rows = {" ".join(line.replace("│", " ").split()) for line in console.export_text().splitlines()}
    assert "emails/s while sending vs 8 SMTP connections 400.0 800.0 0.50" in rows
    assert "emails/s from the publish vs 8 SMTP connections 300.0 800.0 0.38" in rows
    assert "emails/s while sending vs one SMTP connection 400.0 320.0 1.25" in rows
    assert "emails beyond one a recipient / repeated Message-IDs 2 / 1 0 / 0" in rows
    assert ("results read requests/s at 50 clients, 5,000 candidates (0.6 reads/s each) 3,000.0 10,000.0 0.30"
            in rows)
    assert "hot cache requests/s at 50 clients, 100 candidates (60.0 reads/s each) 6,000.0 10,000.0 0.60" in rows
