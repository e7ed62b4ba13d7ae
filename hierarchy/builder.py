"""Build a video's tree from its ordered segments: halves, scenes, drives, the root.

Order of work: halves first (client cut times, else a period attribute on every segment,
else in a long video the largest gap, or a change-point split into a configured count),
then, inside each half, scenes
by penalised optimal partition of the segment embeddings, then drives as runs of scenes
(where a possession-like attribute changes; without one, where the side in possession
changes when the video reads as two-sided, ``hierarchy.sides``, and scenes are then
detected again to end there too; else by partitioning scene embeddings). Client cut
times override detection at every level.

Scenes and drives are found in the video's slow features (``scene_dims`` directions
that change slowly along the video, with per-segment noise whitened; see
``hierarchy.segmentation.slow_features``), not in the raw embeddings: one segment's
embedding carries mostly its own event, and the change between scenes lives in a few
directions that the raw squared distance drowns in noise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hierarchy import sides
from hierarchy.aggregate import get_aggregator, unit_length
from hierarchy.segmentation import noise_level, partition, slow_features, split_in
from hierarchy.types import Level

SIDE_DIMS = 32  # slow directions side detection reads when scenes use the raw vectors
SIDE_WIDENING = 1.5  # side detection also reads a space this much wider than the scenes'
HALF_GAP_RATIO = 2  # gaps within this factor of the largest are alike to it
HALF_GAPS_ALIKE = 2  # at most this many alike gaps (the largest among them): it is half-time


@dataclass(frozen=True)
class HierarchyConfig:
    """Parameters of the tree builder (stored per collection)."""

    scene_penalty: float = 3.5  # boundary cost, in units of the sequence's noise level
    scene_min_ms: int = 4_000
    scene_max_ms: int = 180_000
    scene_dims: int = 32  # slow directions scenes and drives are found in (0: the raw vectors)
    scene_ridge: float = 0.1  # shrinkage of the per-segment noise covariance
    drive_attribute: str = "team"
    drive_penalty: float = 1.5  # in units of the step noise between consecutive scenes
    drive_max_scenes: int = 12
    drive_side_separation: float = 1.5  # two sides found without the attribute (hierarchy.sides); 0: off
    half_attribute: str = "period"
    half_count: int = 2
    half_min_gap_ms: int = 120_000
    half_min_video_ms: int = 20 * 60_000
    aggregator: str = "mean"


@dataclass
class VideoSegments:
    """A video's segments in time order, column-wise."""

    starts: np.ndarray
    ends: np.ndarray
    vectors: np.ndarray
    attributes: list[dict[str, Any]]
    labels: list[list[str]]
    texts: list[str]
    shot_cuts: np.ndarray


@dataclass
class BuiltNode:
    """A parent node: its span, its children (a range at the level below), its aggregates."""

    level: Level
    start_ms: int
    end_ms: int
    first_child: int
    last_child: int  # exclusive
    segment_range: tuple[int, int]
    vector: np.ndarray
    label_counts: dict[str, int] = field(default_factory=dict)
    text: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Tree:
    """Built levels, bottom-up; children of level L are indices into level L-1."""

    levels: dict[Level, list[BuiltNode]]


