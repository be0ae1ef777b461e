"""Event type -> handler."""

from functools import partial

from crs_shared.messaging.consumer import Subscription
from crs_shared.messaging.contracts import ResultsPublished
from crs_shared.tokens import revocation_subscription
from results import handlers


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    return [
        Subscription(ResultsPublished, partial(handlers.store_results, deps)),
        revocation_subscription(deps.revocations),  # logout and password reset revoke tokens here too
    ]
