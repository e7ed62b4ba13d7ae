"""The tree builder: well-formed trees, honoured hints, planted structure recovered."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hierarchy import segmentation
from hierarchy.builder import HierarchyConfig, Tree, VideoSegments, build
from hierarchy.segmentation import _slow_features_general, partition, slow_features, split_in
from hierarchy.types import Level
from tools import soccer

LEVELS = (Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO)


def _segments(
    durations: list[int], gaps: list[int], dim: int, seed: int, attrs: list[dict] | None = None
) -> VideoSegments:
    starts, ends, t = [], [], 0
    for d, g in zip(durations, gaps, strict=True):
        t += g
        starts.append(t)
        ends.append(t + d)
        t += d
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(durations), dim)).astype(np.float32)
    n = len(durations)
    return VideoSegments(
        np.array(starts, np.int64),
        np.array(ends, np.int64),
        vectors,
        attrs or [{} for _ in range(n)],
        [["pass"] for _ in range(n)],
        [f"s{i}" for i in range(n)],
        np.zeros(n, bool),
    )


def assert_well_formed(tree: Tree, segs: VideoSegments) -> None:
    """Children ordered and contiguous, parents span their children, no overlaps, full cover."""
    n = len(segs.starts)
    scenes = tree.levels[Level.SCENE]
    assert scenes[0].segment_range[0] == 0 and scenes[-1].segment_range[1] == n
    for level in LEVELS:
        nodes = tree.levels[level]
        assert nodes, f"{level.label} is empty"
        for prev, nxt in zip(nodes, nodes[1:], strict=False):
            assert prev.segment_range[1] == nxt.segment_range[0]  # contiguous, each segment once
            assert prev.end_ms <= nxt.start_ms  # no overlap at a level
        for node in nodes:
            a, b = node.segment_range
            assert a < b and node.start_ms == segs.starts[a] and node.end_ms == segs.ends[b - 1]
            assert abs(float(np.linalg.norm(node.vector)) - 1.0) < 1e-4
        if level is not Level.SCENE:
            below = tree.levels[Level(level - 1)]
            for node in nodes:
                kids = below[node.first_child : node.last_child]
                assert kids and kids[0].segment_range[0] == node.segment_range[0]
                assert kids[-1].segment_range[1] == node.segment_range[1]
                assert sum(node.label_counts.values()) == sum(sum(k.label_counts.values()) for k in kids)
            assert nodes[0].first_child == 0 and nodes[-1].last_child == len(below)
    assert len(tree.levels[Level.VIDEO]) == 1


@settings(max_examples=60, deadline=None)
@given(
    durations=st.lists(st.integers(500, 5000), min_size=1, max_size=120),
    seed=st.integers(0, 10_000),
    data=st.data(),
)
def test_tree_is_well_formed(durations: list[int], seed: int, data: st.DataObject) -> None:
    gaps = data.draw(
        st.lists(st.sampled_from([0, 0, 0, 100, 200_000]), min_size=len(durations), max_size=len(durations))
    )
    segs = _segments(durations, gaps, 8, seed)
    assert_well_formed(build(segs, HierarchyConfig(drive_attribute="", half_attribute="")), segs)


def test_scene_hints_are_honoured_exactly() -> None:
    segs = _segments([2000] * 50, [0] * 50, 8, 1)
    tree = build(segs, HierarchyConfig(), hints={Level.SCENE: [10_000, 40_000, 70_000]})
    assert [n.start_ms for n in tree.levels[Level.SCENE]] == [0, 10_000, 40_000, 70_000]


@pytest.mark.parametrize("scene_hints", [[], [30_000]])
def test_a_drive_hint_cuts_the_scenes_too(scene_hints: list[int]) -> None:
    # Scenes were not cut at it: inside a detected scene it moved to that scene's end, or
    # was dropped (one scene, one drive), without a word.
    segs = _segments([2000] * 60, [0] * 60, 8, 1)
    segs.vectors[:] = segs.vectors[0]  # one scene, were it not for the hint
    tree = build(segs, HierarchyConfig(), hints={Level.SCENE: scene_hints, Level.DRIVE: [61_000]})
    assert [n.start_ms for n in tree.levels[Level.DRIVE]] == [0, 62_000]
    assert [n.start_ms for n in tree.levels[Level.SCENE]] == [0, *scene_hints, 62_000]


def test_half_hint_overrides_period_attribute() -> None:
    attrs = [{"period": 1 if i < 25 else 2} for i in range(50)]
    segs = _segments([2000] * 50, [0] * 50, 8, 2, attrs)
    assert [n.start_ms for n in build(segs, HierarchyConfig()).levels[Level.HALF]] == [0, 50_000]
    hinted = build(segs, HierarchyConfig(), hints={Level.HALF: [20_000]})
    assert [n.start_ms for n in hinted.levels[Level.HALF]] == [0, 20_000]


def test_largest_gap_splits_halves() -> None:
    gaps = [0] * 40
    gaps[17] = 900_000
    segs = _segments([60_000] * 40, gaps, 8, 3)
    halves = build(segs, HierarchyConfig(half_attribute="")).levels[Level.HALF]
    assert [h.segment_range for h in halves] == [(0, 17), (17, 40)]


def test_equal_gaps_are_no_half_time_and_the_halves_are_split_by_content() -> None:
    # A 5-second clip every 5 minutes: the first of the equal gaps made a first half of
    # one clip. Content changes after clip 12: the halves follow it.
    segs = _segments([5_000] * 24, [0] + [295_000] * 23, 8, 3)
    segs.vectors[12:] += 4.0
    halves = build(segs, HierarchyConfig(half_attribute="")).levels[Level.HALF]
    assert [h.segment_range for h in halves] == [(0, 12), (12, 24)]
    gaps = [0] + [295_000] * 23
    gaps[7] = 900_000  # one break twice as long as any other: half-time
    segs = _segments([5_000] * 24, gaps, 8, 3)
    assert [h.segment_range for h in build(segs, HierarchyConfig(half_attribute="")).levels[Level.HALF]] == [
        (0, 7),
        (7, 24),
    ]


def test_one_other_long_break_leaves_the_largest_gap_half_time() -> None:
    # A stoppage of 8 minutes beside a half-time of 15 (a match's 2,700 segments).
    gaps = [0] * 2700
    gaps[1350], gaps[2200] = 900_000, 480_000
    segs = _segments([2000] * 2700, gaps, 8, 3)
    halves = build(segs, HierarchyConfig(half_attribute="")).levels[Level.HALF]
    assert [h.segment_range for h in halves] == [(0, 1350), (1350, 2700)]


@pytest.mark.parametrize("weights", [None, np.full(900, 2000.0), np.r_[np.full(450, 1000.0), np.full(450, 3000.0)]])
def test_a_video_that_never_changes_is_halved_at_its_middle(weights: np.ndarray | None) -> None:
    # Every split costs the same: rounding alone chose one (halves of 2.4 and 27.6 minutes).
    still = np.tile(np.random.default_rng(0).normal(size=8), (900, 1))
    [cut] = split_in(still, 2, weights)
    share = 0.5 if weights is None else float(weights[:cut].sum() / weights.sum())
    assert abs(share - 0.5) < 0.01


def test_a_split_that_costs_less_is_taken_wherever_it_lies() -> None:
    # Ties go to the middle; a change is no tie.
    vectors = np.r_[np.zeros((50, 4)), np.ones((950, 4))]
    assert split_in(vectors, 2) == [50]


def test_a_short_clip_has_one_node_per_level() -> None:
    segs = _segments([2000] * 3, [0] * 3, 8, 4)
    tree = build(segs, HierarchyConfig())
    assert {level: len(tree.levels[level]) for level in LEVELS} == dict.fromkeys(LEVELS, 1)


def test_rebuild_is_deterministic() -> None:
    segs = _segments([2000] * 80, [0] * 80, 8, 5)
    first, second = build(segs, HierarchyConfig()), build(segs, HierarchyConfig())
    for level in LEVELS:
        assert [n.segment_range for n in first.levels[level]] == [n.segment_range for n in second.levels[level]]


def test_partition_finds_planted_change_points() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16))
    x = np.vstack([c + 0.1 * rng.normal(size=(25, 16)) for c in centres])
    assert partition(x, penalty=1.0, min_run=2) == [25, 50, 75]


def test_planted_soccer_structure_is_recovered() -> None:
    data = soccer.generate(matches=1, seed=3, vectors="random", dim=64)
    rows, truth = data.segments, data.truth["matches"][0]
    segs = VideoSegments(
        np.array([r["start_ms"] for r in rows]),
        np.array([r["end_ms"] for r in rows]),
        np.array([r["vector"] for r in rows], np.float32),
        [r["attributes"] for r in rows],
        [r["labels"] for r in rows],
        [r["text"] for r in rows],
        np.zeros(len(rows), bool),
    )
    tree = build(segs, HierarchyConfig())
    assert [[h.start_ms, h.end_ms] for h in tree.levels[Level.HALF]] == truth["halves"]
    assert [d.start_ms for d in tree.levels[Level.DRIVE]] == [d["start_ms"] for d in truth["drives"]]
    true_scenes = {s["start_ms"] for s in truth["scenes"]}
    found = [s.start_ms for s in tree.levels[Level.SCENE]]
    assert sum(s in true_scenes for s in found) / len(true_scenes) >= 0.9
    assert_well_formed(tree, segs)


def _event_noise_sequence(seed: int, runs: int = 60, dim: int = 64) -> tuple[np.ndarray, list[int]]:
    """Runs of 6-14 items whose means differ in 3 of ``dim`` directions, under per-item
    noise that is strong in a few directions: each item is one of 12 random "events", as
    each caption embedding is mostly its own event."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(6, 15, size=runs)
    n = int(lengths.sum())
    events = rng.normal(size=(12, dim)) * 1.5
    x = events[rng.integers(0, 12, size=n)] + rng.normal(size=(n, dim)) * 0.3
    x[:, :3] += np.repeat(rng.normal(size=(runs, 3)) * 2.5, lengths, axis=0)
    return x, np.cumsum(lengths)[:-1].tolist()


