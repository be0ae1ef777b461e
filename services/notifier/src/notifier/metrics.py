from prometheus_client import Counter, Gauge

NOTIFICATIONS = Counter("notifications_total", "Notifications by outcome", ["kind", "outcome"])
QUEUED = Gauge("notifications_queued", "Notifications waiting to be sent (due or scheduled)")
SMTP_PAUSED = Gauge("notifier_smtp_paused",
                    "1 while sending is paused because the SMTP server refuses the notifier's TLS or login settings")
