from bench.report import targets


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
        ("release day", "emails/s ÷ raw SMTP floor"): False,
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
