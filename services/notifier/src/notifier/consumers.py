"""Event type -> handler."""

from functools import partial

from crs_shared.messaging.consumer import Subscription
from crs_shared.messaging.contracts import (
    CandidateRegistered,
    LoginLocked,
    PasswordChanged,
    PasswordResetRequested,
    ResultsReleased,
)
from notifier import handlers


def subscriptions(deps: handlers.Dependencies) -> list[Subscription]:
    return [
        Subscription(CandidateRegistered, partial(handlers.on_candidate_registered, deps)),
        Subscription(ResultsReleased, partial(handlers.on_results_released, deps)),
        Subscription(LoginLocked, partial(handlers.on_login_locked, deps)),
        Subscription(PasswordResetRequested, partial(handlers.on_password_reset_requested, deps)),
        Subscription(PasswordChanged, partial(handlers.on_password_changed, deps)),
    ]
