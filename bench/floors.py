"""The floors: each raw stage alone, on the same infrastructure and cores as the system, with the
same data. A figure divided by its floor says how much the system adds on top of the raw work."""

import asyncio
import concurrent.futures
import multiprocessing
import time
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import aio_pika
import aiosmtplib
from argon2 import PasswordHasher, Type
from pymongo import AsyncMongoClient

from crs_shared.config import ServiceSettings

CONSUME_TIMEOUT_SECONDS = 300.0


def argon2_hasher() -> PasswordHasher:
    """argon2id with the parameters the services use (crs_shared.config)."""
    settings = ServiceSettings()
    return PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib,
                          parallelism=settings.argon2_parallelism, type=Type.ID)


def argon2_parameters() -> dict:
    hasher = argon2_hasher()
    return {"type": "argon2id", "time_cost": hasher.time_cost, "memory_kib": hasher.memory_cost,
            "parallelism": hasher.parallelism}


async def broker(amqp_url: str, bodies: list[bytes], routing_key: str, queues: int) -> dict:
    """Persistent messages published with confirms to `queues` quorum queues (as many as the
    system's consumers of them) and consumed (ack each) at the same time, on a scratch vhost."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.declare_exchange("bench.floor", aio_pika.ExchangeType.TOPIC, durable=True)
        remaining = len(bodies) * queues
        all_consumed = asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal remaining
            await message.ack()
            remaining -= 1
            if remaining == 0:
                all_consumed.set()

        for number in range(queues):
            queue = await channel.declare_queue(f"bench.floor.{number}", durable=True,
                                                arguments={"x-queue-type": "quorum"})
            await queue.bind(exchange, routing_key=routing_key)
            consumer_channel = await connection.channel()
            await consumer_channel.set_qos(prefetch_count=ServiceSettings().amqp_prefetch)
            await (await consumer_channel.get_queue(queue.name)).consume(on_message)
        start = time.perf_counter()
        await asyncio.gather(*(
            exchange.publish(aio_pika.Message(body, content_type="application/json",
                                              delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=routing_key)
            for body in bodies))
        published = time.perf_counter() - start
        await asyncio.wait_for(all_consumed.wait(), CONSUME_TIMEOUT_SECONDS)
        seconds = time.perf_counter() - start
    return {"messages": len(bodies), "queues": queues, "bytes": sum(map(len, bodies)),
            "publish_seconds": published, "seconds": seconds}


async def bulk_insert(mongo_url: str, documents: list[dict]) -> dict:
    """One insert_many of the documents into a scratch database on the same server."""
    client = AsyncMongoClient(mongo_url)
    name = f"bench_floor_{uuid.uuid4().hex[:8]}"
    try:
        start = time.perf_counter()
        await client[name]["results"].insert_many(documents, ordered=False)
        seconds = time.perf_counter() - start
        await client.drop_database(name)
    finally:
        await client.close()
    return {"documents": len(documents), "seconds": seconds}


def mail_headers(path: Path) -> EmailMessage:
    """The headers of a message the capture server stored, parsed (addresses as addresses)."""
    with path.open("rb") as f:
        return BytesParser(policy=default_policy).parse(f, headersonly=True)


async def _send(port: int, paths: list[str], connections: int) -> dict:
    envelopes = []
    for path in map(Path, paths):
        headers = mail_headers(path)
        envelopes.append((headers["From"].addresses[0].addr_spec, [headers["To"].addresses[0].addr_spec],
                          path.read_bytes()))
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) for _ in range(connections)]
    await asyncio.gather(*(client.connect() for client in clients))
    # Each connection sends the next message as soon as it is done with its last, as a pool does.
    waiting = iter(envelopes)

    async def send_all(client: aiosmtplib.SMTP) -> None:
        for sender, recipients, raw in waiting:
            await client.sendmail(sender, recipients, raw)

    start, cpu_start = time.perf_counter(), time.process_time()
    await asyncio.gather(*(send_all(client) for client in clients))
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    await asyncio.gather(*(client.quit() for client in clients))
    # Near 1, the sender's one core, not the server, set the pace.
    return {"messages": len(envelopes), "connections": connections, "seconds": seconds,
            "per_second": len(envelopes) / seconds, "sender_cpu_share": cpu_seconds / seconds}


def _send_in_this_process(port: int, paths: list[str], connections: int) -> dict:
    return asyncio.run(_send(port, paths, connections))


async def smtp(port: int, paths: list[Path], connections: int) -> dict:
    """`connections` SMTP connections sending the stored messages to the capture server, each the
    next message as soon as it is done with its last. From a process of its own, as the notifier
    sends from its own, so the sender shares its event loop with nothing else of the benchmark."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return await asyncio.get_running_loop().run_in_executor(
            pool, _send_in_this_process, port, [str(p) for p in paths], connections)


def _verify_for(seconds: float, stored_hash: str, password: str) -> int:
    hasher, count = argon2_hasher(), 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hasher.verify(stored_hash, password)
        count += 1
    return count


def argon2_verifications(seconds: float, workers: int) -> dict:
    """Verifications per second of one hash, in `workers` processes side by side for `seconds`."""
    password = "floor-password-42"
    stored_hash = argon2_hasher().hash(password)
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        # Each worker times itself, so starting the processes is not counted.
        counts = pool.starmap(_verify_for, [(seconds, stored_hash, password)] * workers)
    return {"workers": workers, "verifications": sum(counts), "seconds": seconds,
            "per_second": sum(counts) / seconds, **argon2_parameters()}


def on_both_sides(before: dict, after: dict) -> dict:
    """Two argon2id floors, taken before and after a run, as one: their verifications over their seconds."""
    verifications, seconds = before["verifications"] + after["verifications"], before["seconds"] + after["seconds"]
    return {**after, "verifications": verifications, "seconds": seconds, "per_second": verifications / seconds,
            "per_second_before": before["per_second"], "per_second_after": after["per_second"]}

