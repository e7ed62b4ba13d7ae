"""Grouping by video past the answers one ranking reads (``hierarchy.grouping``)."""

from __future__ import annotations

import numpy as np
import pytest

from hierarchy import grouping
from hierarchy.db import Database
from hierarchy.types import EmbeddingSpace, Level, Mode, SearchQuery, VideoGroup
from tests.hierarchy.helpers import COLLECTION, DIM, segments, unit, unit_vectors

LIMIT = 30  # answers a round reads at most, in these tests
PROBE = unit_vectors(1, seed=5)[0]


def _at(similarities: np.ndarray, seed: int) -> np.ndarray:
    """Unit vectors with exactly these similarities to ``PROBE``."""
    other = np.random.default_rng(seed).normal(size=(len(similarities), DIM))
    other -= (other @ PROBE)[:, None] * PROBE
    other /= np.linalg.norm(other, axis=1, keepdims=True)
    rows = similarities[:, None] * PROBE + np.sqrt(1 - similarities[:, None] ** 2) * other
    return rows.astype(np.float32)


@pytest.fixture
def crowded(db: Database, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """Three videos of 60 answers each better than any of five others' 10: a round (and
    a reranked head of 100) reads only the first three. Returns each video's
    similarities, by segment."""
    monkeypatch.setattr(grouping, "MAX_GROUPED_RANKING", LIMIT)
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    rng = np.random.default_rng(1)
    library: dict[str, np.ndarray] = {}
    for i in range(8):
        # Each video's best answer 0.02 from the next one's: an order no rounding changes.
        best = 0.98 - 0.02 * i
        count, low = (60, 0.8) if i < 3 else (10, -0.5)
        sims = np.concatenate([[best], rng.uniform(low, best - 0.01, count - 1)])
        video = f"v{i}"
        db.create_video(COLLECTION, video)
        db.append_segments(COLLECTION, segments(video, _at(sims, seed=100 + i)))
        library[video] = sims
    return library


def _groups(db: Database, q: SearchQuery, token: str = "") -> list[list[VideoGroup]]:
    """The groups of every page from ``token``'s, following the tokens (at most 20 pages)."""
    pages: list[list[VideoGroup]] = []
    for _ in range(20):
        result = db.search(q, token)
        pages.append(result.groups)
        token = result.next_page_token
        if not token:
            break
    return pages


def test_pages_of_videos_list_every_video_past_the_answers_a_ranking_reads(
    db: Database, crowded: dict[str, np.ndarray]
) -> None:
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=PROBE, top_k=2, group_by_video=True, group_size=2)
    pages = _groups(db, q)
    listed = [g for page in pages for g in page]
    assert [g.video_id for g in listed] == list(crowded), "every video once, by its best answer"
    assert [len(page) for page in pages] == [2, 2, 2, 2], "the last page offers no token, and no page is short"
    assert [g.rank for g in listed] == list(range(1, 9))
    for group in listed:
        sims = crowded[group.video_id]
        best = [int(i) for i in np.argsort(-sims)[:2]]
        assert [h.node.start_ms // 1000 for h in group.hits] == best, group.video_id
        assert [h.similarity for h in group.hits] == pytest.approx(sims[best].tolist(), abs=2e-3)


@pytest.mark.parametrize(("mode", "rerank"), [(Mode.LEVEL, True), (Mode.AUTO, None), (Mode.ALL, None)])
def test_reranked_and_routed_pages_of_videos_list_every_video_once(
    db: Database, crowded: dict[str, np.ndarray], mode: Mode, rerank: bool | None
) -> None:
    q = SearchQuery(
        COLLECTION, Level.SEGMENT, vector=PROBE, top_k=3, mode=mode, rerank=rerank, group_by_video=True, group_size=2
    )
    pages = _groups(db, q)
    listed = [g.video_id for page in pages for g in page]
    assert sorted(listed) == sorted(crowded) and len(listed) == len(crowded)
    assert listed[:3] == ["v0", "v1", "v2"], "the videos of the first round come first"
    assert {h.node.level for page in pages for g in page for h in g.hits} == {Level.SEGMENT}


def test_a_delete_of_every_video_a_token_remembers_and_an_earlier_one_skips_no_video(db: Database) -> None:
    """Page 3's token remembers page 2's videos; those and one of page 1 are deleted: the
    next page starts after the last video shown by its best answer, not two places up,
    and its places follow the four videos shown (no place is given twice)."""
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    for i in range(6):
        sims = np.array([0.95 - 0.05 * i, 0.5 - 0.05 * i])
        db.create_video(COLLECTION, f"v{i}")
        db.append_segments(COLLECTION, segments(f"v{i}", _at(sims, seed=200 + i)))
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=PROBE, top_k=2, group_by_video=True, group_size=1)
    first = db.search(q)
    second = db.search(q, first.next_page_token)
    assert [g.video_id for g in first.groups + second.groups] == ["v0", "v1", "v2", "v3"]
    for video in ("v0", "v2", "v3"):
        db.delete_video(COLLECTION, video)
    third = db.search(q, second.next_page_token)
    assert [g.video_id for g in third.groups] == ["v4", "v5"] and not third.next_page_token
    assert [g.rank for g in third.groups] == [5, 6], "places going on from the videos shown"


