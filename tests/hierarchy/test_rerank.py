"""The joint rerank: nested answers are one answer, near-duplicates move down, diversity
trades relevance for spread, and rerankers are plug-ins chosen by name."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hierarchy import rerank
from hierarchy.candidates import Ranked
from hierarchy.db import Database
from hierarchy.errors import InvalidArgument
from hierarchy.types import EmbeddingSpace, Level, SearchQuery
from tests.hierarchy.helpers import DIM, SEGMENT_MS, segments, unit_vectors


def candidates(ranked: list[Ranked], spans: dict, vectors: np.ndarray | None = None, diversity: float = 0.0):
    table = {r.key: i for i, r in enumerate(ranked)}
    if vectors is None:
        vectors = np.eye(len(ranked), dtype=np.float32)  # all distinct
    return rerank.Candidates(ranked, spans, lambda chosen: vectors[[table[r.key] for r in chosen]], diversity)


def test_overlap_keeps_the_best_of_nested_answers() -> None:
    ranked = [
        Ranked(1, Level.SCENE, 5.0, 0.8),  # scene 0-10 s
        Ranked(2, Level.SEGMENT, 4.0, 0.9),  # its own segment: same answer
        Ranked(3, Level.SEGMENT, 3.0, 0.7),  # elsewhere in the video
        Ranked(4, Level.SEGMENT, 2.0, 0.7),  # same times, other video
    ]
    spans = {1: ("v", 0, 10_000), 2: ("v", 2_000, 4_000), 3: ("v", 20_000, 22_000), 4: ("w", 2_000, 4_000)}
    for name in ("overlap", "joint"):
        assert [r.key for r in rerank.get(name)(candidates(ranked, spans))] == [1, 3, 4]


def test_answers_whose_node_is_gone_are_dropped() -> None:
    ranked = [Ranked(1, Level.SEGMENT, 2.0, 0.9), Ranked(2, Level.SEGMENT, 1.0, 0.8)]
    assert [r.key for r in rerank.suppress_overlaps(candidates(ranked, {2: ("v", 0, 1)}))] == [2]


def test_near_duplicates_move_below_distinct_answers() -> None:
    ranked = [Ranked(k, Level.SEGMENT, 10.0 - k, 0.5) for k in range(4)]
    spans = {k: (f"v{k}", 0, 2000) for k in range(4)}  # four videos: no overlaps
    vectors = np.array([[1, 0, 0], [0.999, 0.0447, 0], [0, 1, 0], [0, 0, 1]], np.float32)  # 1 replays 0
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out = rerank.joint(candidates(ranked, spans, vectors))
    assert [r.key for r in out] == [0, 2, 3, 1]
    assert [r.score for r in out] == [10.0, 8.0, 7.0, 9.0], "scores are kept; only the order changes"


@pytest.mark.parametrize("diversity", [0.0, 0.5])
def test_tiered_moves_near_duplicates_down_inside_their_tier_only(diversity: float) -> None:
    """A route lifts answers by a hundred (a result held, the side named): a replay of
    the best lifted answer waits below the other lifted ones, not below the rest."""
    scores = [101.0, 100.5, 100.2, 2.0, 1.5]  # 1 replays 0; 4 replays 3
    ranked = [Ranked(k, Level.DRIVE, s, 0.5) for k, s in enumerate(scores)]
    spans = {k: (f"v{k}", 0, 2000) for k in range(5)}
    vectors = np.array([[1, 0, 0, 0], [0.999, 0.0447, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0.999, 0.0447]])
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    found = candidates(ranked, spans, vectors, diversity)
    assert [r.key for r in rerank.joint(found)][:3] == [0, 2, 3]  # the joint rerank crosses tiers
    assert [r.key for r in rerank.tiered(found)] == [0, 2, 1, 3, 4]
    for wanted in range(1, 6):  # a page wanting fewer gets the beginning of the same order
        assert [r.key for r in rerank.tiered(replace(found, wanted=wanted))][:wanted] == [0, 2, 1, 3, 4][:wanted]


def test_without_duplicates_zero_diversity_keeps_the_order() -> None:
    ranked = [Ranked(k, Level.SEGMENT, 10.0 - k, 0.5) for k in range(5)]
    spans = {k: (f"v{k}", 0, 2000) for k in range(5)}
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert [r.key for r in rerank.joint(candidates(ranked, spans, vectors))] == [0, 1, 2, 3, 4]


def test_diversity_prefers_an_answer_unlike_the_first() -> None:
    ranked = [
        Ranked(0, Level.SEGMENT, 3.0, 0.9),
        Ranked(1, Level.SEGMENT, 2.9, 0.9),
        Ranked(2, Level.SEGMENT, 2.8, 0.9),
    ]
    spans = {k: (f"v{k}", 0, 2000) for k in range(3)}
    vectors = np.array([[1, 0], [0.9, 0.436], [0, 1]], np.float32)  # 1 resembles 0 (0.9), 2 does not
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert [r.key for r in rerank.joint(candidates(ranked, spans, vectors, 0.0))] == [0, 1, 2]
    assert [r.key for r in rerank.joint(candidates(ranked, spans, vectors, 0.5))] == [0, 2, 1]


@given(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=30), st.floats(0, 1), st.integers(0, 99))
def test_joint_rerank_is_a_permutation_of_the_kept_answers(scores: list[float], diversity: float, seed: int) -> None:
    ranked = sorted((Ranked(k, Level.SEGMENT, s, 0.5) for k, s in enumerate(scores)), key=lambda r: -r.score)
    spans = {k: (f"v{k % 3}", k * 1000, k * 1000 + 1000) for k in range(len(scores))}
    vectors = np.random.default_rng(seed).normal(size=(len(scores), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out = rerank.joint(candidates(ranked, spans, vectors, diversity))
    assert sorted(r.key for r in out) == sorted(r.key for r in ranked)
    assert out[0] == ranked[0], "the best answer stays first"


def test_past_the_head_an_answer_overlapping_a_kept_one_is_dropped() -> None:
    head = [Ranked(1, Level.SCENE, 5.0, 0.8)]  # kept by the head's rerank
    tail = [
        Ranked(2, Level.SEGMENT, 4.0, 0.9),  # inside the head's scene
        Ranked(3, Level.DRIVE, 3.0, 0.7),  # holds the next one
        Ranked(4, Level.SEGMENT, 2.0, 0.7),  # inside that drive: a better tail answer
        Ranked(5, Level.SEGMENT, 1.0, 0.7),  # elsewhere
        Ranked(6, Level.SEGMENT, 0.5, 0.7),  # gone since ranked (no span)
    ]
    spans = {1: ("v", 0, 10_000), 2: ("v", 2_000, 4_000), 3: ("v", 30_000, 60_000), 4: ("v", 40_000, 42_000)}
    spans[5] = ("w", 2_000, 4_000)
    assert [r.key for r in rerank.past(head, tail, spans)] == [3, 5]
    assert rerank.drops_overlaps("") and rerank.drops_overlaps("overlap") and not rerank.drops_overlaps("none")


@given(st.lists(st.floats(-5, 5), max_size=30))
def test_capped_scores_never_rise_and_keep_the_running_best(scores: list[float]) -> None:
    """A reranked list's scores fall down it: each capped at the lowest above it."""
    ranked = [Ranked(i, Level.SEGMENT, s, s) for i, s in enumerate(scores)]
    out = rerank.capped(ranked)
    assert [r.key for r in out] == [r.key for r in ranked] and [r.similarity for r in out] == scores
    assert [r.score for r in out] == [min(scores[: i + 1]) for i in range(len(scores))]


