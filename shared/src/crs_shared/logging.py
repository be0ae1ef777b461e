"""structlog set-up: every line carries `service` and the current `correlation_id`, the lines
libraries write through the standard library (aio-pika, pymongo, uvicorn) too.

Secrets never reach a log line: any key that names one is dropped before rendering.
"""

import functools
import logging
import sys
import uuid

import structlog

SENSITIVE_KEY_PARTS = ("password", "secret", "token", "hash", "authorization", "cookie")


@functools.lru_cache(maxsize=4096)
def _names_a_secret(key: str) -> bool:
    # Remembered: log keys are a small set of names, and this runs for every key of every line.
    return any(part in key.lower() for part in SENSITIVE_KEY_PARTS)


def drop_sensitive_keys(_logger, _method, event_dict):
    for key in [k for k in event_dict if _names_a_secret(k)]:
        del event_dict[key]
    return event_dict


class _StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is when a line is written, as our own lines do (pytest swaps it for each test)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _stream):
        pass


def configure_logging(service: str, *, json: bool = False, level: str = "INFO") -> None:
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    fields = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_sensitive_keys,
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[*fields, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # sys.stderr as it is when a line is written, not when logging was configured: whoever
        # swaps it later (pytest's capture does, for each test) gets the lines.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries log through the standard library: warnings and up only, as lines like ours (a JSON
    # line in production), with the library's logger name.
    handler = _StderrHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *fields],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    # Set up again (each test does): one handler of ours, and the handlers of others (pytest's) kept.
    root.handlers = [h for h in root.handlers if not isinstance(h, _StderrHandler)] + [handler]
    root.setLevel(logging.WARNING)


def current_correlation_id() -> str:
    """The correlation id of the request or event being handled, or a fresh one."""
    return structlog.contextvars.get_contextvars().get("correlation_id") or str(uuid.uuid4())


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
