"""How many emails one notifier may hold leased and unsent at once."""

# Emails taken up are sent within this share of the lease at the pool's pace: the rest of the
# lease covers the last send and its record, and nothing waits long enough to need a new lease.
LEASE_SHARE = 0.25


def in_flight_limit(per_second: float | None, lease_seconds: float, *, at_least: int, at_most: int) -> int:
    """What the SMTP pool can send in a share of the lease, between `at_least` (one email per
    connection: never fewer than the pool can send at once) and `at_most` (the setting). With no
    pace measured yet, `at_most`: rows taken too many are still checked before each send."""
    if per_second is None:
        return at_most
    return max(at_least, min(at_most, int(per_second * lease_seconds * LEASE_SHARE)))
