"""create_app(settings): the lifespan opens MongoDB and the broker, starts the consumers and the outbox relay."""

from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from crs_shared.clock import Clock, SystemClock
from crs_shared.http import install_edge
from crs_shared.logging import configure_logging
from crs_shared.passwords import Passwords
from crs_shared.runtime import ServiceRuntime
from registration import api, consumers
from registration.config import Settings
from registration.domain.guess_limit import GuessLimit
from registration.handlers import SERVICE, Dependencies
from registration.repository import INDEXES, RegistrationRepository


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(SERVICE, json=settings.log_json, level=settings.log_level)
    runtime = ServiceRuntime(settings, SERVICE, clock or SystemClock())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        passwords = Passwords(settings)
        await runtime.start(INDEXES)
        app.state.dependencies = Dependencies(
            uow=runtime.units_of_work(), repository=RegistrationRepository(runtime.db), passwords=passwords,
            clock=runtime.clock,
            secret_number_key=settings.secret_number_key, guess_limit=guess_limit(settings),
        )
        await runtime.subscribe(consumers.subscriptions(app.state.dependencies))
        try:
            yield
        finally:
            await runtime.close()
            passwords.close()

    app = FastAPI(title="Registration service", version="1.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.operator_token = settings.operator_token
    install_edge(app, SERVICE, runtime.readiness)
    app.include_router(api.router)
    return app


def guess_limit(settings: Settings) -> GuessLimit:
    return GuessLimit(threshold=settings.guess_limit, window=timedelta(minutes=settings.guess_window_minutes),
                      hold=timedelta(minutes=settings.guess_hold_minutes),
                      check_lease=timedelta(seconds=settings.guess_check_lease_seconds))
