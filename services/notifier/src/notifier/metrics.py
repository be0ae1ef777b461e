from prometheus_client import Counter, Gauge

NOTIFICATIONS = Counter("notifications_total", "Notifications by outcome", ["kind", "outcome"])
QUEUED = Gauge("notifications_queued", "Notifications waiting to be sent (due or scheduled)")
