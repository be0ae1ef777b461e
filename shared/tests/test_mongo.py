"""The helpers of crs_shared.mongo (the other driver calls are covered by every service's tests)."""

from pymongo import ASCENDING, DESCENDING

from crs_shared.mongo import IN_QUERY_CHUNK, create_client, find_grouped, in_chunks
from tests.support.apps import unique_database


def test_in_chunks_keeps_every_value_in_order_in_lists_of_at_most_the_size():
    values = [f"id{i}" for i in range(250)]
    chunks = list(in_chunks(values, 100))
    assert [len(c) for c in chunks] == [100, 100, 50]
    assert [v for c in chunks for v in c] == values
    assert list(in_chunks([], 100)) == []


async def test_find_grouped_gives_each_value_its_own_documents_in_order_across_chunks(mongo_url):
    client = create_client(mongo_url)
    db = client[unique_database("mongo")]
    try:
        values = [f"C{i:03d}" for i in range(IN_QUERY_CHUNK + 5)]  # two `$in` queries
        await db.things.insert_many([{"owner": value, "n": n} for value in values[::3] for n in (1, 2)])
        grouped = await find_grouped(db.things, "owner", values, projection={"_id": 0}, sort=[("n", DESCENDING)])
        assert list(grouped) == values
        assert all(grouped[v] == ([{"owner": v, "n": 2}, {"owner": v, "n": 1}] if i % 3 == 0 else [])
                   for i, v in enumerate(values))
        ascending = await find_grouped(db.things, "owner", values[:1], sort=[("n", ASCENDING)])
        assert [d["n"] for d in ascending["C000"]] == [1, 2]
    finally:
        await client.drop_database(db.name)
        await client.close()
