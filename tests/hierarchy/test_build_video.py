"""Building a stored video's tree: every level stored, linked, indexed and searchable."""

from __future__ import annotations

import numpy as np
import pytest

from hierarchy import catalog
from hierarchy.db import Database
from hierarchy.errors import FailedPrecondition
from hierarchy.types import Level, SearchQuery, VideoState
from tests.hierarchy.conftest import OpenDb
from tests.hierarchy.helpers import COLLECTION, segments, unit_vectors


def _load(games: Database, count: int = 60) -> np.ndarray:
    vectors = unit_vectors(count, seed=11)
    games.append_segments(COLLECTION, segments("v1", vectors))
    return vectors


def test_every_level_is_built_and_searchable(games: Database) -> None:
    vectors = _load(games)
    counts = games.build_video(COLLECTION, "v1")
    assert counts[Level.VIDEO] == 1 and all(counts[level] >= 1 for level in counts)
    for level in (Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO):
        hits = games.search(SearchQuery(COLLECTION, level, vector=vectors[5], top_k=100)).hits
        assert len(hits) == counts[level]
        assert all(h.node.level is level and h.node.video_id == "v1" for h in hits)
    [root] = games.search(SearchQuery(COLLECTION, Level.VIDEO, vector=vectors[0], top_k=1)).hits
    last_end = segments("v1", vectors)[-1].end_ms
    assert (root.node.start_ms, root.node.end_ms, root.node.child_count) == (0, last_end, counts[Level.HALF])


def test_segments_point_at_their_scene(games: Database) -> None:
    vectors = _load(games)
    games.build_video(COLLECTION, "v1")
    hit = games.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=vectors[30], top_k=1)).hits[0]
    scenes = games.search(SearchQuery(COLLECTION, Level.SCENE, vector=vectors[30], top_k=100)).hits
    parent = next(s.node for s in scenes if s.node.id == hit.node.parent_id)
    assert parent.start_ms <= hit.node.start_ms and hit.node.end_ms <= parent.end_ms


def test_rebuild_replaces_the_tree_without_duplicates(games: Database) -> None:
    _load(games)
    first = games.build_video(COLLECTION, "v1")
    second = games.build_video(COLLECTION, "v1")
    assert first == second
    stats = {s.level: s for s in games.stats(COLLECTION)[0].levels}
    for level, count in second.items():
        assert stats[level].node_count == stats[level].indexed_count == count


def test_tree_survives_restart(games: Database, open_db: OpenDb, data_dir: object) -> None:
    vectors = _load(games)
    games.build_video(COLLECTION, "v1")
    before = [h.node.id for h in games.search(SearchQuery(COLLECTION, Level.SCENE, vector=vectors[3])).hits]
    games.close()
    reopened = open_db()
    after = [h.node.id for h in reopened.search(SearchQuery(COLLECTION, Level.SCENE, vector=vectors[3])).hits]
    assert after == before


def test_video_without_segments_cannot_be_built(games: Database) -> None:
    with pytest.raises(FailedPrecondition) as info:
        games.build_video(COLLECTION, "v2")
    assert info.value.field == "video_id"


def test_a_seal_that_fails_to_commit_leaves_the_video_as_it_was(
    games: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hints, the new tree and the sealed state commit in one transaction: a failure
    # inside it (as a crash would) leaves the video open, with its old hints and no tree.
    _load(games)

    def refuse(*args: object) -> None:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(catalog, "set_video_state", refuse)
    with pytest.raises(RuntimeError):
        games.seal_video(COLLECTION, "v1", hints={Level.HALF: [30_000]})
    video = games.get_video(COLLECTION, "v1")
    assert (video.state, video.hints) == (VideoState.OPEN, {})
    for level in (Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO):
        assert games.search(SearchQuery(COLLECTION, level, vector=unit_vectors(1)[0], top_k=5)).hits == []
    monkeypatch.undo()
    video = games.seal_video(COLLECTION, "v1", hints={Level.HALF: [30_000]})
    assert (video.state, video.hints) == (VideoState.SEALED, {Level.HALF: [30_000]})
    halves = games.search(SearchQuery(COLLECTION, Level.HALF, vector=unit_vectors(1)[0], top_k=5)).hits
    assert sorted(h.node.start_ms for h in halves) == [0, 30_000]
