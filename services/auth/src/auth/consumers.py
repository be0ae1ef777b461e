"""Event type -> handler."""

from functools import partial

from auth import handlers
from crs_shared.messaging.consumer import Subscription
from crs_shared.messaging.contracts import CandidateRegistered


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    return [Subscription(CandidateRegistered, partial(handlers.store_credentials, deps))]
