"""What each fault test saw, in tests/artifacts/reliability.json (one entry per fault, replaced on
each run) and on stdout: the numbers behind docs/reliability.md."""

import json
import os
import time
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "reliability.json"


def record(fault: str, promise: str, counts: dict, **observed) -> None:
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    entry = {"promise": promise, "counts": counts, "observed": observed, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"\n[reliability] {fault}: {json.dumps(entry, default=str)}")
    report = json.loads(ARTIFACT.read_text()) if ARTIFACT.exists() else {}
    report[fault] = entry
    temporary = ARTIFACT.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(report, indent=2, default=str) + "\n")
    temporary.replace(ARTIFACT)
