"""The cache of store reads kept while a collection's segments are only added to: read
once, grown by what is written since, read again after a rewrite or delete."""

from __future__ import annotations

import numpy as np

from hierarchy.db import Database
from hierarchy.types import EmbeddingSpace, Filter, Level, Mode, SearchQuery, SegmentInput
from hierarchy.writecache import GrowingCache
from tests.hierarchy.helpers import DIM, unit_vectors


def test_a_value_is_read_once_then_grown_by_what_was_written_since() -> None:
    cache, reads = GrowingCache(), []

    def read(after: int) -> list[int]:
        reads.append(after)
        return [after]

    def union(old: list[int], new: list[int]) -> list[int]:
        return sorted({*old, *new})

    assert [cache.get(1, ("labels",), 0, 7, read, union) for _ in range(3)] == [[-1]] * 3
    assert cache.get(1, ("labels",), 0, 9, read, union) == [-1, 7]  # commits 8-9 read on their own
    assert cache.get(1, ("labels",), 1, 9, read, union) == [-1]  # a rewrite: read whole again
    assert cache.get(2, ("labels",), 0, 9, read, union) == [-1]  # another collection's own value
    assert reads == [-1, 7, -1, -1]


def test_distinct_requests_do_not_grow_it_without_bound() -> None:
    """A filter's labels are part of the key: a client sending new labels every search
    must not grow the cache; the oldest value goes."""
    cache = GrowingCache(max_entries=4)
    for i in range(100):
        cache.get(1, ("labelled", str(i)), 0, 1, lambda after, i=i: i, max)
    assert len(cache) == 4
    assert cache.get(1, ("labelled", "99"), 0, 1, lambda after: "read again", max) == 99


def test_forgetting_a_collection_drops_only_its_values() -> None:
    cache = GrowingCache()
    cache.get(1, ("labels",), 0, 1, lambda after: "one", max)
    cache.get(2, ("labels",), 0, 1, lambda after: "two", max)
    cache.forget(1)
    assert len(cache) == 1
    assert cache.get(2, ("labels",), 0, 1, lambda after: "read again", max) == "two"


def _labelled(video: str, labels: dict[int, str], count: int, seed: int) -> list[SegmentInput]:
    rows = unit_vectors(count, seed=seed)
    return [SegmentInput(video, i * 1000, i * 1000 + 1000, rows[i], labels=[labels[i]] if i in labels else [])
            for i in range(count)]  # fmt: skip


def test_labels_written_and_deleted_are_read_as_the_store_holds_them(db: Database) -> None:
    db.create_collection("c", EmbeddingSpace(DIM))
    db.create_video("c", "v1")
    db.append_segments("c", _labelled("v1", {2: "goal", 5: "goal", 9: "goal"}, 12, 1))

    def every(event: str) -> tuple[int, str]:
        q = SearchQuery("c", text=f"every {event}", vector=unit_vectors(1, seed=9)[0], top_k=20, mode=Mode.AUTO)
        result = db.search(q)
        return len(result.hits), result.route.reason

    assert every("goal")[0] == 3
    db.create_video("c", "v2")
    db.append_segments("c", _labelled("v2", {1: "penalty", 4: "penalty", 6: "goal"}, 8, 2))
    assert every("penalty")[0] == 2 and every("goal")[0] == 4  # grown by the new segments
    db.delete_video("c", "v1")
    db.delete_video("c", "v2")
    assert "no label names 'goal'" in every("goal")[1]  # read again after the deletes


def test_a_label_filter_explains_parents_by_labelled_segments_written_since(db: Database) -> None:
    db.create_collection("c", EmbeddingSpace(DIM))
    query = SearchQuery("c", Level.SCENE, vector=unit_vectors(1, seed=3)[0], top_k=50, filter=Filter(labels=("goal",)))
    for n, video in enumerate(("v1", "v2")):
        db.create_video("c", video)
        db.append_segments("c", _labelled(video, {3: "goal", 7: "goal"}, 10, n))
        db.seal_video("c", video)
        explained = {e.node.id for h in db.search(query).hits for e in h.evidence}
        assert {f"{v}@{s}" for v in ("v1", "v2")[: n + 1] for s in (3000, 7000)} <= explained
    assert np.all([h.node.level is Level.SCENE for h in db.search(query).hits])


def test_a_common_label_is_held_once_whatever_labels_come_with_it(db: Database) -> None:
    # Kept per filter, a common label beside a new one each search filled every slot
    # with a copy of the common label's keys.
    db.create_collection("c", EmbeddingSpace(DIM))
    db.create_video("c", "v")
    db.append_segments("c", _labelled("v", dict.fromkeys(range(0, 40, 2), "goal"), 40, 1))
    reads = db.searcher._label_reads
    cid = db.get_collection("c").id
    for i in range(300):
        assert len(reads.keys(cid, ["goal", f"made-up-{i}", "goal"])) == 20
    held = [value for _, _, value in reads._cache._values.values() if len(value)]
    assert len(held) == 1 and len(reads._cache) <= 256


def test_a_results_events_are_grown_by_writes_each_moment_once(db: Database) -> None:
    db.create_collection("c", EmbeddingSpace(DIM))
    reads, cid = db.searcher._label_reads, db.get_collection("c").id
    db.create_video("c", "v1")
    db.append_segments("c", _labelled("v1", {2: "goal", 5: "goal"}, 8, 1))
    assert sorted(row[:2] for row in reads.events(cid, ["goal"])) == [("v1", 2000), ("v1", 5000)]
    db.create_video("c", "v2")
    db.append_segments("c", _labelled("v2", {1: "goal", 3: "corner"}, 6, 2))
    grown = sorted(row[:2] for row in reads.events(cid, ["goal", "corner"]))
    assert grown == [("v1", 2000), ("v1", 5000), ("v2", 1000), ("v2", 3000)]
    assert sorted(row[:2] for row in reads.events(cid, ["goal"])) == [("v1", 2000), ("v1", 5000), ("v2", 1000)]
