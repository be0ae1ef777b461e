import pytest

from bench import load
from bench.results_read import bare_app_behind_gateway


def test_wrk_stops_each_thread_at_its_budget_and_reports_latency_and_throughput(tmp_path):
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("token-a\ntoken-b\n")
    with bare_app_behind_gateway(b'{"candidate_id": "S00000001", "results": []}', tmp_path / "floor") as url:
        summary = load.run(url, "read.lua", requests=200, connections=4, max_seconds=3, args=[str(tokens)])

    # A thread stops at its budget; answers already read in the same loop turn still count.
    assert 200 <= summary["answered"] <= 200 + 4
    assert summary["non_2xx"] == summary["timeouts"] == summary["connect_errors"] == 0
    assert 0 < summary["seconds"] <= summary["wrk_duration_us"] / 1e6
    assert summary["ok_per_second"] == summary["answered"] / summary["seconds"]
    assert 0 < summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"] <= summary["latency_ms"]["max"]


def test_load_goes_only_to_this_machine():
    with pytest.raises(ValueError, match="only to 127.0.0.1"):
        load.run("http://192.0.2.1:80/", "read.lua", requests=1, connections=1, max_seconds=1, args=[])


def test_runs_before_and_after_count_as_one_measurement_of_their_joint_seconds():
    before = {"answered": 5_000, "non_2xx": 0, "seconds": 0.5, "connections": 50, "latency_ms": {"p99": 9.0}}
    after = {"answered": 4_010, "non_2xx": 10, "seconds": 0.5, "connections": 50, "latency_ms": {"p99": 12.0}}
    floor = load.on_both_sides(before, after)
    assert (floor["answered"], floor["non_2xx"], floor["seconds"]) == (9_010, 10, 1.0)
    assert floor["ok_per_second"] == 9_000.0
    assert (floor["before"]["latency_ms"]["p99"], floor["after"]["latency_ms"]["p99"]) == (9.0, 12.0)
