"""Level spans: the in-memory look-ups of routed search agree with the store."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hierarchy import candidates, nodes
from hierarchy import spans as spans_module
from hierarchy.db import Database
from hierarchy.spans import LevelSpans, SpanBlock
from hierarchy.types import Filter, Level, Mode, SearchQuery, TimeRange
from tests.hierarchy.helpers import COLLECTION, segments, unit_vectors


def test_spans_and_inside_agree_with_the_nodes(games: Database) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(12, seed=1)))
    games.append_segments(COLLECTION, segments("v2", unit_vectors(5, seed=2)))
    stored = {h.node.id: h for h in games.search(SearchQuery(COLLECTION, vector=unit_vectors(1)[0], top_k=17)).hits}
    spans = games.searcher._spans(games.get_collection(COLLECTION), Level.SEGMENT)
    looked_up = spans.spans(spans.keys.tolist())
    assert sorted((v, s, e) for v, s, e in looked_up.values()) == sorted(
        (h.node.video_id, h.node.start_ms, h.node.end_ms) for h in stored.values()
    )
    first, last = int(spans.keys[0]), int(spans.keys[-1])
    assert spans.spans([last + 1, first, -5, first]) == {first: looked_up[first]}  # keys not held left out
    assert spans.spans([]) == {}
    inside = spans.inside("v1", 3_000, 7_000)
    assert sorted(looked_up[int(k)][1] for k in inside) == sorted(
        h.node.start_ms
        for h in stored.values()
        if h.node.video_id == "v1" and h.node.start_ms < 7_000 and h.node.end_ms > 3_000
    )
    assert len(spans.inside("ghost", 0, 10**9)) == 0
    # Children of several parents at once: the nodes that start inside each span.
    asked = [("v2", 1_000, 3_000), ("ghost", 0, 10**9), ("v1", 10_500, 10**9)]
    children = spans.starting_in(asked)
    assert sorted(looked_up[int(k)][:2] for k in children) == sorted(
        (h.node.video_id, h.node.start_ms)
        for h in stored.values()
        if any(h.node.video_id == v and a <= h.node.start_ms < b for v, a, b in asked)
    )
    assert len(children) == 2 + 1 and len(spans.starting_in([])) == 0
    # With each child, the place of the span it starts in.
    keys, owner = spans.starting_in_each(asked)
    assert keys.tolist() == children.tolist()
    for key, at in zip(keys.tolist(), owner.tolist(), strict=True):
        video, start, end = asked[at]
        assert looked_up[key][0] == video and start <= looked_up[key][1] < end


def test_routed_search_after_a_delete_does_not_see_the_deleted_video(games: Database) -> None:
    for video in ("v1", "v2"):
        games.append_segments(COLLECTION, segments(video, unit_vectors(30, seed=len(video) + ord(video[-1]))))
        games.build_video(COLLECTION, video)
    probe = unit_vectors(1, seed=9)[0]
    before = games.search(SearchQuery(COLLECTION, vector=probe, mode=Mode.ALL, top_k=20))
    assert {h.node.video_id for h in before.hits} == {"v1", "v2"}
    games.delete_video(COLLECTION, "v2")
    after = games.search(SearchQuery(COLLECTION, vector=probe, mode=Mode.ALL, top_k=20))
    assert after.hits and {h.node.video_id for h in after.hits} == {"v1"}
    for hit in after.hits:
        assert all(child.node.video_id == "v1" for child in hit.evidence)
    assert np.isfinite([h.score for h in after.hits]).all()


@given(
    st.lists(st.sampled_from(["v1", "v2", "ghost"]), max_size=3, unique=True),
    st.integers(0, 20_000),
    st.integers(0, 20_000),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_matching_agrees_with_the_store_filter(games: Database, videos: list[str], start: int, length: int) -> None:
    if not games.get_collection(COLLECTION).segment_count:
        games.append_segments(COLLECTION, segments("v1", unit_vectors(12, seed=1)))
        games.append_segments(COLLECTION, segments("v2", unit_vectors(5, seed=2), first_ms=4_000))
    coll = games.get_collection(COLLECTION)
    end = start + length if length else 0  # 0: open-ended
    flt = Filter(video_ids=tuple(videos), time_range=TimeRange(start, end))
    stored = nodes.filtered_keys(games.store.cursor(), coll.id, Level.SEGMENT, flt, 1000)
    in_memory = games.searcher._spans(coll, Level.SEGMENT).matching(tuple(videos), start, end)
    assert sorted(in_memory.tolist()) == sorted(stored.tolist())


rows = st.tuples(st.sampled_from(["b", "d", "a", "c", "e"]), st.integers(0, 50), st.integers(1, 20))
batches = st.lists(st.lists(rows, min_size=0, max_size=8), min_size=1, max_size=6)


def _spans_of(batch: list[tuple[str, int, int]], keys: np.ndarray, seq: int) -> LevelSpans:
    names = tuple(sorted({video for video, _, _ in batch}))
    order = np.argsort(keys, kind="stable")
    video = np.array([names.index(v) for v, _, _ in batch], np.int64)[order]
    start = np.array([s for _, s, _ in batch], np.int64)[order]
    end = start + np.array([n for _, _, n in batch], np.int64)[order]
    return LevelSpans(SpanBlock.of(keys[order], video, start, end, names, np.full(len(batch), seq, np.int64)))


# Times from 0, and in Unix-epoch milliseconds and near the API's limit (2**53): starts
# past 2**40 were packed into the bits of the next video's code.
OFFSETS = st.sampled_from([0, 1_700_000_000_000, 2**53 - 10**6])


@given(batches, st.booleans(), st.sampled_from([1, 4, spans_module.MERGE_AT_LEAST]), OFFSETS)
def test_merged_spans_answer_as_a_fresh_read(
    written: list[list[tuple[str, int, int]]], in_order: bool, merge_at_least: int, at: int
) -> None:
    """Appends merged one by one (new videos sorting anywhere among the old; the recent
    block merged into the base after every write, now and then, or never) answer every
    look-up as spans read at once do, with keys in order (appends) or not (rebuilds),
    whatever the times (from ``at``)."""
    written = [[(video, at + start, length) for video, start, length in batch] for batch in written]
    rng = np.random.default_rng(len(written))
    total = sum(len(b) for b in written)
    all_keys = np.arange(total, dtype=np.int64) * 3 + 1
    if not in_order:
        rng.shuffle(all_keys)
    merged, everything, first = None, [], 0
    with patch.object(spans_module, "MERGE_AT_LEAST", merge_at_least):
        for seq, batch in enumerate(written):
            part = _spans_of(batch, all_keys[first : first + len(batch)], seq)
            merged = part if merged is None else merged.extended(part)
            everything += batch
            first += len(batch)
    assert merged is not None
    fresh = _spans_of(everything, all_keys[:total], 0)
    assert merged.keys.tolist() == fresh.keys.tolist() and merged.videos == fresh.videos
    assert merged.spans(merged.keys.tolist()) == fresh.spans(fresh.keys.tolist())
    for block in (*merged.blocks, merged.whole()):
        timeline = [(block.videos[block.video[i]], block.start[i]) for i in block.by_time]
        assert timeline == sorted(timeline)
    written_keys = all_keys[:total].tolist()
    for video in ("a", "b", "c", "d", "e", "z"):
        # A whole video (a filter on it, open-ended) and parts of one, against the writes.
        whole = sorted(k for (v, _, _), k in zip(everything, written_keys, strict=True) if v == video)
        assert merged.matching((video,), 0, 0).tolist() == whole
        for lo, hi in ((at, at + 10**6), (at + 10, at + 30), (at + 45, at + 46)):
            overlapping = [
                k for (v, s, n), k in zip(everything, written_keys, strict=True) if v == video and s < hi and s + n > lo
            ]
            assert sorted(merged.inside(video, lo, hi).tolist()) == sorted(overlapping)
            assert sorted(merged.inside(video, lo, hi).tolist()) == sorted(fresh.inside(video, lo, hi).tolist())
            keys, starts = merged.inside_with_starts(video, lo, hi)
            assert keys.tolist() == merged.inside(video, lo, hi).tolist()
            assert starts.tolist() == [merged.spans([k])[k][1] for k in keys.tolist()]
    asked = [("a", at, at + 30), ("c", at + 10, at + 10**6), ("z", at, at + 10**6)]
    assert sorted(merged.starting_in(asked).tolist()) == sorted(fresh.starting_in(asked).tolist())
    owned = sorted(zip(*(x.tolist() for x in merged.starting_in_each(asked)), strict=True))
    assert owned == sorted(zip(*(x.tolist() for x in fresh.starting_in_each(asked)), strict=True))
    assert merged.matching(("b", "e"), at + 5, at + 40).tolist() == fresh.matching(("b", "e"), at + 5, at + 40).tolist()
    assert merged.matching((), 0, 0).tolist() == fresh.matching((), 0, 0).tolist()
    asked_keys = np.concatenate([all_keys[:total], [10**9]])  # and one key never written
    ordinals, totals = merged.positions(asked_keys)
    assert (ordinals.tolist(), totals.tolist()) == tuple(x.tolist() for x in fresh.positions(asked_keys))
    timeline = sorted((v, s, int(k)) for (v, s, _), k in zip(everything, all_keys[:total], strict=True))
    for key, ordinal, count in zip(asked_keys.tolist(), ordinals.tolist(), totals.tolist(), strict=True):
        mine = [(v, s, k) for v, s, k in timeline if k == key]
        if not mine:
            assert (ordinal, count) == (-1, 0)
            continue
        same_video = [t for t in timeline if t[0] == mine[0][0]]
        assert (ordinal, count) == (same_video.index(mine[0]), len(same_video))
    assert merged.max_sequence == len(written) - 1 or not written[-1]
    if len(written) > 1:
        assert merged.newer_than(len(written) - 2) == len(written[-1])
        assert merged.written_by(merged.keys.tolist(), len(written) - 2) == set(
            all_keys[: total - len(written[-1])].tolist()
        )


def test_positions_agree_with_the_store(games: Database) -> None:
    for video, count in (("v1", 40), ("v2", 25)):
        games.append_segments(COLLECTION, segments(video, unit_vectors(count, seed=count)))
        games.build_video(COLLECTION, video)
    coll = games.get_collection(COLLECTION)
    for level in (Level.SEGMENT, Level.SCENE, Level.VIDEO):
        spans = games.searcher._spans(coll, level)
        keys = spans.keys.tolist() + [10**12]
        stored = nodes.positions(games.store.cursor(), coll.id, level, keys)
        assert [x.tolist() for x in spans.positions(np.array(keys))] == [x.tolist() for x in stored]


def test_adjacent_steps_through_each_video_in_time_order(games: Database) -> None:
    for video, count in (("v1", 6), ("v2", 4)):
        games.append_segments(COLLECTION, segments(video, unit_vectors(count, seed=count)))
    spans = games.searcher._spans(games.get_collection(COLLECTION), Level.SEGMENT).whole()
    held = spans.spans(spans.keys.tolist())
    in_time = {v: sorted((s, k) for k, (video, s, _) in held.items() if video == v) for v in ("v1", "v2")}
    keys = np.array([k for _, k in in_time["v1"]] + [k for _, k in in_time["v2"]] + [10**12])
    for step in (1, 2, -1, -3):
        rows, found = spans.adjacent(keys, step)
        expected = []
        for row, key in enumerate(keys.tolist()):
            if key not in held:
                continue
            order = [k for _, k in in_time[held[key][0]]]
            at = order.index(key) + step
            if 0 <= at < len(order):  # never across into another video
                expected.append((row, order[at]))
        assert list(zip(rows.tolist(), found.tolist(), strict=True)) == expected
    assert [len(x) for x in spans.adjacent(np.zeros(0, np.int64), 1)] == [0, 0]


def test_bounds_give_the_times_spans_give_and_nothing_for_keys_not_held(games: Database) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(5, seed=5)))
    spans = games.searcher._spans(games.get_collection(COLLECTION), Level.SEGMENT).whole()
    held = spans.spans(spans.keys.tolist())
    keys = np.array([int(spans.keys[-1]) + 1, *spans.keys[::-1].tolist(), -5], np.int64)
    present, start, end = spans.bounds(keys)
    assert present.tolist() == [False] + [True] * len(held) + [False]
    assert [(s, e) for s, e in zip(start[1:-1].tolist(), end[1:-1].tolist(), strict=True)] == [
        held[k][1:] for k in keys[1:-1].tolist()
    ]
    assert (start[0], end[0], start[-1], end[-1]) == (0, 0, 0, 0)
    assert [len(x) for x in spans.bounds(np.zeros(0, np.int64))] == [0, 0, 0]


def test_small_appends_leave_the_base_untouched() -> None:
    """A search after each write pays for the write: the level's base block is the same
    object until the recent block outgrows an eighth of it."""
    base = _spans_of(
        [("a", i, 1) for i in range(spans_module.MERGE_AT_LEAST * spans_module.MERGE_FRACTION)],
        np.arange(spans_module.MERGE_AT_LEAST * spans_module.MERGE_FRACTION, dtype=np.int64),
        0,
    )
    first = base.base
    grown = base
    for seq in range(1, 4):
        keys = np.arange(16, dtype=np.int64) + len(grown)
        grown = grown.extended(_spans_of([("b", i, 1) for i in range(16)], keys, seq))
    assert grown.base is first and grown.recent is not None and len(grown.recent.keys) == 48
    big = np.arange(len(grown), len(grown) + spans_module.MERGE_AT_LEAST + 1, dtype=np.int64)
    merged = grown.extended(_spans_of([("c", i, 1) for i in range(len(big))], big, 9))
    assert merged.recent is None and len(merged.base.keys) == len(grown) + len(big)


def test_searches_after_appends_see_every_segment_and_after_a_delete_none_of_it(games: Database) -> None:
    coll = games.get_collection(COLLECTION)
    for i in range(4):
        games.append_segments(COLLECTION, segments("v2" if i % 2 else "v1", unit_vectors(5, seed=i), i * 10_000))
        in_memory = games.searcher._spans(coll, Level.SEGMENT)
        stored = nodes.filtered_keys(games.store.cursor(), coll.id, Level.SEGMENT, Filter(), 1000)
        assert in_memory.keys.tolist() == sorted(stored.tolist())
    games.delete_video(COLLECTION, "v2")
    left = games.searcher._spans(coll, Level.SEGMENT)
    assert set(left.videos) == {"v1"} and len(left.keys) == 10


def test_spans_of_each_level_follow_the_writes_to_that_level(games: Database) -> None:
    coll = games.get_collection(COLLECTION)

    def in_memory(level: Level) -> list[int]:
        return games.searcher._spans(coll, level).keys.tolist()

    def stored(level: Level) -> list[int]:
        return sorted(nodes.filtered_keys(games.store.cursor(), coll.id, level, Filter(), 1000).tolist())

    games.append_segments(COLLECTION, segments("v1", unit_vectors(30, seed=3)))
    assert in_memory(Level.SCENE) == [] and len(in_memory(Level.SEGMENT)) == 30  # cached, empty
    games.build_video(COLLECTION, "v1")  # adds parents: each parent level is read again
    games.append_segments(COLLECTION, segments("v2", unit_vectors(12, seed=4)))
    games.build_video(COLLECTION, "v2")
    games.build_video(COLLECTION, "v1")  # replaces v1's parents: a rewrite of those levels
    for level in Level:
        assert in_memory(level) == stored(level) and stored(level), level


def test_a_read_names_every_video_in_the_order_python_sorts_them(games: Database) -> None:
    """The store codes video ids in SQL; the codes must follow Python's order of the
    strings (look-ups search the names with it), for any case, digits or script."""
    names = ["v1", "v2", "Zulu", "alpha", "b-10", "b-2", "Äpfel", "ßeta", "日本", "émile"]
    for name in names[2:]:
        games.create_video(COLLECTION, name)
    for i, name in enumerate(names):
        games.append_segments(COLLECTION, segments(name, unit_vectors(2 + i % 3, seed=i)))
    cid = games.get_collection(COLLECTION).id
    block = SpanBlock.load(games.searcher._store.cursor(), cid, Level.SEGMENT)
    assert block.videos == tuple(sorted(names))
    stored = nodes.by_keys(games.searcher._store.cursor(), block.keys.tolist())
    assert block.spans(block.keys.tolist()) == {
        key: (node.video_id, node.start_ms, node.end_ms) for key, node in stored.items()
    }
    for name in names:
        assert len(block.inside(name, 0, 10**9)) == 2 + names.index(name) % 3
    assert SpanBlock.load(games.searcher._store.cursor(), cid, Level.SEGMENT, after=10**9).videos == ()


@given(OFFSETS)
def test_owners_find_each_moments_parent_whatever_the_times(at: int) -> None:
    # (video << 42) + start held starts below 2**42 ms alone; past it a moment's parent was
    # one of another video, or none.
    parents = {7: ("b", at, at + 1000), 8: ("a", at + 1000, at + 3000), 9: ("a", at, at + 1000)}
    moments = [("a", at), ("a", at + 2999), ("a", at + 3000), ("b", at + 500), ("c", at), ("b", at - 1)]
    assert candidates.owners(parents, moments).tolist() == [2, 1, -1, 0, -1, -1]
