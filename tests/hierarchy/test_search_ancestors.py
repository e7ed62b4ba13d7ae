"""``include_ancestors``: each answer's path to its video root, read once a page."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from hierarchy import navigate
from hierarchy.db import Database
from hierarchy.errors import DeadlineExceeded
from hierarchy.types import EmbeddingSpace, Level, SearchQuery
from tests.hierarchy.helpers import COLLECTION, DIM, fast_options, segments, unit_vectors


@pytest.fixture
def video(tmp_path: Path) -> Iterator[Database]:
    """A database holding one sealed video of 120 segments, its tree built."""
    db = Database.open(tmp_path / "data", fast_options())
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    db.create_video(COLLECTION, "v")
    db.append_segments(COLLECTION, segments("v", unit_vectors(120, seed=3)))
    db.seal_video(COLLECTION, "v")
    yield db
    db.close()


def test_a_page_reads_each_ancestor_once_whatever_its_answers_share(
    video: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of 60 moments of one video read that video's node (and its halves') once an
    answer: a parent carrying many labels took gigabytes to answer a page."""
    asked: Counter[str] = Counter()
    by_ids = navigate.nodes.by_ids

    def counted(cur: object, cid: int, ids: list[str]) -> object:
        asked.update(ids)
        return by_ids(cur, cid, ids)  # type: ignore[arg-type]

    monkeypatch.setattr(navigate.nodes, "by_ids", counted)
    query = SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(1, seed=4)[0], top_k=60)
    hits = video.search(SearchQuery(**{**query.__dict__, "include_ancestors": True})).hits
    assert len(hits) == 60
    assert asked and max(asked.values()) == 1, asked.most_common(3)
    monkeypatch.setattr(navigate.nodes, "by_ids", by_ids)
    for hit in hits:  # each its own path: parent first, the video last
        path = video.navigator.ancestors(COLLECTION, hit.node.id)
        assert [a.id for a in hit.ancestors] == [a.id for a in path]
        assert [a.level for a in hit.ancestors] == [Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO]
        assert all(a.start_ms <= hit.node.start_ms < a.end_ms for a in hit.ancestors)
    assert len({id(h.ancestors[-1]) for h in hits}) == 1  # one video node, held once


def test_ancestors_are_not_read_once_the_deadline_has_passed(video: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a page's ancestors went on past the caller's deadline (for seconds, on
    nodes of many labels): it is checked before they are read."""
    query = SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(1, seed=4)[0], top_k=20)
    assert len(video.search(query).hits) == 20  # warm: the ranking takes milliseconds
    get = video.searcher._nodes.get

    def slow(keys: list[int]) -> object:
        time.sleep(1.2)  # the answers' nodes read slowly: the deadline passes meanwhile
        return get(keys)

    monkeypatch.setattr(video.searcher._nodes, "get", slow)
    late = SearchQuery(**{**query.__dict__, "include_ancestors": True, "deadline": time.monotonic() + 1.0})
    with pytest.raises(DeadlineExceeded, match="ancestors"):
        video.search(late)
