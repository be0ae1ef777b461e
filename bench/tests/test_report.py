import hashlib
import subprocess

from bench.report import git_commit, targets


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
