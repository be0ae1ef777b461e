"""create_app(settings): the lifespan opens MongoDB and the broker, starts the consumers and the dispatcher."""

import asyncio
import contextlib
from contextlib import asynccontextmanager

from fastapi import FastAPI

from crs_shared.clock import Clock, SystemClock
from crs_shared.config import is_this_machine
from crs_shared.http import install_edge
from crs_shared.logging import configure_logging, get_logger
from crs_shared.runtime import ServiceRuntime
from notifier import api, consumers
from notifier.config import Settings
from notifier.dispatcher import Dispatcher
from notifier.handlers import SERVICE, Dependencies
from notifier.mailer import SmtpPool, SmtpSecurity
from notifier.rendering import Sender
from notifier.repository import INDEXES, NotifierRepository

log = get_logger(__name__)


def create_app(settings: Settings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(SERVICE, json=settings.log_json, level=settings.log_level)
    runtime = ServiceRuntime(settings, SERVICE, clock or SystemClock())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.start(INDEXES)
        repository = NotifierRepository(runtime.db)
        await repository.upgrade(runtime.clock.now())
        pool = smtp_pool(settings)
        app.state.pool = pool
        dispatcher = Dispatcher(repository, pool, runtime.clock, settings)
        app.state.dispatcher = dispatcher
        app.state.dependencies = Dependencies(
            uow=runtime.units_of_work(), repository=repository, clock=runtime.clock,
            after_commit=dispatcher.wake, hand_over=dispatcher.hand_over, handover_leases=dispatcher.handover_leases,
            public_base_url=settings.public_base_url,
        )
        dispatching = asyncio.create_task(dispatcher.run(), name="notifier-dispatcher")
        await runtime.subscribe(consumers.subscriptions(app.state.dependencies))
        try:
            yield
        finally:
            # No new notifications first; then the dispatcher finishes the sends it has begun (a
            # send cut short after SMTP accepted it would be sent again by another replica),
            # records them and releases the rows it has not sent.
            await runtime.stop_consuming()
            dispatcher.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(dispatching, timeout=settings.shutdown_grace_seconds)
            log.info("shutdown: dispatcher stopped")
            await runtime.close()
            await pool.close()

    async def readiness() -> dict[str, bool]:
        pool = getattr(app.state, "pool", None)
        return await runtime.readiness() | {"smtp": pool is not None and pool.fault is None}

    def why_not_ready() -> dict[str, str]:
        pool = getattr(app.state, "pool", None)
        return {"smtp": f"sending is paused: {pool.fault}"} if pool is not None and pool.fault is not None else {}

    app = FastAPI(title="Notifier service", version="1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.runtime = runtime
    install_edge(app, SERVICE, readiness, why_not_ready)
    app.include_router(api.router)
    return app


def smtp_pool(settings: Settings) -> SmtpPool:
    security = SmtpSecurity(settings.smtp_tls, settings.smtp_username, settings.smtp_password, settings.smtp_ca_file)
    if security.tls == "none" and not is_this_machine(settings.smtp_host):
        log.warning("emails go to the SMTP server unencrypted (SMTP_TLS=none)", smtp_host=settings.smtp_host)
    return SmtpPool(settings.smtp_host, settings.smtp_port, size=settings.smtp_connections,
                    timeout=settings.smtp_timeout_seconds, max_per_second=settings.smtp_max_per_second,
                    security=security, recheck_sender=Sender.from_settings(settings).envelope_from,
                    recheck_first_seconds=settings.smtp_recheck_first_seconds,
                    recheck_max_seconds=settings.smtp_recheck_max_seconds)
