"""create_app(settings, clock): the lifespan opens MongoDB and the broker, starts the consumer of
`CandidateRegistered` and the outbox relay."""

from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from auth import api, consumers
from auth.access_tokens import AccessTokenIssuer
from auth.config import Settings
from auth.domain.lockout import LockoutPolicy
from auth.domain.reminder_limit import ReminderLimit
from auth.handlers import SERVICE, Dependencies
from auth.keys import load_keyring
from auth.repository import INDEXES, AuthRepository
from crs_shared.clock import Clock, SystemClock
from crs_shared.http import install_edge
from crs_shared.logging import configure_logging
from crs_shared.passwords import Passwords
from crs_shared.runtime import ServiceRuntime
from crs_shared.tokens import JwksKeys, TokenVerifier


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(SERVICE, json=settings.log_json, level=settings.log_level)
    runtime = ServiceRuntime(settings, SERVICE, clock or SystemClock())
    keys = load_keyring(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        passwords = Passwords(settings)
        await runtime.start(INDEXES)
        lockout = LockoutPolicy(settings.lockout_threshold, timedelta(minutes=settings.lockout_minutes),
                                forget_after=timedelta(hours=settings.lockout_forget_hours))
        repository = AuthRepository(runtime.db, lockout)
        app.state.dependencies = Dependencies(
            uow=runtime.units_of_work(), repository=repository,
            passwords=passwords, clock=runtime.clock, lockout=lockout,
            reminder_limit=ReminderLimit(settings.reminder_limit, timedelta(minutes=settings.reminder_window_minutes)),
            reset_token_lifetime=timedelta(minutes=settings.reset_token_minutes),
            public_base_url=settings.public_base_url,
            access_tokens=AccessTokenIssuer(keys, timedelta(minutes=settings.access_token_minutes)),
            # Auth checks tokens with its own keys and its own revocation state.
            verifier=TokenVerifier(JwksKeys(jwks=keys.jwks()), repository, runtime.clock),
        )
        await runtime.subscribe(consumers.subscriptions(app.state.dependencies))
        try:
            yield
        finally:
            await runtime.close()
            passwords.close()

    app = FastAPI(title="Auth service", version="1.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.keys = keys
    install_edge(app, SERVICE, runtime.readiness)
    app.include_router(api.router)
    app.include_router(api.well_known)
    return app
