"""Event type -> handler."""

from functools import partial

from crs_shared.messaging.consumer import Subscription
from crs_shared.messaging.contracts import CandidateRegistered
from notifier import handlers


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    return [Subscription(CandidateRegistered, partial(handlers.on_candidate_registered, deps))]
