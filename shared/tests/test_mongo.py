"""The pure helpers of crs_shared.mongo (the driver calls are covered by every service's tests)."""

from crs_shared.mongo import in_chunks


def test_in_chunks_keeps_every_value_in_order_in_lists_of_at_most_the_size():
    values = [f"id{i}" for i in range(250)]
    chunks = list(in_chunks(values, 100))
    assert [len(c) for c in chunks] == [100, 100, 50]
    assert [v for c in chunks for v in c] == values
    assert list(in_chunks([], 100)) == []
