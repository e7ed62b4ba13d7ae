"""Bottom-up evidence in routed search: a moment like its whole scene is answered with the
scene, a query like a whole drive with the drive, and a video or a half is promoted by its
best scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.types import EmbeddingSpace, Filter, Level, Mode, SearchQuery, SegmentInput, TimeRange
from tests.hierarchy.helpers import SOCCER as COLL
from tests.hierarchy.helpers import fast_options

STORY = [
    "a chef chops onions on a wooden board",
    "a dog runs across a sunny beach",
    "a man plays the guitar on a stage",
    "children build a sandcastle by the sea",
    "a woman paints a portrait in a studio",
    "two cyclists race down a mountain road",
]


def test_a_moment_described_like_its_whole_scene_is_answered_with_the_scene(tmp_path: Path) -> None:
    # Segments that repeat the caption of the event around them, as 2-second windows of
    # long captioned events do: no moment is distinct from its scene.
    db = Database.open(tmp_path, fast_options())
    try:
        db.create_collection(COLL, EmbeddingSpace(0, text_encoder="default"))
        db.create_video(COLL, "v")
        rows = [SegmentInput("v", i * 2000, (i + 1) * 2000, None, STORY[i // 10]) for i in range(10 * len(STORY))]
        db.append_segments(COLL, rows)
        db.seal_video(COLL, "v")
        result = db.search(SearchQuery(COLL, text="a dog runs across a sunny beach", mode=Mode.AUTO, top_k=5))
        assert result.route.levels == (Level.SCENE,), result.route.reason
        assert "of the best moment's scene matches as well" in result.route.reason
        assert (result.hits[0].node.start_ms, result.hits[0].node.end_ms) == (20_000, 40_000)
    finally:
        db.close()


@pytest.mark.parametrize(
    "flt",
    [Filter(), Filter(time_range=TimeRange(0, 0))],
    ids=["candidate-videos-scenes-scored", "time-filtered-scene-search"],
)
def test_a_video_is_promoted_by_its_best_scene(tmp_path: Path, flt: Filter) -> None:
    """Bottom-up evidence at the video level: a match that holds the queried scene ranks
    above one that is near the query throughout but never on it (whose average is closer).
    Unfiltered, every scene of the candidate videos is scored; a time filter must also
    pass the scenes, so they come from a filtered scene search."""
    dim, rng = 64, np.random.default_rng(0)
    axes = np.eye(dim, dtype=np.float32)

    def scene(direction: np.ndarray) -> list[np.ndarray]:
        rows = direction + rng.standard_normal((10, dim)).astype(np.float32) * 0.05
        return list(rows / np.linalg.norm(rows, axis=1, keepdims=True))

    near = [0.5 * axes[0] + 0.866 * axes[6 + k] for k in range(6)]
    videos = {
        "holds-it": [axes[1], axes[2], axes[0], axes[3], axes[4], axes[5]],
        "near-it": [v / np.linalg.norm(v) for v in near],
        "far-1": [axes[20 + k] for k in range(6)],
        "far-2": [axes[30 + k] for k in range(6)],
    }
    db = Database.open(tmp_path, fast_options())
    try:
        db.create_collection(COLL, EmbeddingSpace(dim))
        for video, directions in videos.items():
            db.create_video(COLL, video)
            rows = [row for d in directions for row in scene(d)]
            db.append_segments(COLL, [SegmentInput(video, i * 2000, (i + 1) * 2000, r) for i, r in enumerate(rows)])
            db.seal_video(COLL, video)
        by_mean = db.search(SearchQuery(COLL, level=Level.VIDEO, vector=axes[0], top_k=2))
        assert [h.node.video_id for h in by_mean.hits] == ["near-it", "holds-it"]
        routed = db.search(SearchQuery(COLL, text="a match", vector=axes[0], mode=Mode.AUTO, top_k=2, filter=flt))
        assert routed.route.levels == (Level.VIDEO,)
        assert "best scene adds to its score" in routed.route.reason
        assert [h.node.video_id for h in routed.hits] == ["holds-it", "near-it"]
    finally:
        db.close()


@pytest.mark.parametrize(
    "flt",
    [Filter(), Filter(time_range=TimeRange(0, 0))],
    ids=["candidate-halves-scenes-scored", "time-filtered-scene-search"],
)
def test_a_half_is_promoted_by_its_best_scene(tmp_path: Path, flt: Filter) -> None:
    """The same bottom-up evidence for halves ("a half in which City found the net"): the
    half that holds the queried scene ranks above one near the query throughout."""
    dim, rng = 64, np.random.default_rng(1)
    axes = np.eye(dim, dtype=np.float32)
    near = [0.5 * axes[0] + 0.866 * axes[6 + k] for k in range(6)]
    halves = {
        "holds-it": [axes[1], axes[2], axes[0], axes[3], axes[4], axes[5]],
        "near-it": [v / np.linalg.norm(v) for v in near],
        "far": [axes[20 + k] for k in range(6)],
    }
    db = Database.open(tmp_path, fast_options())
    try:
        db.create_collection(COLL, EmbeddingSpace(dim))
        db.create_video(COLL, "v")
        rows: list[SegmentInput] = []
        for period, directions in enumerate([halves["holds-it"], halves["far"], halves["near-it"]], start=1):
            for d in directions:
                scene = d + rng.standard_normal((10, dim)).astype(np.float32) * 0.05
                for r in scene / np.linalg.norm(scene, axis=1, keepdims=True):
                    at = len(rows) * 2000
                    rows.append(SegmentInput("v", at, at + 2000, r, attributes={"period": period}))
        db.append_segments(COLL, rows)
        db.seal_video(COLL, "v")
        by_mean = db.search(SearchQuery(COLL, level=Level.HALF, vector=axes[0], top_k=2))
        assert [h.node.start_ms for h in by_mean.hits] == [240_000, 0]  # the near half's mean is closer
        routed = db.search(SearchQuery(COLL, text="a half", vector=axes[0], mode=Mode.AUTO, top_k=2, filter=flt))
        assert routed.route.levels == (Level.HALF,)
        assert "a half's best scene adds to its score" in routed.route.reason
        assert [h.node.start_ms for h in routed.hits] == [0, 240_000]
    finally:
        db.close()


def test_a_query_like_a_whole_drive_is_answered_with_the_drive(tmp_path: Path) -> None:
    """Bottom-up evidence one level up: when most scenes of the best scene's drive match
    about as well as it does, the drive answers; a query like one scene keeps the scene."""
    dim, rng = 64, np.random.default_rng(0)
    axes = np.eye(dim, dtype=np.float32)
    # Four groups of three 20-second scenes; the scenes of a group share a direction.
    directions = [axes[g] + 0.6 * axes[10 + 3 * g + k] for g in range(4) for k in range(3)]
    rows = []
    for direction in directions:
        scene = direction / np.linalg.norm(direction) + rng.standard_normal((10, dim)).astype(np.float32) * 0.05
        rows += list(scene / np.linalg.norm(scene, axis=1, keepdims=True))
    db = Database.open(tmp_path, fast_options())
    try:
        db.create_collection(COLL, EmbeddingSpace(dim))
        db.create_video(COLL, "v")
        db.append_segments(COLL, [SegmentInput("v", i * 2000, (i + 1) * 2000, r) for i, r in enumerate(rows)])
        db.seal_video(COLL, "v")
        group = db.search(SearchQuery(COLL, text="x", vector=axes[0], mode=Mode.AUTO, top_k=3))
        assert group.route.levels == (Level.DRIVE,), group.route.reason
        assert "of the best scene's drive matches as well: the drive" in group.route.reason
        top = group.hits[0].node
        assert top.end_ms - top.start_ms > 20_000 and top.end_ms <= 60_000  # scenes of the first group
        one = db.search(SearchQuery(COLL, text="x", vector=directions[1], mode=Mode.AUTO, top_k=3))
        assert one.route.levels == (Level.SCENE,), one.route.reason
        assert (one.hits[0].node.start_ms, one.hits[0].node.end_ms) == (20_000, 40_000)
    finally:
        db.close()
