"""Prometheus metrics every service exposes at /metrics."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method", "route", "status"]
)
PUBLISHED = Counter("events_published_total", "Events published with a broker confirm", ["service", "event_type"])
CONSUMED = Counter("events_consumed_total", "Events handled and acked", ["service", "event_type"])
RETRIED = Counter("events_retried_total", "Events returned to their queue after a transient failure (past its delivery limit, the broker dead-letters one)", ["service", "event_type"])
DEAD_LETTERED = Counter("events_dead_lettered_total", "Events a consumer sent to a dead-letter queue at once (unreadable, or a permanent failure)", ["service", "event_type"])
DUPLICATES = Counter("events_duplicate_total", "Events skipped because their event_id was already handled", ["service", "event_type"])
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox entries not yet published", ["service"])
