"""The helpers of crs_shared.mongo (the other driver calls are covered by every service's tests),
and the concerns every client and transaction states."""

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, monitoring
from pymongo.read_preferences import Primary

from crs_shared.mongo import IN_QUERY_CHUNK, create_client, find_grouped, in_chunks, run_in_transaction
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


def test_a_client_writes_to_a_majority_reads_the_primary_and_retries_reads_and_writes():
    client = create_client("mongodb://db1.example.org,db2.example.org/?replicaSet=rs0", server_selection_seconds=15)
    assert client.write_concern.document == {"w": "majority"}
    assert client.read_preference == Primary()
    assert (client.options.retry_writes, client.options.retry_reads) == (True, True)
    assert client.options.server_selection_timeout == 15


def test_what_the_url_says_replaces_a_default_and_nothing_else():
    # The local SecantusDB's URL (crs_tools.local_stack.secantus_url); production refuses it (test_config).
    client = create_client("mongodb://127.0.0.1:27017/?directConnection=true&retryWrites=false")
    assert (client.options.retry_writes, client.options.retry_reads) == (False, True)
    assert client.write_concern.document == {"w": "majority"}


class CommandConcerns(monitoring.CommandListener):
    """The name, read concern and write concern of each command the client sends."""

    def __init__(self):
        self.sent: list[tuple[str, dict | None, dict | None]] = []

    def started(self, event):
        self.sent.append((event.command_name, event.command.get("readConcern"), event.command.get("writeConcern")))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


async def test_a_transaction_reads_majority_committed_data_and_commits_to_a_majority(mongo_url):
    # A client with the driver's defaults: the transaction states its concerns itself.
    commands = CommandConcerns()
    client = AsyncMongoClient(mongo_url, event_listeners=[commands])
    db = client[unique_database("mongo")]

    async def work(session):
        await db.things.find_one({}, session=session)
        await db.things.insert_one({"n": 1}, session=session)

    try:
        await run_in_transaction(client, work)
        first, commit = commands.sent[0], next(c for c in commands.sent if c[0] == "commitTransaction")
        assert first[:2] == ("find", {"level": "majority"})
        assert commit[2] == {"w": "majority"}
    finally:
        await client.drop_database(db.name)
        await client.close()
