"""The cache of store reads kept until the next write."""

from __future__ import annotations

from hierarchy.writecache import WriteCache


def test_a_value_is_read_once_per_write_and_again_after_one() -> None:
    cache, reads = WriteCache(), []

    def read() -> int:
        reads.append(1)
        return len(reads)

    assert [cache.get(1, ("labels",), 7, read) for _ in range(3)] == [1, 1, 1]
    assert cache.get(1, ("labels",), 8, read) == 2  # a write came between
    assert cache.get(2, ("labels",), 8, read) == 3  # another collection's own value


def test_distinct_requests_do_not_grow_it_without_bound() -> None:
    """A filter's labels are part of the key: a client sending new labels every search
    must not grow the cache; stale values go first, then the oldest."""
    cache = WriteCache(max_entries=4)
    cache.get(1, ("old",), 1, lambda: "stale")
    for i in range(3):
        cache.get(1, ("labelled", str(i)), 2, lambda i=i: i)
    cache.get(1, ("labelled", "3"), 2, lambda: 3)
    assert len(cache) == 4
    assert cache.get(1, ("old",), 1, lambda: "read again") == "read again"  # the stale one went
    for i in range(100):
        cache.get(1, ("labelled", f"x{i}"), 2, lambda: None)
    assert len(cache) <= 4


def test_forgetting_a_collection_drops_only_its_values() -> None:
    cache = WriteCache()
    cache.get(1, ("labels",), 1, lambda: "one")
    cache.get(2, ("labels",), 1, lambda: "two")
    cache.forget(1)
    assert len(cache) == 1
    assert cache.get(2, ("labels",), 1, lambda: "read again") == "two"