def _scene_f1(x: np.ndarray, truth: list[int], config: HierarchyConfig) -> float:
    n = len(x)
    segs = VideoSegments(
        np.arange(n, dtype=np.int64) * 2000,
        np.arange(1, n + 1, dtype=np.int64) * 2000,
        x.astype(np.float32),
        [{} for _ in range(n)],
        [[] for _ in range(n)],
        ["" for _ in range(n)],
        np.zeros(n, bool),
    )
    found = [s.segment_range[0] for s in build(segs, config).levels[Level.SCENE]][1:]
    precision = sum(any(abs(f - t) <= 1 for t in truth) for f in found) / max(len(found), 1)
    recall = sum(any(abs(f - t) <= 1 for f in found) for t in truth) / len(truth)
    return 2 * precision * recall / max(precision + recall, 1e-9)


def test_slow_features_find_the_directions_that_change_slowly() -> None:
    x, _ = _event_noise_sequence(2)
    projection = slow_features(x, [(0, len(x))], dims=3)
    assert projection.shape == (64, 3)
    basis, _ = np.linalg.qr(projection)
    assert np.linalg.norm(basis[:3, :], axis=0).min() > 0.75  # spans the planted directions


def test_slow_features_of_a_short_sequence_are_few() -> None:
    x = np.random.default_rng(1).normal(size=(40, 64))
    assert slow_features(x, [(0, 40)], dims=32).shape == (64, 5)  # 40 items, 8 per dimension


