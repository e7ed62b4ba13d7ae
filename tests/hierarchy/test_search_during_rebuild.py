"""A search that a tree rebuild overtakes between ranking its answers and reading them:
the page keeps its size (the next answers take the replaced ones' places) and never
fails on a node it did not name."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.types import Level, SearchQuery
from tests.hierarchy.helpers import COLLECTION, DIM, segments, unit_vectors


def scenes_of(seed: int, count: int = 8, length: int = 10) -> np.ndarray:
    """Runs of ``length`` segments alike (a scene each), ``count`` runs."""
    rng = np.random.default_rng(seed)
    bases = unit_vectors(count, seed=seed)
    rows = np.repeat(bases, length, axis=0) + 0.05 * rng.standard_normal((count * length, DIM))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def two_built(games: Database) -> Database:
    for video_id, seed in (("v1", 1), ("v2", 2)):
        games.append_segments(COLLECTION, segments(video_id, scenes_of(seed)))
        games.build_video(COLLECTION, video_id)
    return games


def rebuild_once_after(db: Database, owner: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Rebuild v1's tree right after the first call of ``owner.name`` returns."""
    real = getattr(owner, name)
    done: list[bool] = []

    def then_rebuild(*args: Any, **kwargs: Any) -> Any:
        found = real(*args, **kwargs)
        if not done:
            done.append(True)
            # Fewer, longer scenes: the old scenes' ids (v1/scene/7 …) are gone, not reused.
            db.build_video(COLLECTION, "v1", replace(db.hierarchy_config(COLLECTION), scene_penalty=1e5))
        return found

    monkeypatch.setattr(owner, name, then_rebuild)
    return done


@pytest.mark.parametrize("ancestors", [False, True])
@pytest.mark.parametrize("moment", ["ranked", "read"])
def test_a_page_keeps_its_size_when_a_rebuild_replaces_some_of_its_answers(
    two_built: Database, monkeypatch: pytest.MonkeyPatch, ancestors: bool, moment: str
) -> None:
    """Rebuilt after the answers were ranked (their nodes then vanish), or after their nodes
    were read (their parents then vanish: ``include_ancestors`` must not fail on them)."""
    db = two_built
    (stats,) = db.stats(COLLECTION)
    scenes = next(s.node_count for s in stats.levels if s.level is Level.SCENE)
    top_k = scenes // 2 + 1  # more than one video holds: some answers are v1's
    q = SearchQuery(COLLECTION, Level.SCENE, vector=unit_vectors(1, seed=9)[0], top_k=top_k)
    before = {h.node.id for h in db.search(q).hits}
    assert any(i.startswith("v1/") for i in before)
    owner, name = (db.searcher, "_ranking") if moment == "ranked" else (db.searcher._nodes, "get")
    rebuilt = rebuild_once_after(db, owner, name, monkeypatch)
    result = db.search(SearchQuery(**{**q.__dict__, "include_ancestors": ancestors}))
    assert rebuilt
    assert len(result.hits) == top_k
    assert [h.rank for h in result.hits] == list(range(1, top_k + 1))
    if moment == "read" and not ancestors:
        return  # the page was read whole before the rebuild: it answers as of then
    for hit in result.hits:  # every answer is a node of the store now, with its true parents
        assert db.navigator.node(COLLECTION, hit.node.id).start_ms == hit.node.start_ms
        if ancestors:
            assert [a.id for a in hit.ancestors] == [a.id for a in db.navigator.ancestors(COLLECTION, hit.node.id)]


def pages_of(db: Database, q: SearchQuery, token: str = "", limit: int = 40) -> list[str]:
    """Ids of every page from ``token`` on."""
    seen: list[str] = []
    for _ in range(limit):
        result = db.search(q, token)
        seen += [h.node.id for h in result.hits]
        token = result.next_page_token
        if not token:
            break
    return seen


def near(vector: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Unit vectors close to ``vector``."""
    rows = vector + np.random.default_rng(seed).normal(scale=0.05, size=(count, len(vector)))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("change", ["rebuild v1", "delete v2"])
def test_later_pages_skip_no_answer_when_answers_vanish_while_a_page_is_read(
    games: Database, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """Page 2 (with a token) overtaken between ranking and reading: by a rebuild of one
    video's tree, or by the delete of the video whose moments fill pages 1 and 2. Every
    answer of the videos left untouched is still listed, once, on the pages that follow."""
    db = games
    probe = unit_vectors(1, seed=9)[0]
    for video, seed in (("v1", 1), ("v2", 2), ("v3", 3), ("v4", 4)):
        if video not in ("v1", "v2"):
            db.create_video(COLLECTION, video)
        rows = near(probe, 40, seed) if change == "delete v2" and video == "v2" else scenes_of(seed)
        db.append_segments(COLLECTION, segments(video, rows))
        db.build_video(COLLECTION, video)
    level = Level.SCENE if change == "rebuild v1" else Level.SEGMENT
    q = SearchQuery(COLLECTION, level, vector=probe, top_k=3)
    first = db.search(q)
    if change == "rebuild v1":
        rebuild_once_after(db, db.searcher, "_ranking", monkeypatch)
    else:
        real = db.searcher._ranking
        done: list[bool] = []

        def ranking_then_delete(*args: Any, **kwargs: Any) -> Any:
            found = real(*args, **kwargs)
            if not done:
                done.append(True)
                db.delete_video(COLLECTION, "v2")
            return found

        monkeypatch.setattr(db.searcher, "_ranking", ranking_then_delete)
    later = pages_of(db, q, first.next_page_token, limit=200)
    monkeypatch.undo()
    now = [h.node.id for h in db.search(replace(q, top_k=1000)).hits]
    untouched = [i for i in now if i.split("/")[0].split("@")[0] in ("v3", "v4")]
    assert untouched and set(untouched) <= {h.node.id for h in first.hits} | set(later)
    assert len(later) == len(set(later))
