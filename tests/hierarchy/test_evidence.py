"""The evidence of a long parent: a half or a whole video holds more segments than are
worth scoring one by one, so its evidence is found top down, through its best scenes.
The caller still gets the moment that explains the answer, inside the answer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hierarchy import answers
from hierarchy.db import Database
from hierarchy.types import EmbeddingSpace, Filter, Level, Mode, Node, SearchQuery, SegmentInput, TimeRange
from tests.hierarchy.helpers import fast_options, load_sealed
from tools.bench.corpus import SEGMENT_MS, Corpus, generate, queries
from tools.soccer import EVENTS

COLL = "evidence"
DIM = 64
SEGMENTS = 2 * 1500  # two videos, each half (~750 segments) above EXACT_EVIDENCE_BELOW


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Corpus]]:
    """Two sealed 50-minute videos of planted scenes, each segment labelled with its
    event, and their corpus."""
    corpus = generate(SEGMENTS, dim=DIM, seed=5, per_video=SEGMENTS // 2)
    db = Database.open(Path(tmp_path_factory.mktemp("evidence")), fast_options())
    db.create_collection(COLL, EmbeddingSpace(DIM))
    load_sealed(db, COLL, corpus, labelled=True)
    try:
        yield db, corpus
    finally:
        db.close()


def _exact_best(corpus: Corpus, probe: np.ndarray, node: Node, count: int = 1) -> list[str]:
    """The ``count`` segments inside ``node`` the probe is nearest to, best first, found by
    scoring every one of them (as the index stores them: half floats)."""
    video = corpus.video_ids.index(node.video_id)
    rows = np.flatnonzero(
        (corpus.video_of == video) & (corpus.start_ms >= node.start_ms) & (corpus.start_ms < node.end_ms)
    )
    stored = corpus.vectors[rows].astype(np.float16).astype(np.float32)
    cosine = stored @ probe.astype(np.float16).astype(np.float32) / np.linalg.norm(stored, axis=1)
    return [corpus.segment_id(int(rows[i])) for i in np.argsort(-cosine)[:count]]


@pytest.mark.parametrize("level", [Level.HALF, Level.VIDEO])
def test_a_long_parent_is_explained_by_its_best_moment(library: tuple[Database, Corpus], level: Level) -> None:
    db, corpus = library
    probes = queries(corpus, 12, seed=8)
    agree = 0
    for probe in probes:
        hits = db.search(SearchQuery(COLL, level, vector=probe, top_k=2)).hits  # a page of two parents
        for hit in hits:
            node = hit.node
            inside = [e for e in hit.evidence if e.node.video_id == node.video_id]
            assert len(inside) == len(hit.evidence) == answers.EVIDENCE
            assert all(node.start_ms <= e.node.start_ms < node.end_ms for e in hit.evidence), "evidence in the answer"
            assert [e.score for e in hit.evidence] == sorted((e.score for e in hit.evidence), reverse=True)
            agree += hit.evidence[0].node.id == _exact_best(corpus, probe, node)[0]
    assert agree >= 0.9 * 2 * len(probes), f"{agree} of {2 * len(probes)} answers were explained by their best moment"


@pytest.mark.parametrize("level", [Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO])
def test_the_evidence_of_a_search_in_a_time_range_lies_in_that_range(
    library: tuple[Database, Corpus], level: Level
) -> None:
    """An answer that overlaps the range is explained by its moments inside the range."""
    db, corpus = library
    window = TimeRange(600_000, 1_200_000)
    for probe in queries(corpus, 4, seed=11):
        hits = db.search(SearchQuery(COLL, level, vector=probe, top_k=4, filter=Filter(time_range=window))).hits
        assert hits and all(h.node.start_ms < window.end_ms and h.node.end_ms > window.start_ms for h in hits)
        for hit in hits:
            assert hit.evidence
            assert all(e.node.end_ms > window.start_ms and e.node.start_ms < window.end_ms for e in hit.evidence)


@pytest.mark.parametrize("level", [Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO])
def test_the_evidence_of_a_search_for_a_label_carries_that_label(
    library: tuple[Database, Corpus], level: Level
) -> None:
    """A parent passes a label filter because some of its segments carry the label (a
    parent's labels are its segments'): those segments explain it, not its best others."""
    db, corpus = library
    label = EVENTS[int(np.bincount(corpus.labels).argmin())]  # the rarest event: few segments of a parent
    for probe in queries(corpus, 4, seed=13):
        plain = db.search(SearchQuery(COLL, level, vector=probe, top_k=4)).hits
        hits = db.search(SearchQuery(COLL, level, vector=probe, top_k=4, filter=Filter(labels=(label,)))).hits
        assert hits and all(label in h.node.labels for h in hits)
        for hit in hits:
            assert hit.evidence and all(e.node.labels == (label,) for e in hit.evidence)
        # Unfiltered, the same parents are explained by segments of every event.
        assert {e.node.labels[0] for h in plain for e in h.evidence} != {label}


@pytest.mark.parametrize("text", ["the half with the most corners", "a half with at least 2 corners"])
def test_a_half_ranked_by_a_count_is_explained_by_what_was_counted(library: tuple[Database, Corpus], text: str) -> None:
    """ "The half with the most corners" is answered for its corner kicks: they are its
    evidence, not the moments nearest the query's vector (ranked by count, a half's best
    moments by similarity are passes as often as not)."""
    db, corpus = library
    for probe in queries(corpus, 3, seed=21):
        hits = db.search(SearchQuery(COLL, text=text, vector=probe, top_k=4, mode=Mode.AUTO)).hits
        assert hits and all(h.node.level is Level.HALF for h in hits)
        for hit in hits:
            assert hit.count == hit.node.label_counts["corner kick"]  # and says how many it holds
            assert len(hit.evidence) == min(answers.EVIDENCE, hit.count)
            assert all(e.node.labels == ("corner kick",) for e in hit.evidence)
            assert hit.node.start_ms <= hit.focus.start_ms <= hit.focus.end_ms <= hit.node.end_ms
        # A route that counts nothing gives no count.
        plain = db.search(SearchQuery(COLL, text="the first half", vector=probe, top_k=2, mode=Mode.AUTO)).hits
        assert plain and all(h.node.level is Level.HALF and h.count is None for h in plain)


def test_a_count_under_a_label_filter_keeps_the_filters_evidence(library: tuple[Database, Corpus]) -> None:
    """Halves with goals ranked by their corners: a half is explained by segments that
    carry both labels where it has some, else by its goals (never by neither)."""
    db, corpus = library
    probe = queries(corpus, 1, seed=21)[0]
    goals = Filter(labels=("goal",))
    text = "the half with the most corners"
    hits = db.search(SearchQuery(COLL, text=text, vector=probe, top_k=4, mode=Mode.AUTO, filter=goals)).hits
    assert hits and all(h.evidence and all(e.node.labels == ("goal",) for e in h.evidence) for h in hits)


def test_evidence_is_not_cut_to_a_count_a_search_did_not_make(library: tuple[Database, Corpus]) -> None:
    """Mixed (ALL) searches count nothing, nor does a count of an event no label names
    and no vector scores: no hit gives a count, and evidence is the best segments."""
    db, corpus = library
    probe = queries(corpus, 1, seed=21)[0]
    mixed = db.search(SearchQuery(COLL, text="the half with the most corners", vector=probe, top_k=10, mode=Mode.ALL))
    assert all(h.count is None for h in mixed.hits)
    assert {e.node.labels[0] for h in mixed.hits for e in h.evidence} != {"corner kick"}
    text = "a half with at least two long balls"  # no label, and no part vector to score it by
    uncounted = db.search(SearchQuery(COLL, text=text, vector=probe, top_k=2, mode=Mode.AUTO))
    assert "nothing counted" in uncounted.route.reason and all(h.count is None for h in uncounted.hits)


@pytest.mark.parametrize("level", [Level.SCENE, Level.DRIVE])
def test_every_answer_on_a_page_is_explained_by_its_own_best_moments(
    library: tuple[Database, Corpus], level: Level
) -> None:
    # A page's evidence is scored in one pass: each answer must still get the best
    # segments inside itself, in order, not its neighbours' on the page.
    db, corpus = library
    for probe in queries(corpus, 4, seed=3):
        hits = db.search(SearchQuery(COLL, level, vector=probe, top_k=8)).hits
        assert len(hits) == 8
        for hit in hits:
            wanted = _exact_best(corpus, probe, hit.node, answers.EVIDENCE)
            assert [e.node.id for e in hit.evidence] == wanted[: len(hit.evidence)]
            assert len(hit.evidence) == min(answers.EVIDENCE, len(wanted))


def test_a_page_of_long_parents_explains_each_as_it_would_alone(
    library: tuple[Database, Corpus], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both videos on one page: each one's best scenes are its own, not the page's. Few
    # scenes per parent, so that scenes chosen page-wide would leave one video without.
    monkeypatch.setattr(answers, "EVIDENCE_SCENES", 2)
    db, corpus = library
    for probe in queries(corpus, 6, seed=11):
        page = db.search(SearchQuery(COLL, Level.VIDEO, vector=probe, top_k=2)).hits
        assert len(page) == 2
        for hit in page:
            alone = db.search(
                SearchQuery(COLL, Level.VIDEO, vector=probe, top_k=1, filter=Filter(video_ids=(hit.node.video_id,)))
            ).hits[0]
            assert [e.node.id for e in hit.evidence] == [e.node.id for e in alone.evidence]


def test_the_descent_scores_a_few_hundred_segments_not_all(
    library: tuple[Database, Corpus], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, corpus = library
    scored: list[int] = []
    index = db._index(db.get_collection(COLL), Level.SEGMENT)  # noqa: SLF001 - the cost is the behaviour here
    original = type(index).score

    def counting(self: object, keys: np.ndarray, *args: object, **kwargs: object) -> object:
        if self is index:
            scored.append(len(keys))
        return original(self, keys, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(type(index), "score", counting)
    db.search(SearchQuery(COLL, Level.VIDEO, vector=corpus.vectors[10], top_k=1))
    assert scored, "the video's evidence was scored"
    assert max(scored) < SEGMENTS // 2 // 2, scored


def test_a_long_parent_whose_best_scenes_hold_no_labelled_segment_is_explained_by_its_labelled_ones(
    library: tuple[Database, Corpus],
) -> None:
    """The descent through a half's best scenes finds nothing when the filter's label lies
    only outside them: its labelled segments are then scored, not left out."""
    db, _ = library
    corpus = generate(2 * 3000, dim=DIM, seed=9, per_video=3000)  # halves of ~1,500 segments
    plain = "evidence-long"
    db.create_collection(plain, EmbeddingSpace(DIM))
    load_sealed(db, plain, corpus)
    probe = queries(corpus, 1, seed=17)[0]
    half = db.search(SearchQuery(plain, Level.HALF, vector=probe, top_k=1)).hits[0].node
    inside = Filter(video_ids=(half.video_id,), time_range=TimeRange(half.start_ms, half.end_ms))
    best = db.search(SearchQuery(plain, Level.SCENE, vector=probe, top_k=answers.EVIDENCE_SCENES, filter=inside)).hits
    in_best = {(s.node.start_ms, s.node.end_ms) for s in best}
    # The same videos again, "x" on every segment of that half outside its best scenes.
    other = "evidence-outside"
    db.create_collection(other, EmbeddingSpace(DIM))
    labelled = 0
    for video, rows in corpus.video_slices():
        db.create_video(other, video)
        batch = []
        for t, v in zip(corpus.start_ms[rows].tolist(), corpus.vectors[rows], strict=True):
            outside = not any(s <= t < e for s, e in in_best)
            x = video == half.video_id and half.start_ms <= t < half.end_ms and outside
            labelled += x
            batch.append(SegmentInput(video, t, t + SEGMENT_MS, v, labels=["x"] if x else []))
        db.append_segments(other, batch)
        db.seal_video(other, video)
    assert labelled > answers.EXACT_EVIDENCE_BELOW, "the half must be long enough to be descended"
    hits = db.search(SearchQuery(other, Level.HALF, vector=probe, top_k=1, filter=Filter(labels=("x",)))).hits
    assert [(h.node.video_id, h.node.start_ms) for h in hits] == [(half.video_id, half.start_ms)]
    assert len(hits[0].evidence) == answers.EVIDENCE and all(e.node.labels == ("x",) for e in hits[0].evidence)
