import json
from pathlib import Path

from bench import plot


def result(folder: Path, name: str, date: str, *, uncommitted: bool = False, profile: bool = False,
           emails: float = 0.9, login: float | None = 0.81) -> None:
    targets = [{"benchmark": "release day", "figure": "emails/s ÷ SMTP floor", "value": emails, "goal": ">= 0.8",
                "passed": emails >= 0.8, "where_to_look": ""}]
    if login is not None:
        targets.append({"benchmark": "log-in", "figure": "log-ins/s ÷ argon2id verifications/s", "value": login,
                        "goal": ">= 0.8", "passed": login >= 0.8, "where_to_look": ""})
    document = {"date": date, "commit": "0" * 40, "uncommitted_changes": uncommitted,
                "parameters": {"profile": profile}, "benchmarks": {}, "targets": targets}
    (folder / f"{name}.json").write_text(json.dumps(document))


def test_only_runs_of_committed_code_without_a_profiler_are_plotted(tmp_path):
    result(tmp_path, "20261201T000000Z", "2026-12-01T00:00:00Z", emails=0.7)
    result(tmp_path, "20261202T000000Z", "2026-12-02T00:00:00Z", uncommitted=True, emails=0.1)
    result(tmp_path, "20261203T000000Z-profiled", "2026-12-03T00:00:00Z", profile=True, emails=0.2)
    result(tmp_path, "20261204T000000Z", "2026-12-04T00:00:00Z", emails=0.85, login=None)

    lines = plot.series(plot.load(tmp_path))

    assert [p.run for p in lines[("release day", "emails/s ÷ SMTP floor", ">= 0.8")]] == [
        "20261201T000000Z", "20261204T000000Z"]
    assert [p.value for p in lines[("log-in", "log-ins/s ÷ argon2id verifications/s", ">= 0.8")]] == [0.81]


def test_the_table_takes_each_benchmark_from_its_newest_counted_run(tmp_path):
    result(tmp_path, "20261201T000000Z", "2026-12-01T00:00:00Z", login=0.75)
    result(tmp_path, "20261204T000000Z", "2026-12-04T00:00:00Z", emails=0.85, login=None)
    result(tmp_path, "20261205T000000Z", "2026-12-05T00:00:00Z", uncommitted=True, emails=0.1, login=0.1)

    rows = [(run.name, t["benchmark"], t["value"]) for run, t in plot.latest(plot.load(tmp_path))]

    assert rows == [("20261204T000000Z", "release day", 0.85), ("20261201T000000Z", "log-in", 0.75)]


def test_the_plot_is_a_png(tmp_path):
    result(tmp_path, "20261201T000000Z", "2026-12-01T00:00:00Z")
    result(tmp_path, "20261204T000000Z", "2026-12-04T00:00:00Z", emails=0.85)

    out = plot.draw(plot.load(tmp_path), tmp_path / "out" / "ratios.png")

    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
