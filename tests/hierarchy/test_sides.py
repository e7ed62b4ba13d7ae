"""Two sides found in scene embeddings: possessions alternating between two sides are read
as drives; alternating phases, minorities, drifts and noise are not sides."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hierarchy import builder, sides
from hierarchy.builder import HierarchyConfig, VideoSegments
from hierarchy.types import Level

DIM = 24


def possession_runs(rng: np.random.Generator, scenes: int) -> np.ndarray:
    """0/1 per scene: the side in possession, held for 1-4 scenes at a time."""
    states, side = [], 0
    while len(states) < scenes:
        states.extend([side] * int(rng.integers(1, 5)))
        side = 1 - side
    return np.array(states[:scenes])


def scene_means(rng: np.random.Generator, states: np.ndarray, side_gap: float = 3.0) -> np.ndarray:
    """Scene means: a phase direction that alternates scene by scene (stronger than the
    sides), the side direction, and noise in every direction."""
    n = len(states)
    axes = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0]
    phase = np.where(np.arange(n) % 2 == 0, -1.0, 1.0) * 3.0
    side = (states - 0.5) * side_gap
    return phase[:, None] * axes[0] + side[:, None] * axes[1] + rng.normal(size=(n, DIM)) * 0.5


def agreement(found: np.ndarray, truth: np.ndarray) -> float:
    same = float(np.mean(found == truth))
    return max(same, 1 - same)  # which side is called 0 is arbitrary


@pytest.mark.parametrize("seed", range(5))
def test_two_sides_are_found_under_a_stronger_alternating_phase(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = possession_runs(rng, 200)
    found = sides.find_sides([scene_means(rng, truth)], np.ones(200), min_separation=1.5)
    assert found is not None
    assert agreement(found.states, truth) >= 0.95
    assert 0.5 <= found.persistence <= 0.8


def test_a_video_without_sides_has_none() -> None:
    rng = np.random.default_rng(0)
    n = 200
    noise = rng.normal(size=(n, DIM))
    drift = np.linspace(-3, 3, n)[:, None] * np.eye(DIM)[0] + noise * 0.5
    minority = (rng.random(n) < 0.15)[:, None] * 4.0 * np.eye(DIM)[1] + noise * 0.5
    alternating = scene_means(rng, np.zeros(n, np.int64), side_gap=0.0)
    for means in (noise, drift, minority, alternating):
        assert sides.find_sides([means], np.ones(n), min_separation=1.5) is None


def test_too_few_scenes_say_nothing() -> None:
    rng = np.random.default_rng(1)
    truth = possession_runs(rng, sides.MIN_SCENES - 1)
    assert sides.find_sides([scene_means(rng, truth)], np.ones(len(truth)), 1.5) is None


def test_the_best_space_wins() -> None:
    rng = np.random.default_rng(2)
    truth = possession_runs(rng, 150)
    with_sides = scene_means(rng, truth)
    found = sides.find_sides([rng.normal(size=(150, DIM)), with_sides], np.ones(150), 1.5)
    assert found is not None and agreement(found.states, truth) >= 0.95


def test_changes_are_where_the_state_flips() -> None:
    assert sides.changes(np.array([0, 0, 1, 1, 1, 0, 1])) == [2, 5, 6]


def two_second_segments(vectors: np.ndarray) -> VideoSegments:
    """One 2-s segment per row of ``vectors``, with no attributes, labels or texts."""
    n = len(vectors)
    starts = np.arange(n, dtype=np.int64) * 2000
    return VideoSegments(
        starts=starts,
        ends=starts + 2000,
        vectors=vectors.astype(np.float32),
        attributes=[{} for _ in range(n)],
        labels=[[] for _ in range(n)],
        texts=["" for _ in range(n)],
        shot_cuts=np.zeros(n, bool),
    )


def two_sided_video(seed: int, scenes: int = 120, per_scene: int = 5) -> tuple[VideoSegments, np.ndarray]:
    """Segments of 2 s whose scenes hold a phase, a side and their own detail; no attributes.
    Returns the segments and the side of each scene."""
    rng = np.random.default_rng(seed)
    truth = possession_runs(rng, scenes)
    means = scene_means(rng, truth) + rng.normal(size=(scenes, DIM)) * 0.5  # each scene its own
    vectors = np.repeat(means, per_scene, axis=0) + rng.normal(size=(scenes * per_scene, DIM)) * 0.3
    return two_second_segments(vectors), truth


def drive_starts(tree: builder.Tree) -> list[int]:
    return [d.start_ms for d in tree.levels[Level.DRIVE]]


def f1(found: set[int], truth: set[int]) -> float:
    hits = len(found & truth)
    return 2 * hits / (len(found) + len(truth))


def test_the_builder_ends_drives_where_the_sides_change_hands() -> None:
    segs, truth = two_sided_video(seed=3)
    config = HierarchyConfig(half_attribute="", half_min_video_ms=10**9, scene_dims=8, scene_min_ms=6_000)
    tree = builder.build(segs, config)
    scene_starts = [s.start_ms for s in tree.levels[Level.SCENE]]
    assert len(scene_starts) == len(truth)  # the scenes are clear; the drives are the question
    true_starts = {scene_starts[0]} | {scene_starts[i] for i in sides.changes(truth)}
    with_sides = f1(set(drive_starts(tree)), true_starts)
    grouped = builder.build(segs, HierarchyConfig(**{**config.__dict__, "drive_side_separation": 0.0}))
    without = f1(set(drive_starts(grouped)), true_starts)  # switched off: drives come from grouping
    assert with_sides >= 0.75 and with_sides >= without + 0.2, (with_sides, without)


def test_a_drive_attribute_or_hints_take_precedence_over_sides() -> None:
    segs, truth = two_sided_video(seed=4)
    config = HierarchyConfig(half_attribute="", half_min_video_ms=10**9, scene_dims=8, scene_min_ms=6_000)
    cuts = [60_000, 300_000]
    hinted = builder.build(segs, config, {Level.DRIVE: cuts})
    assert drive_starts(hinted) == [0, *cuts]
    for i, attrs in enumerate(segs.attributes):
        attrs["team"] = "home" if i < 300 else "away"
    assert drive_starts(builder.build(segs, config)) == [0, 600_000]


def test_segments_show_a_change_of_side_inside_a_scene() -> None:
    rng = np.random.default_rng(5)
    scenes = [(i * 10, (i + 1) * 10) for i in range(30)]
    scene_states = possession_runs(rng, 30)
    truth = np.repeat(scene_states, 10)
    merged = [4, 11, 23]  # scenes that straddle a change of possession: their second halves
    for i in merged:
        truth[i * 10 + 5 : (i + 1) * 10] = 1 - scene_states[i]
    values = truth * 2.0 + rng.normal(size=len(truth))  # two standard deviations apart
    found = sides.segment_states(values, scenes, scene_states)
    assert np.mean(found == truth) >= 0.97
    changes = set(sides.changes(found))
    assert {i * 10 + 5 for i in merged} <= changes
    # No other change inside a scene: one noisy segment is not a change of side.
    inside = {c for c in changes if c % 10 != 0}
    assert inside == {i * 10 + 5 for i in merged}


def test_one_side_throughout_needs_no_decoding() -> None:
    values = np.random.default_rng(6).normal(size=40)
    found = sides.segment_states(values, [(0, 20), (20, 40)], np.array([1, 1]))
    assert found.tolist() == [1] * 40


def video_with_changes_inside_scenes(seed: int, per_scene: int = 6) -> tuple[VideoSegments, np.ndarray, set[int]]:
    """Like ``two_sided_video``, with a weaker side and noisier segments, and in every
    fifth scene the other side takes over halfway through: nothing but the side marks
    that point. Returns the segments, the side of each segment and those points (ms)."""
    rng = np.random.default_rng(seed)
    scenes = 120
    truth = possession_runs(rng, scenes)
    axes = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0]
    phase = np.where(np.arange(scenes) % 2 == 0, -1.0, 1.0) * 3.0
    means = phase[:, None] * axes[0] + rng.normal(size=(scenes, DIM)) * 0.5
    side = np.repeat(truth, per_scene).astype(np.float64)
    inside = list(range(2, scenes, 5))
    for i in inside:
        side[i * per_scene + per_scene // 2 : (i + 1) * per_scene] = 1 - truth[i]
    n = scenes * per_scene
    vectors = np.repeat(means, per_scene, axis=0) + (side - 0.5)[:, None] * 2.5 * axes[1]
    vectors += rng.normal(size=(n, DIM)) * 0.7
    segs = two_second_segments(vectors)
    return segs, side, {int(segs.starts[i * per_scene + per_scene // 2]) for i in inside}


@pytest.mark.parametrize("seed", [0, 3])
def test_scenes_end_where_the_side_changes(seed: int) -> None:
    segs, side, points = video_with_changes_inside_scenes(seed)
    config = HierarchyConfig(half_attribute="", half_min_video_ms=10**9, scene_dims=8, scene_min_ms=6_000)
    tree = builder.build(segs, config)
    plain = builder.build(segs, HierarchyConfig(**{**config.__dict__, "drive_side_separation": 0.0}))
    scene_cuts = {s.start_ms for s in plain.levels[Level.SCENE]}  # what scene detection alone finds
    found = points & set(drive_starts(tree))
    assert len(found) >= len(points & scene_cuts) + 4, (len(found), len(points & scene_cuts))
    true_starts = {0} | {int(segs.starts[i]) for i in sides.changes(side)}
    assert f1(set(drive_starts(tree)), true_starts) >= 0.7


def _path_score(loglik: np.ndarray, switch: np.ndarray, path: tuple[int, ...]) -> float:
    """Log-probability of a state path (up to a constant) under the two-state model."""
    moves = [np.log(switch[i]) if path[i] != path[i - 1] else np.log1p(-switch[i]) for i in range(1, len(path))]
    return float(sum(moves) + sum(loglik[i, state] for i, state in enumerate(path)))


def test_the_two_state_path_is_the_most_likely_of_all_paths() -> None:
    rng = np.random.default_rng(8)
    for n in range(1, 10):
        for _ in range(20):
            loglik, switch = rng.normal(size=(n, 2)) * 3, rng.uniform(0.01, 0.6, size=n)
            best = max(_path_score(loglik, switch, p) for p in itertools.product((0, 1), repeat=n))
            found = tuple(sides._viterbi(loglik, switch).tolist())
            assert _path_score(loglik, switch, found) == pytest.approx(best, abs=1e-9)


def test_two_tight_groups_with_one_value_apart_are_two_sides() -> None:
    # EM fits two means at 0 and 1 with a variance the one value at 0.05 sets; at that
    # value the likelihood of both states underflowed to zero, its log was -inf, and so
    # was the gain: two plain groups of 1,500 were rejected as sides for one value.
    values = np.array([0.0] * 1500 + [1.0] * 1499 + [0.05])
    path, separation, gain = sides.two_state_path(values)
    assert np.isfinite(gain) and gain >= sides.MIN_GAIN and separation > 2
    assert set(path[:1500]) == {0} and set(path[1500:2999]) == {1}
    # Where nothing underflows the gain is the mixture's log-likelihood as before.
    loose = np.array([0.0, 0.1, 0.9, 1.0])
    _, _, before = sides.two_state_path(loose, fit=(np.array([0.0, 1.0]), 0.1))
    mixture = np.log(0.5 * (np.exp(-0.5 * loose**2 / 0.1) + np.exp(-0.5 * (loose - 1) ** 2 / 0.1))).sum()
    one = -0.5 * np.sum((loose - loose.mean()) ** 2) / loose.var() - 2 * np.log(loose.var())
    assert before == pytest.approx(mixture - 2 * np.log(0.1) - one)
