"""Registration's own Prometheus metrics, beside the shared ones at /metrics."""

from prometheus_client import Counter

GUESS_REFUSALS = Counter(
    "registration_guess_refusals_total",
    "Registrations answered 429 too_many_attempts without a check, by reason: the ID is held, or "
    "checks already in hand fill its remaining tries",
    ["reason"],
)
