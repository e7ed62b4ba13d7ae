"""Sequence queries answered with pairs of moments, on a small captioned video."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hierarchy import pairs
from hierarchy.db import Database
from hierarchy.types import EmbeddingSpace, Filter, Level, Mode, SearchQuery, SegmentInput, TimeRange
from tests.hierarchy.helpers import fast_options

COLL = "clips"
DOG, CAT, FILLER = "a dog barks loudly at the gate", "a cat jumps onto the garden fence", "rain falls on the street"
# Two seconds each. A dog then a cat at 1-2 (labelled apart) and at 9-11 (a filler
# between); a cat alone at 5; a dog alone at 16 and at 22, the cat at 26 too late for it.
CAPTIONS = [FILLER, DOG, CAT, FILLER, FILLER, CAT, FILLER, FILLER, FILLER, DOG, FILLER, CAT] + [FILLER] * 4
CAPTIONS += [DOG] + [FILLER] * 5 + [DOG, FILLER, FILLER, FILLER, CAT, FILLER]


@pytest.fixture
def clips(tmp_path: Path) -> Database:
    db = Database.open(tmp_path, fast_options())
    db.create_collection(COLL, EmbeddingSpace(0, text_encoder="default"))
    db.create_video(COLL, "v")
    labels = {1: ["dog"], 2: ["cat"], 9: ["dog", "cat"], 11: ["dog", "cat"]}
    rows = [SegmentInput("v", 2000 * i, 2000 * (i + 1), None, c, labels.get(i, [])) for i, c in enumerate(CAPTIONS)]
    db.append_segments(COLL, rows)
    db.seal_video(COLL, "v")
    return db


def starts(db: Database, text: str, **kwargs: object) -> list[int]:
    result = db.search(SearchQuery(COLL, text=text, mode=Mode.AUTO, top_k=3, rerank=False, **kwargs))
    assert result.route.parse.sequence == ("dog barking", "a cat jumping")
    if result.route.levels == (Level.SEGMENT,):  # pairs: the confidences say so too
        assert max(result.route.confidences, key=result.route.confidences.get) is Level.SEGMENT
    return [h.node.start_ms // 2000 for h in result.hits]


def test_each_answer_is_a_first_event_soon_followed_by_the_second(clips: Database) -> None:
    found = starts(clips, "a dog barking then a cat jumping")
    # The pair's longer segment answers; both are 2 s, so the first event's.
    assert found[:2] in ([1, 9], [9, 1])
    assert 16 not in found[:2] and 22 not in found[:2]  # no cat soon enough after them
    clips.close()


def test_an_answer_shows_both_moments_and_its_focus_spans_them(clips: Database) -> None:
    query = SearchQuery(COLL, text="a dog barking then a cat jumping", mode=Mode.AUTO, top_k=3, rerank=False)
    best = clips.search(query).hits[0]
    moments = sorted((e.node.start_ms // 2000, e.node.text) for e in best.evidence)
    assert moments in ([(1, DOG), (2, CAT)], [(9, DOG), (11, CAT)])
    assert best.evidence[0].score >= best.evidence[1].score  # best first
    assert best.score == pytest.approx(sum(e.score for e in best.evidence) / 2)
    assert (best.focus.start_ms // 2000, best.focus.end_ms // 2000) == (moments[0][0], moments[1][0] + 1)
    assert not clips.search(replace(query, include_evidence=False)).hits[0].evidence
    clips.close()


def test_both_moments_of_a_pair_pass_the_filter(clips: Database) -> None:
    # Only the pair at 9-11 has both moments labelled "dog": the one at 1-2 is left out.
    found = starts(clips, "a dog barking then a cat jumping", filter=Filter(labels=("dog",)))
    assert found[0] == 9 and 1 not in found
    clips.close()


def test_with_no_pair_to_find_single_moments_answer_and_the_reason_says_so(clips: Database) -> None:
    window = Filter(time_range=TimeRange(10_000, 12_000))  # the lone cat at 5, nothing around it
    query = SearchQuery(COLL, text="a dog barking then a cat jumping", mode=Mode.AUTO, filter=window)
    result = clips.search(query)
    # Moments, whatever the pools suggest ("barking" reads as play going on: a scene).
    assert [h.node.start_ms // 2000 for h in result.hits] == [5] and result.route.levels == (Level.SEGMENT,)
    assert "no two moments in a row match the sequence: single moments" in result.route.reason
    clips.close()


@given(st.lists(st.tuples(st.integers(0, 5), st.sampled_from([0.5, 1.0, 1.5, 2.0])), max_size=40))
def test_an_answer_is_its_best_pair_and_equal_answers_keep_the_order_first_seen(found: list[tuple[int, float]]) -> None:
    # The rule, pair by pair: a key's first best pair stands for it; answers rank by score,
    # equal ones in the order their keys first came.
    best: dict[int, tuple[float, int]] = {}
    for at, (key, score) in enumerate(found):
        if key not in best or best[key][0] < score:
            best[key] = (score, at)
    expected = [at for _, at in sorted(best.values(), key=lambda b: -b[0])]
    keys = np.array([k for k, _ in found], np.int64)
    scores = np.array([s for _, s in found], np.float64)
    assert pairs._best_per_key(keys, scores).tolist() == expected
