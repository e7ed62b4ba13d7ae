"""Level spans: the in-memory look-ups of routed search agree with the store."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hierarchy import nodes
from hierarchy.db import Database
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
    inside = spans.inside("v1", 3_000, 7_000)
    assert sorted(looked_up[int(k)][1] for k in inside) == sorted(
        h.node.start_ms
        for h in stored.values()
        if h.node.video_id == "v1" and h.node.start_ms < 7_000 and h.node.end_ms > 3_000
    )
    assert len(spans.inside("ghost", 0, 10**9)) == 0


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
