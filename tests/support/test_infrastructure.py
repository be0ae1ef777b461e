"""The tests' vhosts on the machine's RabbitMQ: each one usable, none shared, and none left behind."""

import subprocess

import aio_pika
import pytest

from tests.support.infrastructure import RabbitVhosts, rabbitmqctl_command, vhost_url


def vhosts_on_the_broker() -> set[str]:
    listed = subprocess.run(rabbitmqctl_command("-q", "list_vhosts"), capture_output=True, text=True, check=True)
    return set(listed.stdout.split())


async def test_each_vhost_taken_is_new_and_usable_and_every_one_is_deleted_by_the_close():
    vhosts = RabbitVhosts(batch=2)
    taken = [vhosts.take() for _ in range(3)]  # two batches: one left unused
    try:
        assert len(set(taken)) == 3
        for name in taken:
            connection = await aio_pika.connect(vhost_url(name))
            async with connection:
                queue = await (await connection.channel()).declare_queue("probe")
                assert queue.name == "probe"
        vhosts.give_back(taken[0])
    finally:
        for name in taken[1:]:
            vhosts.give_back(name)
        vhosts.close()

    # Only this instance's vhosts are looked for: other test runs on the machine make their own.
    assert len(vhosts.made) == 4
    assert vhosts_on_the_broker() & set(vhosts.made) == set()  # the one made and never taken too


def test_a_vhost_that_could_not_be_deleted_is_named_at_the_close():
    vhosts = RabbitVhosts()
    vhosts.give_back("crs-test-never-made")

    with pytest.raises(RuntimeError, match="left on the broker: crs-test-never-made"):
        vhosts.close()
