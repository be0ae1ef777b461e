"""create_app(settings, clock, keys): the lifespan opens MongoDB and the broker and starts the consumers,
the outbox relay and the release announcer."""

from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from crs_shared.clock import Clock, SystemClock
from crs_shared.http import install_edge
from crs_shared.logging import configure_logging
from crs_shared.read_cache import ReadThroughCache
from crs_shared.runtime import ServiceRuntime
from crs_shared.tokens import JwksKeys, Revocations, TokenVerifier
from results import api, consumers
from results.config import Settings
from results.domain.rate_limit import RateLimiter
from results.handlers import SERVICE, Dependencies, announce_due_releases
from results.repository import INDEXES, ResultsRepository


def create_app(settings: Settings | None = None, clock: Clock | None = None, keys: JwksKeys | None = None) -> FastAPI:
    """`keys` replaces auth's JWKS (fetched from `settings.jwks_url`) in tests."""
    settings = settings or Settings()
    configure_logging(SERVICE, json=settings.log_json, level=settings.log_level)
    runtime = ServiceRuntime(settings, SERVICE, clock or SystemClock())
    keys = keys or JwksKeys(settings.jwks_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.start(INDEXES)
        repository = ResultsRepository(runtime.db)
        revocations = Revocations(repository.revocations, runtime.clock)
        app.state.dependencies = Dependencies(
            uow=runtime.units_of_work(), repository=repository, clock=runtime.clock,
            verifier=TokenVerifier(keys, revocations, runtime.clock), revocations=revocations,
            candidate_results=ReadThroughCache(
                repository.candidates_results, ttl_seconds=settings.results_cache_seconds,
                max_entries=settings.results_cache_entries, clock=runtime.clock),
            public_base_url=settings.public_base_url,
        )
        await runtime.subscribe(consumers.subscriptions(app.state.dependencies))
        runtime.run_periodically("release-announcer", settings.release_announcer_poll_seconds,
                                 partial(announce_due_releases, app.state.dependencies))
        try:
            yield
        finally:
            await runtime.close()
            await keys.close()

    app = FastAPI(title="Results service", version="1.0", lifespan=lifespan)
    app.state.runtime = runtime
    app.state.operator_token = settings.operator_token
    app.state.verify_limiter = RateLimiter(
        runtime.clock, per_minute=settings.verify_per_minute, burst=settings.verify_burst,
        max_clients=settings.verify_max_clients,
    )
    install_edge(app, SERVICE, runtime.readiness)
    app.include_router(api.router)
    return app
