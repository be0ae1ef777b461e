"""Fault injection for the reliability tests (tests/reliability): a process kills itself at one
chosen point, so a crash lands deterministically in the window a test wants to prove safe.

- `FAULT_KILL_AFTER_HANDLE=<queue>`: after a handler on that queue has committed, before the ack;
  with `FAULT_KILL_AFTER_HANDLE_IF=<text>` too, only after a message whose body holds that text
  (a test names a candidate, so the crash lands on the part that holds what it checks).
- `FAULT_KILL_BEFORE_PUBLISH=<event type>`: after the outbox entry of such an event is committed,
  before the relay leases and publishes it.

Read once, when the service starts (`arm`); refused with ENVIRONMENT=prod. Unarmed, every hook is a no-op.
"""

import os
import signal
import sys
from collections.abc import Mapping

from crs_shared.logging import get_logger

KILL_AFTER_HANDLE = "FAULT_KILL_AFTER_HANDLE"
KILL_AFTER_HANDLE_IF = "FAULT_KILL_AFTER_HANDLE_IF"
KILL_BEFORE_PUBLISH = "FAULT_KILL_BEFORE_PUBLISH"

log = get_logger(__name__)
_armed: dict[str, str] = {}


def arm(environment: str, environ: Mapping[str, str] = os.environ) -> None:
    wanted = {name: environ[name] for name in (KILL_AFTER_HANDLE, KILL_AFTER_HANDLE_IF, KILL_BEFORE_PUBLISH)
              if environ.get(name)}
    if wanted and environment == "prod":
        raise RuntimeError(f"fault injection ({', '.join(sorted(wanted))}) is refused in production")
    _armed.clear()
    _armed.update(wanted)
    if wanted:
        log.warning("fault injection armed", **wanted)


def kill_after_handle(queue: str, body: bytes = b"") -> None:
    if _armed.get(KILL_AFTER_HANDLE_IF, "").encode() in body:
        _kill_if(KILL_AFTER_HANDLE, queue)


def kill_before_publish(event_type: str) -> None:
    _kill_if(KILL_BEFORE_PUBLISH, event_type)


def _kill_if(hook: str, value: str) -> None:
    if _armed.get(hook) == value:
        log.warning("fault injection: killing this process", hook=hook, at=value)
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