def build(
    segs: VideoSegments, config: HierarchyConfig, hints: dict[Level, list[int]] | None = None, unit: bool = True
) -> Tree:
    """Build the tree of one video (every level has at least one node). ``unit``: parent
    vectors are scaled to unit length (a cosine collection's; see ``hierarchy.aggregate``)."""
    hints = hints or {}
    half_cuts = _half_cuts(segs, config, hints.get(Level.HALF, []))
    half_runs = _runs(half_cuts, len(segs.starts))
    features, spaces = _slow_spaces(segs, half_runs, config)
    # A drive hint cuts scenes too (as a half hint does): drives are made of scenes, and a
    # hint inside a detected scene was moved to its end, or dropped, without a word.
    scene_hints = (hints.get(Level.SCENE, []), hints.get(Level.DRIVE, []))
    by_half = _scenes_by_half(segs, features, half_runs, config, scene_hints)
    scene_runs = [scene for scenes in by_half for scene in scenes]
    segment_sides = _segment_sides(segs, spaces, scene_runs, config, hints.get(Level.DRIVE, []))
    states = None
    if segment_sides is not None:
        # Scenes end where the side changes, as they do where a possession attribute changes.
        by_half = _scenes_by_half(segs, features, half_runs, config, scene_hints, segment_sides)
        scene_runs = [scene for scenes in by_half for scene in scenes]
        states = np.array([np.bincount(segment_sides[a:b], minlength=2).argmax() for a, b in scene_runs])
    drive_groups: list[tuple[int, int]] = []  # scene index ranges
    half_groups: list[tuple[int, int]] = []  # drive index ranges
    base = 0
    for scenes in by_half:
        half_states = None if states is None else states[base : base + len(scenes)]
        drives = _drive_groups(segs, features, scenes, config, hints.get(Level.DRIVE, []), half_states)
        first_drive = len(drive_groups)
        drive_groups.extend((base + s, base + e) for s, e in drives)
        half_groups.append((first_drive, len(drive_groups)))
        base += len(scenes)
    return _assemble(segs, config, scene_runs, drive_groups, half_groups, unit)


def _runs(cuts: list[int], n: int) -> list[tuple[int, int]]:
    edges = [0, *sorted(set(c for c in cuts if 0 < c < n)), n]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _cuts_at_times(starts: np.ndarray, times: list[int], lo: int = 0, hi: int | None = None) -> list[int]:
    """Indices (relative to ``lo``) of the first segment starting at or after each time."""
    hi = len(starts) if hi is None else hi
    idx = np.searchsorted(starts[lo:hi], np.asarray(times, np.int64), side="left")
    return sorted({int(i) for i in idx if 0 < i < hi - lo})


def _half_cuts(segs: VideoSegments, config: HierarchyConfig, hint_times: list[int]) -> list[int]:
    if hint_times:
        return _cuts_at_times(segs.starts, hint_times)
    periods = [a.get(config.half_attribute) for a in segs.attributes]
    if config.half_attribute and all(p is not None for p in periods):
        return [i for i in range(1, len(periods)) if periods[i] != periods[i - 1]]
    n = len(segs.starts)
    if n < 2 or segs.ends[-1] - segs.starts[0] < config.half_min_video_ms:
        return []
    gaps = segs.starts[1:] - segs.ends[:-1]
    k = int(np.argmax(gaps))
    # Half-time is the largest gap, unless gaps like it are the video's rhythm: a video
    # sampled sparsely (a 5-second clip every 5 minutes) has many equal gaps, and the
    # first of them made a first half of one clip. One other long break (a stoppage, a
    # feed lost for a while) leaves it half-time.
    alike = int(np.count_nonzero(gaps * HALF_GAP_RATIO >= gaps[k]))
    if gaps[k] >= config.half_min_gap_ms and alike <= HALF_GAPS_ALIKE:
        return [k + 1]
    return split_in(segs.vectors, config.half_count, segs.ends - segs.starts)


def _slow_spaces(
    segs: VideoSegments, half_runs: list[tuple[int, int]], config: HierarchyConfig
) -> tuple[np.ndarray, list[np.ndarray]]:
    """The segments in the video's slow directions (steps across halves excluded): the
    ``scene_dims`` that scenes and drives are found in (the raw vectors with 0), and the
    spaces that side detection reads: those directions and a wider set."""
    vectors = np.asarray(segs.vectors, np.float64)
    if len(vectors) < 3:
        return vectors, [vectors]
    dims = config.scene_dims if config.scene_dims > 0 else SIDE_DIMS
    wide = vectors @ slow_features(vectors, half_runs, round(dims * SIDE_WIDENING), config.scene_ridge)
    narrow = wide[:, :dims]  # the slowest directions come first
    return (narrow if config.scene_dims > 0 else vectors), [narrow, wide]


def _scenes_by_half(
    segs: VideoSegments,
    features: np.ndarray,
    half_runs: list[tuple[int, int]],
    config: HierarchyConfig,
    hint_times: tuple[list[int], list[int]],
    segment_sides: np.ndarray | None = None,
) -> list[list[tuple[int, int]]]:
    """The scenes of each half, as segment index ranges of the video; ``hint_times``: the
    scene hints (the scenes themselves) and the drive hints (cuts scenes must have)."""
    return [
        [(a + s, a + e) for s, e in _scene_runs(segs, features, a, b, config, hint_times, segment_sides)]
        for a, b in half_runs
    ]