def test_a_plug_ins_nan_score_does_not_lift_the_cap_after_it() -> None:
    ranked = [Ranked(k, Level.SEGMENT, s, s) for k, s in enumerate([0.9, float("nan"), 0.95])]
    out = rerank.capped(ranked)
    assert out[0].score == 0.9 and np.isnan(out[1].score) and out[2].score == 0.9


def test_rerankers_are_plug_ins_chosen_by_name() -> None:
    assert {"joint", "overlap", "none"} <= set(rerank.names())
    assert rerank.get("") is rerank.get(rerank.DEFAULT)
    rerank.register("reverse", lambda found: list(reversed(found.ranked)))
    try:
        ranked = [Ranked(k, Level.SEGMENT, 1.0 - k, 0.5) for k in range(3)]
        spans = {k: ("v", k * 10, k * 10 + 5) for k in range(3)}
        assert [r.key for r in rerank.get("reverse")(candidates(ranked, spans))] == [2, 1, 0]
        assert not rerank.drops_overlaps("reverse")  # a plug-in's promise is its own
    finally:
        rerank._REGISTRY.pop("reverse")


def test_an_unknown_reranker_names_the_field_and_the_choices() -> None:
    with pytest.raises(InvalidArgument) as err:
        rerank.get("fancy")
    assert err.value.field == "reranker"
    assert "joint" in err.value.message


