"""Two sides found in scene embeddings: possessions alternating between two sides are read
as drives; alternating phases, minorities, drifts and noise are not sides."""

from __future__ import annotations

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


def two_sided_video(seed: int, scenes: int = 120, per_scene: int = 5) -> tuple[VideoSegments, np.ndarray]:
    """Segments of 2 s whose scenes hold a phase, a side and their own detail; no attributes.
    Returns the segments and the side of each scene."""
    rng = np.random.default_rng(seed)
    truth = possession_runs(rng, scenes)
    means = scene_means(rng, truth) + rng.normal(size=(scenes, DIM)) * 0.5  # each scene its own
    vectors = np.repeat(means, per_scene, axis=0) + rng.normal(size=(scenes * per_scene, DIM)) * 0.3
    n = len(vectors)
    starts = np.arange(n, dtype=np.int64) * 2000
    segs = VideoSegments(
        starts=starts,
        ends=starts + 2000,
        vectors=vectors.astype(np.float32),
        attributes=[{} for _ in range(n)],
        labels=[[] for _ in range(n)],
        texts=["" for _ in range(n)],
        shot_cuts=np.zeros(n, bool),
    )
    return segs, truth


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
