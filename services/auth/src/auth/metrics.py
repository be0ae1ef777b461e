"""Auth's own Prometheus metrics, beside the shared ones at /metrics."""

from prometheus_client import Counter

LOGINS = Counter("auth_logins_total", "Log-in attempts by outcome", ["outcome"])