@given(st.integers(2, 40), st.integers(0, 999))
def test_the_fast_path_orders_as_the_greedy_one(count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(4, 6))
    vectors = base[rng.integers(0, 4, count)] + rng.normal(scale=0.1, size=(count, 6))  # clusters of look-alikes
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ranked = [Ranked(k, Level.SEGMENT, float(count - k), 0.5) for k in range(count)]
    fast = rerank.diversify(ranked, vectors, 0.0)
    slow = rerank.diversify(ranked, vectors, 1e-12)  # takes the general loop; the same order up to ties
    assert [r.key for r in fast] == [r.key for r in slow]


@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 50), st.integers(0, 20)), min_size=0, max_size=60))
def test_overlap_keeps_exactly_the_answers_no_better_kept_one_overlaps(raw: list[tuple[int, int, int]]) -> None:
    ranked = [Ranked(k, Level.SEGMENT, float(-k), 0.5) for k in range(len(raw))]
    spans = {k: (f"v{video}", start, start + length) for k, (video, start, length) in enumerate(raw)}
    kept: list[int] = []
    for k, (video, start, end) in spans.items():  # the definition, pair by pair
        if not any(spans[j][0] == video and start < spans[j][2] and spans[j][1] < end for j in kept):
            kept.append(k)
    assert [r.key for r in rerank.suppress_overlaps(candidates(ranked, spans))] == kept


def test_naming_a_reranker_or_a_diversity_reranks_a_one_level_search(db: Database) -> None:
    # At one level the rerank is off unless asked: a reranker or diversity named without
    # rerank=True was silently ignored ('strata search --level segment --diversity 0.3').
    db.create_collection("c", EmbeddingSpace(DIM))
    db.create_video("c", "v")
    first, other = unit_vectors(2, seed=5)
    again = first + 0.001 * unit_vectors(1, seed=6)[0]  # the same moment shown twice
    db.append_segments("c", segments("v", np.stack([first, again, other])))
    query = SearchQuery("c", Level.SEGMENT, vector=first + 0.2 * other, top_k=3, include_evidence=False)
    plain = [h.node.start_ms for h in db.search(query).hits]
    assert sorted(plain[:2]) == [0, SEGMENT_MS]  # the two near-duplicates first, as ranked
    for asked in ({"reranker": "joint"}, {"diversity": 0.1}, {"rerank": True}):
        hits = db.search(replace(query, **asked)).hits
        assert [h.node.start_ms for h in hits] == [plain[0], 2 * SEGMENT_MS, plain[1]], (
            asked
        )  # the duplicate moved down
        # Its score is capped at the one above it (scores fall down the list), its raw
        # score kept; the answers the rerank did not move down keep theirs.
        assert [h.score for h in hits] == [hits[0].raw_score, hits[1].raw_score, hits[1].raw_score]
        assert hits[2].raw_score > hits[1].raw_score
    assert [h.node.start_ms for h in db.search(replace(query, reranker="joint", rerank=False)).hits] == plain


@given(st.integers(1, 60), st.integers(1, 70), st.integers(0, 999), st.sampled_from(["joint", "overlap"]))
def test_a_page_wanting_a_few_answers_gets_the_beginning_of_the_whole_order(
    count: int, wanted: int, seed: int, name: str
) -> None:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(3, 6))
    vectors = base[rng.integers(0, 3, count)] + rng.normal(scale=0.1, size=(count, 6))  # many look-alikes
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    ranked = [Ranked(k, Level.SEGMENT, float(count - k), 0.5) for k in range(count)]
    spans = {k: (f"v{rng.integers(0, 4)}", int(rng.integers(0, 60)) * 1000, 0) for k in range(count)}
    spans = {k: (video, start, start + int(rng.integers(1, 8)) * 1000) for k, (video, start, _) in spans.items()}
    fetched: list[int] = []

    def vectors_of(chosen: list[Ranked]) -> np.ndarray:
        fetched.extend(r.key for r in chosen)
        return vectors[[r.key for r in chosen]]

    whole = rerank.get(name)(rerank.Candidates(ranked, spans, vectors_of))
    fetched.clear()
    some = rerank.get(name)(rerank.Candidates(ranked, spans, vectors_of, wanted=wanted))
    assert some == whole[: len(some)], "the same order, cut short"
    assert len(some) >= wanted or some == whole, "as many as wanted, else all there are"
    assert len(fetched) == len(set(fetched)), "no vector is fetched twice"