@pytest.mark.parametrize("items", [64, 700])  # as many items as dimensions; ten times as many
def test_slow_features_of_a_long_sequence_match_the_double_precision_route(items: int) -> None:
    rng = np.random.default_rng(items)
    levels = np.repeat(rng.normal(size=(items // 50 + 1, 64)), 50, axis=0)[:items]
    x = (levels + rng.normal(size=(items, 64)) * 2).astype(np.float32)
    runs = [(0, items // 2), (items // 2, items)]
    general = x.astype(np.float64) @ _slow_features_general(x, runs, 8, 0.1, 8)
    long = x.astype(np.float64) @ slow_features(x, runs, dims=8)  # the long route
    assert general.shape == long.shape
    same_direction = np.abs((general * long).sum(0)) / np.linalg.norm(general, axis=0) / np.linalg.norm(long, axis=0)
    assert same_direction.min() > 1 - 1e-9  # the same features, up to sign
    np.testing.assert_allclose(np.linalg.norm(long, axis=0), np.linalg.norm(general, axis=0), rtol=1e-5)


@pytest.mark.parametrize("items", [40, 200])  # the double-precision route and the long one
def test_slow_features_of_a_sequence_that_never_changes_are_finite(items: int) -> None:
    for x in (np.zeros((items, 64)), np.ones((items, 64))):
        assert np.isfinite(slow_features(x, [(0, items // 2), (items // 2, items)], dims=4)).all()


def test_scenes_are_found_under_event_noise() -> None:
    x, truth = _event_noise_sequence(2)
    slow = _scene_f1(x, truth, HierarchyConfig(drive_attribute=""))
    raw = _scene_f1(x, truth, HierarchyConfig(drive_attribute="", scene_dims=0, scene_penalty=2.0))
    assert slow >= 0.9
    assert slow > raw + 0.2  # squared distance on the raw vectors drowns in the event noise


def _split_by_hand(vectors: np.ndarray, count: int, weights: np.ndarray) -> list[int]:
    """The definition: repeatedly split the run whose best single cut lowers the
    weighted within-run deviation most, at that cut."""

    def cost(a: int, b: int) -> float:
        x, w = vectors[a:b].astype(np.float64), weights[a:b]
        mean = (x * w[:, None]).sum(axis=0) / w.sum()
        return float((w[:, None] * (x - mean) ** 2).sum())

    runs = [(0, len(vectors))]
    while len(runs) < min(count, len(vectors)):
        options = []
        for i, (a, b) in enumerate(runs):
            for m in range(a + 1, b):
                options.append((cost(a, m) + cost(m, b) - cost(a, b), i, m))
        _, i, m = min(options, key=lambda o: (o[0], o[1], o[2]))
        a, b = runs.pop(i)
        runs[i:i] = [(a, m), (m, b)]
    return [a for a, _ in runs[1:]]


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 40), st.integers(1, 4), st.integers(0, 10_000))
def test_split_in_makes_the_best_cuts(n: int, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 3)) + np.repeat(rng.normal(size=(3, 3)) * 3, [n // 3, n // 3, n - 2 * (n // 3)], 0)
    weights = rng.integers(1, 5, size=n).astype(np.float64)
    assert split_in(vectors, count, weights) == _split_by_hand(vectors, count, weights)


def _run_cost(x: np.ndarray, w: np.ndarray, a: int, b: int) -> float:
    mean = (x[a:b] * w[a:b, None]).sum(axis=0) / w[a:b].sum()
    return float((w[a:b, None] * (x[a:b] - mean) ** 2).sum())


def _objective(x: np.ndarray, w: np.ndarray, cuts: list[int], pen: np.ndarray) -> float:
    edges = [0, *cuts, len(x)]
    return sum(_run_cost(x, w, a, b) for a, b in zip(edges, edges[1:], strict=False)) + sum(pen[c] for c in cuts)


def _best_by_hand(
    x: np.ndarray, w: np.ndarray, pen: np.ndarray, min_run: int, max_run: int, forced: np.ndarray
) -> float:
    """The optimum of the penalised partition, by the textbook dynamic programme: runs of
    ``min_run`` to ``max_run`` items, but for a whole stretch between forced boundaries
    (or the ends) shorter than that, and in a stretch no such runs cut exactly, where a
    short run may end anywhere."""
    n = len(x)
    barrier = np.maximum.accumulate(np.where(forced, np.arange(n), 0))
    edges = [0, *[i for i in range(1, n) if forced[i]], n]
    free = set()  # ends inside a stretch that cannot be cut within the bounds
    for a, b in zip(edges, edges[1:], strict=False):
        one_short = b - a < min_run and b - a <= max_run
        if not one_short and not any(k * min_run <= b - a <= k * max_run for k in range(1, b - a + 1)):
            free.update(range(a + 1, b))
    best = [0.0] + [np.inf] * n
    for end in range(1, n + 1):
        lo = max(0, end - max_run, int(barrier[end - 1]))
        short = [lo] if end in edges or end in free else []
        for start in range(lo, end - min_run + 1) if end - min_run >= lo else short:
            price = best[start] + _run_cost(x, w, start, end) + (pen[start] if start else 0.0)
            best[end] = min(best[end], price)
    return best[n]


def _runs(cuts: list[int], n: int) -> list[int]:
    edges = [0, *cuts, n]
    return [b - a for a, b in zip(edges, edges[1:], strict=False)]


def test_no_run_is_shorter_than_the_minimum_where_there_is_room() -> None:
    # A change two items in, and a boundary forced one item before a change: the short
    # runs ([0, 2) and [23, 24)) were taken though longer ones fit (scene_min_ms unmet).
    rng = np.random.default_rng(0)
    x = np.repeat(rng.normal(size=(2, 8)) * 4, [2, 46], axis=0) + 0.05 * rng.normal(size=(48, 8))
    assert min(_runs(partition(x, 1.0, min_run=4), 48)) >= 4
    y = np.repeat(rng.normal(size=(2, 8)) * 4, [24, 24], axis=0) + 0.05 * rng.normal(size=(48, 8))
    forced = np.zeros(48, bool)
    forced[23] = True
    cuts = partition(y, 1.0, min_run=4, forced=forced)
    assert 23 in cuts and min(_runs(cuts, 48)) >= 4
    forced[25] = True  # two items between forced boundaries: that run may be short, no other
    cuts = partition(y, 1.0, min_run=4, forced=forced)
    assert {23, 25} <= set(cuts) and sorted(_runs(cuts, 48))[1] >= 4
    # Runs of 6 to 7 items cannot cut the 23 before the forced boundary (3 x 7 < 23 < 4 x 6):
    # short runs may end anywhere there, and only there.
    only = np.zeros(48, bool)
    only[23] = True
    runs = _runs(partition(y, 1.0, min_run=6, max_run=7, forced=only), 48)
    after = runs[[sum(runs[: i + 1]) for i in range(len(runs))].index(23) + 1 :]
    assert sum(after) == 25 and min(after) >= 6  # the 25 after it: runs of 6 or 7 (6+6+6+7)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(2, 40), st.integers(1, 4), st.integers(2, 40), st.integers(0, 10_000), st.sampled_from([1, 7, 1 << 22])
)
def test_partition_finds_the_optimum_in_any_block_size(
    n: int, min_run: int, max_run: int, seed: int, block: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) + np.repeat(rng.normal(size=(3, 3)) * 3, [n // 3, n // 3, n - 2 * (n // 3)], 0)
    w = rng.integers(1, 5, size=n).astype(np.float64)
    bonus = rng.uniform(0, 1, size=n) * (rng.uniform(size=n) < 0.2)
    forced = rng.uniform(size=n) < 0.1
    forced[0] = False
    pen = 4.0 - bonus
    segmentation.BLOCK_CELLS, kept = block, segmentation.BLOCK_CELLS  # blocks of one row, a few, or all
    try:
        cuts = partition(x, 4.0, min_run, max_run, weights=w, bonus=bonus, forced=forced)
    finally:
        segmentation.BLOCK_CELLS = kept
    assert set(np.flatnonzero(forced).tolist()) <= set(cuts)
    optimum = _best_by_hand(x, w, pen, min(min_run, n), min(max_run, n), forced)
    assert _objective(x, w, cuts, pen) == pytest.approx(optimum, rel=1e-9, abs=1e-9)


def _still_video(vectors: np.ndarray) -> VideoSegments:
    """One-second segments carrying ``vectors``, in one half (a period attribute)."""
    n = len(vectors)
    starts = np.arange(n, dtype=np.int64) * 1000
    labels: list[list[str]] = [[] for _ in range(n)]
    return VideoSegments(
        starts, starts + 1000, vectors.astype(np.float32), [{"period": 1}] * n, labels, [f"s{i}" for i in range(n)],
        np.zeros(n, bool),
    )  # fmt: skip


def _scene_lengths(segs: VideoSegments) -> list[int]:
    config = HierarchyConfig(drive_attribute="", half_attribute="period")
    return [b - a for a, b in (s.segment_range for s in build(segs, config).levels[Level.SCENE])]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_video_of_one_vector_throughout_is_one_scene(seed: int) -> None:
    # A still shot, a slate, a caption repeated over every segment: nothing changes, so
    # nothing is cut; rounding in the prefix sums once cut such videos at random.
    vector = np.random.default_rng(seed).normal(size=64)
    assert _scene_lengths(_still_video(np.tile(vector, (120, 1)))) == [120]


def test_a_long_still_stretch_does_not_cut_the_scenes_around_it_to_the_shortest_run() -> None:
    # Six planted 30-s scenes with a 200-s still stretch in the middle: more than half the
    # steps are still, and the penalty once fell to its floor (44 scenes, most of 4 s).
    # The varying stretches' own noise sets it now. (The slow features still fit some of
    # that noise: the outer two planted scenes come out in pieces of 7 s or more.)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 64))
    varying = centres[np.arange(180) // 30] + rng.normal(size=(180, 64)) * 0.8
    still = np.tile(rng.normal(size=64), (200, 1))
    lengths = _scene_lengths(_still_video(np.vstack([varying[:90], still, varying[90:]])))
    assert len(lengths) <= 12 and min(lengths) >= 7, lengths
    assert lengths.count(30) >= 4, lengths  # the planted scenes beside the still stretch, whole


def _full_programme(
    cost: segmentation.PrefixCost, pen: np.ndarray, lo: np.ndarray, hi: np.ndarray, *_: object
) -> np.ndarray | None:
    """The dynamic programme with no start ever dropped, as ``partition`` ran it before:
    every start from ``lo`` to ``hi`` priced at every end (``PrefixCost.cost`` prices a
    run to the bit as the programme does), the earliest of equal totals taken."""
    n = len(lo)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, np.int64)
    for end in range(1, n + 1):
        a, b = int(lo[end - 1]), int(hi[end - 1])
        if b >= a:
            total = best[a : b + 1] + cost.cost(np.arange(a, b + 1), end) + pen[a : b + 1]
            k = int(np.argmin(total))
            best[end], back[end] = total[k], a + k
    return back if np.isfinite(best[n]) else None


def _partition_in_full(*args: Any, **kwargs: Any) -> list[int]:
    """``partition`` by the full programme (no fixture: hypothesis runs it many times)."""
    kept, segmentation._optimum = segmentation._optimum, _full_programme
    try:
        return partition(*args, **kwargs)
    finally:
        segmentation._optimum = kept


def _vectors(rng: np.random.Generator, kind: str, n: int, dim: int) -> np.ndarray:
    cuts = np.sort(rng.integers(0, n, size=int(rng.integers(0, 6))))
    lengths = np.diff(np.r_[0, cuts, n])
    if kind == "runs":  # planted runs under noise
        return np.repeat(rng.normal(size=(len(lengths), dim)) * 3, lengths, axis=0) + rng.normal(size=(n, dim))
    if kind == "levels":  # small integers: every sum exact, so equal totals are equal to the bit
        return rng.integers(0, 3, size=(n, dim)).astype(np.float64)
    if kind == "still":  # one vector again and again in each run: ties everywhere
        return np.repeat(rng.integers(-2, 3, size=(len(lengths), dim)).astype(np.float64), lengths, axis=0)
    offset = 1e4 * rng.normal(size=dim)  # far from 0, where the prefix sums round
    if kind == "rounded":  # still runs cost rounding noise, not 0: exact ties differ in their last bits
        return np.repeat(rng.normal(size=(len(lengths), dim)), lengths, axis=0) + offset
    return rng.normal(size=(n, dim)) + offset


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(2, 120),
    dim=st.integers(1, 4),
    kind=st.sampled_from(["runs", "levels", "still", "rounded", "offset"]),
    min_run=st.integers(1, 12),
    max_run=st.one_of(st.none(), st.integers(1, 60)),
    penalty=st.sampled_from([0.0, 0.1, 1.0, 2.0, 3.0, 8.0, 2.5]),
    weighting=st.sampled_from(["none", "integers", "reals"]),
    cut_share=st.sampled_from([0.0, 0.05, 0.2]),
    block=st.sampled_from([(1, 1, 1), (5, 1 << 22, 7), (24, 200, 100), (24, 1 << 22, 1 << 18)]),
    seed=st.integers(0, 10_000),
)
def test_dropping_starts_keeps_every_boundary_of_the_full_programme(
    n: int,
    dim: int,
    kind: str,
    min_run: int,
    max_run: int | None,
    penalty: float,
    weighting: str,
    cut_share: float,
    block: tuple[int, int, int],
    seed: int,
) -> None:
    # Starts are dropped once a later one is sure to beat them (PELT): the boundaries,
    # ties between equal totals included, must be those of the programme that keeps them.
    rng = np.random.default_rng(seed)
    x = _vectors(rng, kind, n, dim)
    weights = {"none": None, "integers": rng.integers(1, 4, size=n).astype(np.float64)}.get(
        weighting, rng.uniform(0.2, 3.0, size=n)
    )
    bonus = rng.integers(0, 3, size=n) * (rng.uniform(size=n) < cut_share)  # whole numbers keep ties exact
    forced = rng.uniform(size=n) < cut_share / 2
    args = (x, penalty, min_run, max_run, weights, bonus, forced)
    kept = segmentation.BLOCK_ENDS, segmentation.BLOCK_CELLS, segmentation.PAIRS_CHUNK
    # One run priced at a time, a few, the usual.
    segmentation.BLOCK_ENDS, segmentation.BLOCK_CELLS, segmentation.PAIRS_CHUNK = block
    try:
        cuts = partition(*args)
    finally:
        segmentation.BLOCK_ENDS, segmentation.BLOCK_CELLS, segmentation.PAIRS_CHUNK = kept
    assert cuts == _partition_in_full(*args)


def test_starts_are_dropped_where_the_sequence_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    # 3,000 items in 300-item runs, with runs of up to 3,000: the programme prices a small
    # share of the 3,000 x 3,000 runs the full one does, and finds the same boundaries.
    rng = np.random.default_rng(0)
    x = np.repeat(rng.normal(size=(10, 8)) * 2, 300, axis=0) + rng.normal(size=(3000, 8))
    priced = []
    pairs = segmentation.PrefixCost.pairs

    def counted(self: segmentation.PrefixCost, ends: np.ndarray, starts: np.ndarray) -> np.ndarray:
        priced.append(len(ends) * len(starts))
        return pairs(self, ends, starts)

    monkeypatch.setattr(segmentation.PrefixCost, "pairs", counted)
    cuts = partition(x, 28.0, min_run=100, max_run=3000)
    assert cuts == list(range(300, 3000, 300)) == _partition_in_full(x, 28.0, min_run=100, max_run=3000)
    assert sum(priced) < 3000 * 3000 / 10
