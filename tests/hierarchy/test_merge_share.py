"""A routed search's merge share (how much of the best moment's scene matches as well)
bounded by a pool that holds the best of a whole video: the same share as scoring every
sibling, also when siblings are written during the search or a filter passes only some."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest

from hierarchy import auto as auto_module
from hierarchy import search as search_module
from hierarchy.db import Database
from hierarchy.index import LevelIndex
from hierarchy.router import Pool
from hierarchy.types import EmbeddingSpace, Filter, Level, Mode, SearchQuery, SegmentInput, TimeRange
from tests.hierarchy.helpers import COLLECTION, DIM, fast_options, sealed_soccer_match, unit, unit_vectors
from tests.hierarchy.helpers import SOCCER as COLL


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A sealed match whose captions are embedded by the built-in encoder."""
    db = sealed_soccer_match(Path(tmp_path_factory.mktemp("merge-share")), fast_options())
    yield db
    db.close()


def auto(db: Database, text: str, **kwargs: object) -> object:
    return db.search(SearchQuery(COLL, text=text, mode=Mode.AUTO, top_k=5, **kwargs))


MOMENTS = [
    "a corner kick",
    "a shot saved by the keeper",
    "a long ball over the top",
    "the keeper claims a cross",
    "a foul in midfield",
    "a throw-in near the halfway line",
    "the build-up from the back",
    "a quick counter attack",
]


def _in_video(db: Database, video: str) -> list[tuple[object, ...]]:
    results = [auto(db, text, filter=Filter(video_ids=(video,))) for text in MOMENTS]
    return [(r.route.levels, r.route.reason, [h.node.id for h in r.hits]) for r in results]


def test_a_whole_videos_pool_gives_the_merge_share_that_scoring_every_sibling_gives(library: Database) -> None:
    # A pool filtered to one video holds the best of all its nodes: siblings it does not
    # hold score at most its last, so when that lies below the margin they are not scored.
    video = library.list_videos(COLL)[0][0].id
    merge_share = auto_module._merge_share
    compared: list[tuple[float, float]] = []

    def both_ways(ctx: object, pools: list[Pool], vector: np.ndarray, level: Level = Level.SEGMENT) -> float:
        found = next(p for p in pools if p.level is level)
        for best in (2, 4, 8, len(found.keys)):  # the best few of all the video's nodes are a whole pool too
            cut = replace(
                found, keys=found.keys[:best], similarities=found.similarities[:best], scores=found.scores[:best]
            )
            scored = replace(cut, scored=None)
            compared.append((merge_share(ctx, [cut], vector, level), merge_share(ctx, [scored], vector, level)))
        return merge_share(ctx, pools, vector, level)

    with patch.object(LevelIndex, "contains", autospec=True, side_effect=LevelIndex.contains) as bounded:
        with patch.object(auto_module, "_merge_share", both_ways):
            answers = _in_video(library, video)
    assert bounded.call_count > 0  # the siblings were not scored at least once
    assert all(bound == scored for bound, scored in compared)
    assert any(0.0 < bound < 1.0 for bound, _ in compared)
    scored_candidates = search_module.candidates

    def not_exhaustive(*args: object, **kwargs: object) -> search_module.Found:
        return scored_candidates(*args, **kwargs)._replace(scored=None)

    with patch.object(search_module, "candidates", not_exhaustive):
        assert _in_video(library, video) == answers


def test_siblings_written_between_a_searchs_pools_and_its_merge_share_are_scored(db: Database) -> None:
    # A writer fills the gaps of a reopened video while a routed search in it runs: the
    # moments it adds beside the best one were not scored with the pool, so they are
    # scored now, as they would be without the pool's bound.
    rng = np.random.default_rng(7)
    centres = unit_vectors(12, seed=8)
    rows = unit(np.repeat(centres, 12, axis=0) + 0.15 * rng.normal(size=(144, DIM)))
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    db.create_video(COLLECTION, "v")
    spans = [(2000 * i, 2000 * i + 1000) for i in range(72)]
    db.append_segments(COLLECTION, [SegmentInput("v", a, b, rows[2 * i]) for i, (a, b) in enumerate(spans)])
    db.seal_video(COLLECTION, "v")
    db.reopen_video(COLLECTION, "v")
    assert db.searcher.settle()
    merge_share, compared = auto_module._merge_share, []

    def written_meanwhile(ctx: object, pools: list[Pool], vector: np.ndarray, level: Level = Level.SEGMENT) -> float:
        if not compared:
            gaps = [SegmentInput("v", b, b + 1000, rows[2 * i + 1]) for i, (_, b) in enumerate(spans)]
            db.append_segments(COLLECTION, gaps)
        found = next(p for p in pools if p.level is level)
        bounded = merge_share(ctx, pools, vector, level)
        compared.append((bounded, merge_share(ctx, [replace(found, scored=None)], vector, level)))
        return bounded

    with patch.object(auto_module, "_merge_share", written_meanwhile):
        db.search(SearchQuery(COLLECTION, vector=rows[0], mode=Mode.AUTO, top_k=3, filter=Filter(video_ids=("v",))))
    assert compared and all(bounded == scored for bounded, scored in compared)


@pytest.mark.parametrize(
    ("narrowed", "bounded"),
    [({}, True), ({"time_range": TimeRange(0, 600_000)}, False), ({"labels": ("pass",)}, False)],
)
def test_only_a_filter_on_videos_alone_lets_a_pool_bound_the_siblings_it_does_not_hold(
    library: Database, narrowed: dict[str, object], bounded: bool
) -> None:
    # A time range or a label passes only some of a video's nodes: a sibling outside it
    # was never scored, so nothing bounds it.
    video = library.list_videos(COLL)[0][0].id
    merge_share, seen = auto_module._merge_share, []

    def kept(ctx: object, pools: list[Pool], vector: np.ndarray, level: Level = Level.SEGMENT) -> float:
        seen.extend(p.scored is not None for p in pools)
        return merge_share(ctx, pools, vector, level)

    with patch.object(auto_module, "_merge_share", kept):
        auto(library, "a corner kick", filter=Filter(video_ids=(video,), **narrowed))
    assert seen and all(s is bounded for s in seen)
