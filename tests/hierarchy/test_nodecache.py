"""The node cache: hits read from memory agree with the store, also after the rows they
came from are rewritten (a tree rebuild) or deleted."""

from __future__ import annotations

import numpy as np

from hierarchy import nodes
from hierarchy.builder import HierarchyConfig
from hierarchy.db import Database
from hierarchy.nodecache import NodeCache
from hierarchy.types import Level, SearchQuery
from tests.hierarchy.helpers import COLLECTION, SEGMENT_MS, segments, unit_vectors


def _loaded(games: Database, count: int = 60) -> np.ndarray:
    vectors = unit_vectors(count, seed=5)
    games.append_segments(COLLECTION, segments("v1", vectors))
    return vectors


def _segment_hit(games: Database, vector: np.ndarray):  # noqa: ANN202 - a Hit
    return games.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=vector, top_k=1)).hits[0]


def test_hits_show_a_segments_new_parent_after_a_rebuild(games: Database) -> None:
    vectors = _loaded(games)
    games.build_video(COLLECTION, "v1")
    before = _segment_hit(games, vectors[30])
    assert games.node_cache.hits + games.node_cache.misses > 0
    # Scene cuts before every one of the first 30 segments: segment 30 now sits in scene 30 or later.
    games.seal_video(COLLECTION, "v1", {Level.SCENE: [i * SEGMENT_MS for i in range(1, 31)]})
    after = _segment_hit(games, vectors[30])
    assert after.node.id == before.node.id and after.node.parent_id != before.node.parent_id
    assert after.node == games.navigator.node(COLLECTION, after.node.id)  # what the store holds
    parent = games.navigator.node(COLLECTION, after.node.parent_id)
    assert parent.start_ms <= after.node.start_ms < after.node.end_ms <= parent.end_ms


def test_a_deleted_video_answers_nothing_from_memory(games: Database) -> None:
    vectors = _loaded(games)
    games.append_segments(COLLECTION, segments("v2", unit_vectors(5, seed=9)))
    assert _segment_hit(games, vectors[3]).node.video_id == "v1"
    games.delete_video(COLLECTION, "v1")
    hits = games.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=vectors[3], top_k=100)).hits
    assert hits and {h.node.video_id for h in hits} == {"v2"}