def test_a_routed_search_confined_to_the_video_its_text_names_lists_that_video_alone(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grouping, "MAX_GROUPED_RANKING", LIMIT)
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    for i in range(4):
        db.create_video(COLLECTION, f"match-000{i}")
        sims = np.random.default_rng(i).uniform(0.8, 0.95, 150)  # the routed pool exceeds the limit
        db.append_segments(COLLECTION, segments(f"match-000{i}", _at(sims, seed=300 + i)))
    q = SearchQuery(COLLECTION, text="a goal of match-0002", vector=PROBE, mode=Mode.AUTO, top_k=3, group_by_video=True)
    result = db.search(q)
    assert "in video match-0002" in result.route.reason
    assert [g.video_id for g in result.groups] == ["match-0002"] and not result.next_page_token


def test_the_rounds_of_a_routed_search_score_as_its_first_does(db: Database, crowded: dict[str, np.ndarray]) -> None:
    """Unreranked, a routed search's videos come in the order of their best calibrated
    score, across rounds as within one."""
    q = SearchQuery(COLLECTION, vector=PROBE, top_k=3, mode=Mode.AUTO, rerank=False, group_by_video=True, group_size=1)
    pages = _groups(db, q)
    listed = [g for page in pages for g in page]
    assert [g.video_id for g in listed] == list(crowded)
    scores = [g.score for g in listed]
    assert scores == sorted(scores, reverse=True) and scores[-1] < 0.5, "calibrated, not raw similarities"


def test_a_video_the_text_names_written_between_pages_stops_no_round(
    db: Database, crowded: dict[str, np.ndarray]
) -> None:
    """The first page found no video of the id the text names and searched them all; the
    video written since is not in the pages' commit, so every round still runs."""
    q = SearchQuery(COLLECTION, text="a goal of match-0009", vector=PROBE, mode=Mode.AUTO, top_k=2, group_by_video=True)
    first = db.search(q)
    db.create_video(COLLECTION, "match-0009")
    db.append_segments(COLLECTION, segments("match-0009", _at(np.full(5, 0.5), seed=400)))
    listed = [g.video_id for page in [first.groups, *_groups(db, q, first.next_page_token)] for g in page]
    assert "no video 'match-0009'" in first.route.reason and listed == list(crowded)


def test_rounds_of_a_sequence_search_list_pairs_only(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Videos p0, p1 hold many corner-goal pairs, n0-n3 a lone corner each: past the limit
    no round lists a video with no pair as a single moment."""
    monkeypatch.setattr(grouping, "MAX_GROUPED_RANKING", LIMIT)
    rng = np.random.default_rng(0)
    corner, goal = unit(rng.normal(size=DIM)), unit(rng.normal(size=DIM))
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    for video in ("p0", "p1"):
        rows = [(corner if j % 2 == 0 else goal) + 0.3 * rng.normal(size=DIM) for j in range(80)]
        db.create_video(COLLECTION, video)
        db.append_segments(COLLECTION, segments(video, unit(np.stack(rows))))
    for i in range(4):
        db.create_video(COLLECTION, f"n{i}")
        db.append_segments(COLLECTION, segments(f"n{i}", unit(corner + 0.2 * rng.normal(size=(1, DIM)))))
    q = SearchQuery(
        COLLECTION, text="a corner then a goal", vector=unit(corner + goal), part_vectors=(corner, goal),
        mode=Mode.AUTO, rerank=False, top_k=2, group_by_video=True, group_size=1,
    )  # fmt: skip
    pages = _groups(db, q)
    assert [g.video_id for page in pages for g in page] == ["p0", "p1"]


def test_a_page_whose_rounds_stop_with_videos_unread_says_so(
    db: Database, crowded: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grouping, "MAX_ROUNDS", 1)
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=PROBE, top_k=8, group_by_video=True, group_size=1)
    result = db.search(q)
    assert 0 < len(result.groups) < len(crowded) and not result.next_page_token
    assert result.route.reason.endswith(f"grouping stopped after {LIMIT} answers: videos ranked past them are not "
                                        "listed (narrow the filter)")  # fmt: skip
    monkeypatch.setattr(grouping, "MAX_ROUNDS", 8)
    assert "grouping stopped" not in db.search(q).route.reason and len(db.search(q).groups) == len(crowded)