def _scene_runs(
    segs: VideoSegments,
    features: np.ndarray,
    a: int,
    b: int,
    config: HierarchyConfig,
    hint_times: tuple[list[int], list[int]],
    segment_sides: np.ndarray | None,
) -> list[tuple[int, int]]:
    n = b - a
    scene_hints, drive_hints = hint_times
    if scene_hints:
        return _runs(_cuts_at_times(segs.starts, [*scene_hints, *drive_hints], a, b), n)
    durations = segs.ends[a:b] - segs.starts[a:b]
    typical = max(float(np.median(durations)), 1.0)
    vectors = features[a:b]
    penalty = config.scene_penalty * noise_level(vectors)
    forced = _attribute_changes(segs.attributes[a:b], config.drive_attribute)
    if segment_sides is not None:
        forced = _value_changes(list(segment_sides[a:b]))
    if hinted := _cuts_at_times(segs.starts, drive_hints, a, b):
        forced = np.zeros(n, bool) if forced is None else forced.copy()
        forced[hinted] = True
    bonus = np.asarray(segs.shot_cuts[a:b], np.float64) * penalty * 0.5
    cuts = partition(
        vectors,
        penalty,
        min_run=max(1, round(config.scene_min_ms / typical)),
        max_run=max(1, round(config.scene_max_ms / typical)),
        bonus=bonus,
        forced=forced,
    )
    return _runs(cuts, n)


def _attribute_changes(attributes: list[dict[str, Any]], key: str) -> np.ndarray | None:
    return _value_changes([a.get(key) for a in attributes] if key else [])


def _value_changes(values: list[Any]) -> np.ndarray | None:
    """Where each value differs from the one before, or None when a value is missing."""
    if not values or any(v is None for v in values):
        return None
    return np.array([i > 0 and values[i] != values[i - 1] for i in range(len(values))])


def _drive_groups(
    segs: VideoSegments,
    features: np.ndarray,
    scenes: list[tuple[int, int]],
    config: HierarchyConfig,
    hint_times: list[int],
    side_states: np.ndarray | None,
) -> list[tuple[int, int]]:
    """Drives of one half: at hinted times, else where the drive attribute changes, else
    where the sides change hands, else by grouping similar neighbouring scenes."""
    scene_starts = np.array([segs.starts[a] for a, _ in scenes], np.int64)
    if hint_times:
        return _runs(_cuts_at_times(scene_starts, hint_times), len(scenes))
    values = _scene_values(segs, scenes, config.drive_attribute)
    if values is not None:
        return _runs([i for i in range(1, len(values)) if values[i] != values[i - 1]], len(scenes))
    if side_states is not None:
        return _runs(sides.changes(side_states), len(scenes))
    return _runs(_group_scenes(segs, features, scenes, config), len(scenes))


def _scene_values(segs: VideoSegments, scenes: list[tuple[int, int]], key: str) -> list[Any] | None:
    """The majority value of attribute ``key`` in each scene, or None when a segment lacks it."""
    values = [_majority([segs.attributes[i].get(key) for i in range(a, b)]) for a, b in scenes] if key else []
    return values if values and all(v is not None for v in values) else None


def _segment_sides(
    segs: VideoSegments,
    spaces: list[np.ndarray],
    scenes: list[tuple[int, int]],
    config: HierarchyConfig,
    hint_times: list[int],
) -> np.ndarray | None:
    """Which of two sides holds each segment of the video, when the drives are to be found
    from the embeddings and the video's scenes read as two-sided (``hierarchy.sides``)."""
    if hint_times or config.drive_side_separation <= 0 or _scene_values(segs, scenes, config.drive_attribute):
        return None
    weights = _relative_durations(segs, scenes)
    means = [np.stack([space[a:b].mean(axis=0) for a, b in scenes]) for space in spaces]
    found = sides.find_sides(means, weights, config.drive_side_separation)
    if found is None:
        return None
    return sides.segment_states(spaces[found.space] @ found.axis, scenes, found.states)