def test_repeated_lookups_come_from_memory(games: Database) -> None:
    _loaded(games)
    cache = NodeCache(games.store.cursor, capacity=100)
    keys = [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v1")[Level.SEGMENT][:10]]
    first = cache.get(keys + [10**12])  # a key that does not exist is simply absent
    assert sorted(first) == sorted(keys) and cache.misses == 11 and cache.hits == 0
    assert cache.get(keys) == first and cache.hits == 10
    assert first == nodes.by_keys(games.store.cursor(), keys)
    # Attributes alone: from the nodes cached, else as a node is read.
    more = [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v1")[Level.SEGMENT][10:15]]
    stored = nodes.by_keys(games.store.cursor(), keys + more)
    assert cache.attributes(keys + more + [10**12]) == {k: node.attributes for k, node in stored.items()}


def test_the_least_recently_used_nodes_are_forgotten_first(games: Database) -> None:
    _loaded(games)
    cache = NodeCache(games.store.cursor, capacity=3)
    keys = [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v1")[Level.SEGMENT][:4]]
    cache.get(keys[:3])
    cache.get(keys[:1])  # the first is now the most recent
    cache.get(keys[3:])
    assert len(cache) == 3
    misses = cache.misses
    cache.get([keys[0], keys[2], keys[3]])
    assert cache.misses == misses  # all three still held; keys[1] was the one forgotten
    cache.get([keys[1]])
    assert cache.misses == misses + 1


def test_a_read_that_straddles_an_invalidation_is_not_kept(games: Database) -> None:
    _loaded(games)
    keys = [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v1")[Level.SEGMENT][:2]]
    cache: NodeCache

    def cursor_that_invalidates_first():  # noqa: ANN202 - a DuckDB cursor
        cache.invalidate()  # a rebuild commits while this read is under way
        return games.store.cursor()

    cache = NodeCache(cursor_that_invalidates_first, capacity=10)
    assert sorted(cache.get(keys)) == sorted(keys)
    assert len(cache) == 0


def test_a_rebuild_forgets_only_its_own_videos_nodes(games: Database) -> None:
    vectors = _loaded(games)
    other = unit_vectors(20, seed=11)
    games.append_segments(COLLECTION, segments("v2", other))
    for video in ("v1", "v2"):
        games.build_video(COLLECTION, video)
    assert _segment_hit(games, other[4]).node.video_id == "v2"
    before = _segment_hit(games, vectors[30])
    games.seal_video(COLLECTION, "v1", {Level.SCENE: [i * SEGMENT_MS for i in range(1, 31)]})
    misses = games.node_cache.misses
    assert _segment_hit(games, other[4]).node.video_id == "v2"
    assert games.node_cache.misses == misses  # the other video's nodes were kept
    after = _segment_hit(games, vectors[30])
    assert games.node_cache.misses > misses  # the rebuilt video's were read again
    assert after.node.parent_id != before.node.parent_id
    assert after.node == games.navigator.node(COLLECTION, after.node.id)


def test_a_read_that_straddles_a_forget_is_not_kept(games: Database) -> None:
    _loaded(games)
    keys = [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v1")[Level.SEGMENT][:2]]
    cache: NodeCache

    def cursor_that_forgets_first():  # noqa: ANN202 - a DuckDB cursor
        cache.forget(keys[:1])  # a rebuild of that video commits while this read is under way
        return games.store.cursor()

    cache = NodeCache(cursor_that_forgets_first, capacity=10)
    assert sorted(cache.get(keys)) == sorted(keys)
    assert len(cache) == 0


def test_nodes_built_from_the_resident_rows_are_kept_until_forgotten(games: Database) -> None:
    _loaded(games)
    games.node_cache.read_rows()
    cache = NodeCache(games.store.cursor, capacity=10, rows=games.node_cache.rows)
    keys = [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v1")[Level.SEGMENT][:3]]
    first = cache.get(keys)
    assert first == nodes.by_keys(games.store.cursor(), keys) and cache.misses == 0
    assert len(cache) == 3 and all(cache.get(keys)[k] is first[k] for k in keys)  # not built again
    cache.forget(keys[:1])
    again = cache.get(keys)
    assert again[keys[0]] is not first[keys[0]] and again[keys[1]] is first[keys[1]]


def test_nodes_built_from_rows_across_a_forget_are_not_kept(games: Database) -> None:
    _loaded(games)
    games.node_cache.read_rows()
    rows = games.node_cache.rows
    keys = [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v1")[Level.SEGMENT][:2]]
    cache = NodeCache(games.store.cursor, capacity=10, rows=rows)
    answer = rows.get

    def get_then_forget(wanted: list[int]):  # noqa: ANN202 - nodes by key
        found = answer(wanted)
        cache.forget(wanted[:1])  # a rebuild of that video commits while the rows are read
        return found

    rows.get = get_then_forget  # type: ignore[method-assign]
    assert sorted(cache.get(keys)) == sorted(keys)
    assert len(cache) == 0


def test_a_lookup_while_a_rebuild_forgets_its_nodes_keeps_none_of_the_old(games: Database) -> None:
    _loaded(games, 120)
    games.seal_video(COLLECTION, "v1")
    keys = [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v1")[Level.SEGMENT]]
    games.node_cache.read_rows()
    games.node_cache.get(keys)
    rows = games.node_cache.rows
    forget = rows.forget

    def forget_after_a_lookup(forgotten: list[int]) -> None:
        games.node_cache.get(keys)  # a search turns its hits into nodes in between
        forget(forgotten)

    rows.forget = forget_after_a_lookup  # type: ignore[method-assign]
    games.build_video(COLLECTION, "v1", HierarchyConfig(scene_max_ms=8 * SEGMENT_MS))
    rows.forget = forget  # type: ignore[method-assign]
    stored = nodes.by_keys(games.store.cursor(), keys)
    assert games.node_cache.get(keys) == stored


def _attributed(games: Database, count: int = 3) -> list[int]:
    """Keys of ``count`` segments of v1, the first three with attributes and the rest
    with none, read into the resident rows."""
    rows = segments("v1", unit_vectors(count, seed=5))
    for i, row in enumerate(rows[:3]):
        row.attributes = {"team": "home" if i % 2 else "away", "minute": i}
    games.append_segments(COLLECTION, rows)
    games.node_cache.read_rows()
    return [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v1")[Level.SEGMENT]]


def test_attributes_decoded_from_the_resident_rows_are_kept_until_forgotten(games: Database) -> None:
    keys = _attributed(games)
    cache = NodeCache(games.store.cursor, capacity=10, rows=games.node_cache.rows)
    first = cache.attributes(keys)
    assert first == {k: n.attributes for k, n in nodes.by_keys(games.store.cursor(), keys).items()}
    assert first[keys[1]] == {"team": "home", "minute": 1} and len(cache) == 0  # no node built
    again = cache.attributes(keys)
    assert all(again[k] is first[k] for k in keys)  # not decoded again
    cache.forget(keys[:1])
    after = cache.attributes(keys)
    assert after[keys[0]] is not first[keys[0]] and after[keys[1]] is first[keys[1]]
    cache.invalidate()
    assert all(cache.attributes(keys)[k] is not first[k] for k in keys)


def test_label_counts_come_from_the_resident_rows_without_building_nodes(games: Database) -> None:
    """A count ranks every node of its level: their label counts are read, not their nodes
    built (3,500 scenes took 190 ms to build), and the cache is left as it was."""
    rows = segments("v1", unit_vectors(40, seed=5))
    for i, row in enumerate(rows):
        row.labels = ["corner kick"] if i % 3 else ["pass", "cross"]
    games.append_segments(COLLECTION, rows)
    games.seal_video(COLLECTION, "v1")
    games.node_cache.read_rows()
    keys = [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v1")[Level.SCENE]]
    cache = NodeCache(games.store.cursor, capacity=10, rows=games.node_cache.rows)
    counts = cache.label_counts(keys)
    assert counts == {k: n.label_counts for k, n in nodes.by_keys(games.store.cursor(), keys).items()}
    assert len(cache) == 0 and any(counts.values())


def test_attributes_decoded_across_a_forget_are_not_kept(games: Database) -> None:
    keys = _attributed(games)
    rows = games.node_cache.rows
    cache = NodeCache(games.store.cursor, capacity=10, rows=rows)
    decode = rows.attributes

    def decode_then_forget(wanted: list[int]) -> dict[int, dict]:
        found = decode(wanted)
        cache.forget(wanted[:1])  # a rebuild of that video commits while the rows are read
        return found

    rows.attributes = decode_then_forget  # type: ignore[method-assign]
    first = cache.attributes(keys)
    rows.attributes = decode  # type: ignore[method-assign]
    assert all(cache.attributes(keys)[k] is not first[k] for k in keys)


def test_kept_attributes_are_read_again_least_recently_used_last_and_empty_ones_too(games: Database) -> None:
    keys = _attributed(games, count=5)
    rows = games.node_cache.rows
    decode, decoded = rows.attributes, []

    def counted(wanted: list[int]) -> dict[int, dict]:
        decoded.append(list(wanted))
        return decode(wanted)

    rows.attributes = counted  # type: ignore[method-assign]
    cache = NodeCache(games.store.cursor, capacity=3, rows=rows)
    assert cache.attributes(keys[3:5]) == {keys[3]: {}, keys[4]: {}}
    assert cache.attributes(keys[3:5]) == {keys[3]: {}, keys[4]: {}} and decoded == [keys[3:5]]  # none again
    cache.attributes(keys[:1])  # holds 3, 4 and 0
    cache.attributes(keys[3:4])  # 3 read again: 4 is now the least recently used
    cache.attributes(keys[1:2])  # a fourth: 4 gives way
    decoded.clear()
    cache.attributes([keys[3], keys[0], keys[1], keys[4]])
    assert decoded == [[keys[4]]]


def _counting(rows) -> list[list[int]]:  # noqa: ANN001 - the NodeRows whose decodes are counted
    decode, decoded = rows.attributes, []

    def counted(wanted: list[int]) -> dict[int, dict]:
        decoded.append(list(wanted))
        return decode(wanted)

    rows.attributes = counted
    return decoded


def test_attributes_read_ahead_come_from_rows_read_afresh_and_are_kept(games: Database) -> None:
    keys = _attributed(games, count=5)
    more = segments("v2", unit_vectors(3, seed=6))  # written after the rows were last read
    more[0].attributes = {"team": "away"}
    games.append_segments(COLLECTION, more)
    keys += [int(k) for k in nodes.video_keys(games.store.cursor(), 1, "v2")[Level.SEGMENT]]
    cache = NodeCache(games.store.cursor, capacity=16, rows=games.node_cache.rows)
    assert cache.read_ahead_attributes([np.array(keys)]) == 8
    decoded = _counting(games.node_cache.rows)
    held = cache.attributes(keys)
    assert decoded == [] and held[keys[5]] == {"team": "away"} and held[keys[1]]["team"] == "home"
    assert cache.read_ahead_attributes([np.array(keys)]) == 0  # none decoded twice


def test_attributes_that_would_fill_more_than_half_the_cache_are_not_read_ahead(games: Database) -> None:
    keys = _attributed(games, count=5)
    cache = NodeCache(games.store.cursor, capacity=9, rows=games.node_cache.rows)
    assert cache.read_ahead_attributes([np.array(keys)]) == 0
    decoded = _counting(games.node_cache.rows)
    cache.attributes(keys)
    assert decoded == [keys]
