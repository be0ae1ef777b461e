"""Event type -> handler."""

from functools import partial

from crs_shared.messaging.consumer import Subscription
from crs_shared.messaging.contracts import EntriesPublished
from registration import handlers


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    return [Subscription(EntriesPublished, partial(handlers.store_entries, deps))]
