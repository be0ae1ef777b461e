"""What every service process owns: its MongoDB database, its broker connection, the publisher and
outbox relay, its consumers and its periodic tasks. Each service's lifespan builds one and closes it."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from crs_shared import faults
from crs_shared.clock import Clock
from crs_shared.config import ServiceSettings
from crs_shared.logging import get_logger
from crs_shared.messaging.consumer import QueueConsumer, RetryPolicy, Subscription
from crs_shared.messaging.inbox import INBOX_COLLECTION, INBOX_INDEXES
from crs_shared.messaging.outbox import OUTBOX_COLLECTION, OUTBOX_INDEXES, OutboxRelay
from crs_shared.messaging.publisher import EventPublisher
from crs_shared.messaging.topology import declare_consumer_queue
from crs_shared.mongo import create_client, ensure_indexes, ping
from crs_shared.unit_of_work import UnitsOfWork

log = get_logger(__name__)
# During shutdown, a broker that does not answer a consumer cancel or a close within this is gone
# (a robust connection would otherwise wait for it to come back).
BROKER_GONE_SECONDS = 5.0


async def connect_broker(url: str, attempts: int = 30) -> AbstractRobustConnection:
    for attempt in range(1, attempts + 1):
        try:
            return await aio_pika.connect_robust(url, timeout=5)
        except (ConnectionError, OSError, aio_pika.exceptions.AMQPError) as exc:
            if attempt == attempts:
                raise
            log.warning("broker not reachable yet; retrying", attempt=attempt, error=repr(exc))
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


class PeriodicTask:
    """Runs `work()` every `seconds` until stopped. A pass that fails is logged, and the next one
    tries again: the task must outlive broker and database outages, as the outbox relay does."""

    def __init__(self, name: str, seconds: float, work: Callable[[], Awaitable[object]]):
        self.name = name
        self._seconds = seconds
        self._work = work
        self._stopping = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._work()
            except Exception as exc:
                log.warning("periodic task failed; will retry", task=self.name, error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._seconds)

    async def stop(self, grace_seconds: float) -> None:
        """Lets the pass in hand finish (up to `grace_seconds`), then ends the task."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=grace_seconds)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            log.warning("shutdown: periodic task cancelled mid-pass", task=self.name)


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, service: str, clock: Clock):
        self.settings = settings
        self.service = service
        self.clock = clock
        self.mongo = create_client(settings.mongodb_url)
        self.db: AsyncDatabase = self.mongo[settings.database_name or service]
        self.broker: AbstractRobustConnection | None = None
        self.publisher: EventPublisher | None = None
        self.relay: OutboxRelay | None = None
        self._relay_task: asyncio.Task | None = None
        self._consumers: list[QueueConsumer] = []
        self._periodic: list[PeriodicTask] = []

    @property
    def outbox(self):
        return self.db[OUTBOX_COLLECTION]

    @property
    def inbox(self):
        return self.db[INBOX_COLLECTION]

    async def start(self, indexes: dict[str, list[IndexModel]]) -> None:
        faults.arm(self.settings.environment)
        await ensure_indexes(self.db, {**indexes, OUTBOX_COLLECTION: OUTBOX_INDEXES, INBOX_COLLECTION: INBOX_INDEXES})
        self.broker = await connect_broker(self.settings.amqp_url)
        self.publisher = EventPublisher(self.broker, timeout_seconds=self.settings.publish_timeout_seconds)
        await self.publisher.start()
        self.relay = OutboxRelay(
            self.outbox, self.publisher, self.clock, service=self.service,
            poll_seconds=self.settings.outbox_poll_seconds, batch_size=self.settings.outbox_batch_size,
        )
        if self.settings.outbox_relay_enabled:
            self._relay_task = asyncio.create_task(self.relay.run(), name=f"{self.service}-outbox-relay")

    async def subscribe(self, subscriptions: list[Subscription]) -> None:
        """One channel and one quorum queue per subscription, so a slow handler never blocks another."""
        if not self.settings.consumers_enabled:
            return
        settings = self.settings
        policy = RetryPolicy(settings.retry_backoff_seconds, settings.retry_backoff_max_seconds,
                             settings.max_message_bytes)
        for subscription in subscriptions:
            channel = await self.broker.channel()
            await channel.set_qos(prefetch_count=subscription.event.CONSUMER_PREFETCH or self.settings.amqp_prefetch)
            queue = await declare_consumer_queue(channel, self.service, subscription.event.ROUTING_KEY)
            consumer = QueueConsumer(queue, subscription, service=self.service, policy=policy)
            await consumer.start()
            self._consumers.append(consumer)

    def run_periodically(self, name: str, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
        """Runs `work()` every `seconds` from now until close()."""
        task = PeriodicTask(f"{self.service}-{name}", seconds, work)
        task.start()
        self._periodic.append(task)

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def units_of_work(self) -> UnitsOfWork:
        """Transactions over this service's database, its outbox (waking the relay) and its inbox."""
        return UnitsOfWork(self.mongo, producer=self.service, outbox=self.outbox, inbox=self.inbox,
                           wake=self.wake_relay)

    async def readiness(self) -> dict[str, bool]:
        broker_ok = self.broker is not None and not self.broker.is_closed and self.broker.connected.is_set()
        return {"mongodb": await ping(self.mongo), "rabbitmq": broker_ok}

    async def stop_consuming(self) -> None:
        """Cancels every consumer, so no new deliveries arrive, and waits (up to the shutdown grace)
        for the handlers in hand. Unfinished ones go back to their queue when the channel closes."""
        consumers, self._consumers = self._consumers, []
        if not consumers:
            return
        cancelled = await asyncio.gather(
            *(asyncio.wait_for(consumer.cancel(), BROKER_GONE_SECONDS) for consumer in consumers),
            return_exceptions=True,
        )
        log.info("shutdown: stopped consuming", consumers=len(consumers), in_flight=sum(c.in_flight for c in consumers),
                 errors=[repr(e) for e in cancelled if isinstance(e, BaseException)])
        grace = self.settings.shutdown_grace_seconds
        unfinished = await asyncio.gather(*(consumer.finish(grace) for consumer in consumers))
        log.info("shutdown: in-flight handlers finished", unfinished=sum(unfinished))

    async def close(self) -> None:
        """Graceful: stop the periodic tasks and consuming, finish in-flight work, flush the outbox,
        then disconnect."""
        periodic, self._periodic = self._periodic, []
        if periodic:
            await asyncio.gather(*(task.stop(self.settings.shutdown_grace_seconds) for task in periodic))
            log.info("shutdown: periodic tasks stopped", tasks=[task.name for task in periodic])
        await self.stop_consuming()
        if self._relay_task is not None:
            published = await self.relay.stop()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._relay_task, timeout=self.settings.shutdown_grace_seconds)
            log.info("shutdown: outbox flushed", published=published)
        if self.publisher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.publisher.close(), BROKER_GONE_SECONDS)
        if self.broker is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.broker.close(), BROKER_GONE_SECONDS)
        await self.mongo.close()
        log.info("shutdown: connections closed")