def _relative_durations(segs: VideoSegments, scenes: list[tuple[int, int]]) -> np.ndarray:
    weights = np.array([segs.ends[b - 1] - segs.starts[a] for a, b in scenes], np.float64)
    return weights / max(float(weights.mean()), 1e-9)


def _group_scenes(
    segs: VideoSegments, features: np.ndarray, scenes: list[tuple[int, int]], config: HierarchyConfig
) -> list[int]:
    """Drive boundaries from a contiguous partition of the scene means, duration-weighted."""
    means = np.stack([features[a:b].mean(axis=0) for a, b in scenes])
    # Relative durations: the cost stays in the units of the noise level the penalty uses.
    weights = _relative_durations(segs, scenes)
    penalty = config.drive_penalty * noise_level(means)
    return partition(means, penalty, max_run=config.drive_max_scenes, weights=weights)


def _majority(values: list[Any]) -> Any:
    if any(v is None for v in values):
        return None
    return Counter(map(repr, values)).most_common(1)[0][0]


def _assemble(
    segs: VideoSegments,
    config: HierarchyConfig,
    scene_runs: list[tuple[int, int]],
    drive_groups: list[tuple[int, int]],
    half_groups: list[tuple[int, int]],
    unit: bool,
) -> Tree:
    chosen = get_aggregator(config.aggregator)
    aggregate = (lambda vectors, weights: unit_length(chosen(vectors, weights))) if unit else chosen
    scenes = [_node(segs, Level.SCENE, a, b, (a, b), aggregate) for a, b in scene_runs]
    drives = [_parent(segs, Level.DRIVE, scenes, a, b, aggregate) for a, b in drive_groups]
    halves = [_parent(segs, Level.HALF, drives, a, b, aggregate) for a, b in half_groups]
    video = [_parent(segs, Level.VIDEO, halves, 0, len(halves), aggregate)]
    return Tree({Level.SCENE: scenes, Level.DRIVE: drives, Level.HALF: halves, Level.VIDEO: video})


def _node(segs: VideoSegments, level: Level, first: int, last: int, seg_range: tuple[int, int], aggregate) -> BuiltNode:
    """A scene: its segments' aggregate vector and label counts."""
    a, b = seg_range
    durations = (segs.ends[a:b] - segs.starts[a:b]).astype(np.float64)
    counts = Counter(label for labels in segs.labels[a:b] for label in labels)
    return _built(segs, level, first, last, seg_range, aggregate(segs.vectors[a:b], durations), dict(counts))


def _parent(segs: VideoSegments, level: Level, children: list[BuiltNode], a: int, b: int, aggregate) -> BuiltNode:
    """A node above the scenes, from its children ``a`` to ``b - 1``."""
    span = (children[a].segment_range[0], children[b - 1].segment_range[1])
    # A parent's vector aggregates its children (not its segments): each level is one step up.
    child_vectors = np.stack([c.vector for c in children[a:b]])
    weights = np.array([c.end_ms - c.start_ms for c in children[a:b]], np.float64)
    counts: Counter[str] = Counter()
    for child in children[a:b]:  # its children cover its segments, once each
        counts.update(child.label_counts)
    return _built(segs, level, a, b, span, aggregate(child_vectors, weights), dict(counts))


def _built(
    segs: VideoSegments,
    level: Level,
    first: int,
    last: int,
    seg_range: tuple[int, int],
    vector: np.ndarray,
    label_counts: dict[str, int],
) -> BuiltNode:
    a, b = seg_range
    return BuiltNode(
        level=level,
        start_ms=int(segs.starts[a]),
        end_ms=int(segs.ends[b - 1]),
        first_child=first,
        last_child=last,
        segment_range=seg_range,
        vector=vector,
        label_counts=label_counts,
        text=_summary(segs.texts[a:b]),
    )


def _summary(texts: list[str], limit: int = 600) -> str:
    """Distinct texts in order, joined and cut to ``limit`` characters."""
    seen: dict[str, None] = {}
    for text in texts:
        if text and text != "no description":
            seen.setdefault(text.strip(), None)
    joined = " ".join(seen)
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"
