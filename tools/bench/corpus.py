"""The benchmark corpus: match-shaped videos of 2-second segments with planted structure.

Every video is ``per_video`` segments (about 90 minutes at 2 s, the last video takes the
remainder) cut into two halves; each half into scenes of 5-18 segments, and scenes into
drives of 1-4 scenes. Vectors come from :func:`tools.soccer.random_vectors`: each level's
node is its parent's direction plus noise, so segments cluster around their scene's
centroid and the builder has real boundaries to find. One seed fixes everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tools.soccer import EVENTS, random_vectors

SEGMENT_MS = 2000
SCENE_SEGMENTS = (5, 18)
DRIVE_SCENES = (1, 4)


@dataclass(frozen=True)
class Corpus:
    """Segments in video order: vectors, times and labels, with the video boundaries."""

    vectors: np.ndarray  # (n, dim) float32, unit rows
    video_of: np.ndarray  # (n,) video ordinal of each segment
    start_ms: np.ndarray  # (n,) start time inside its video
    labels: np.ndarray  # (n,) index into tools.soccer.EVENTS
    video_ids: list[str]

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self.vectors.shape[1])

    def video_slices(self) -> Iterator[tuple[str, slice]]:
        """``(video_id, rows)`` of every video, in order."""
        bounds = np.flatnonzero(np.diff(self.video_of)) + 1
        starts = np.concatenate([[0], bounds])
        stops = np.concatenate([bounds, [len(self.video_of)]])
        for video_id, lo, hi in zip(self.video_ids, starts, stops, strict=True):
            yield video_id, slice(int(lo), int(hi))

    def segment_id(self, row: int) -> str:
        """The id the server gives segment ``row`` (``<video_id>@<start_ms>``)."""
        return f"{self.video_ids[self.video_of[row]]}@{int(self.start_ms[row])}"


def generate(segments: int, dim: int = 512, seed: int = 0, per_video: int = 2700) -> Corpus:
    """A deterministic corpus of ``segments`` segments of ``dim`` dimensions."""
    if segments < 1 or per_video < 2:
        raise ValueError("need at least one segment and at least two segments per video")
    rng = np.random.default_rng([seed, 6])
    sizes = _video_sizes(segments, per_video)
    parents, video_of, start_ms = _tree(rng, sizes)
    labels = rng.integers(0, len(EVENTS), segments, dtype=np.int64)
    vectors = random_vectors(parents, labels, dim=dim, seed=seed)
    video_ids = [f"bench-{seed}-{i:05d}" for i in range(len(sizes))]
    return Corpus(vectors, video_of, start_ms, labels, video_ids)


def queries(corpus: Corpus, count: int, seed: int = 0, noise: float = 0.7) -> np.ndarray:
    """``count`` unit query vectors near random segments (not copies of them)."""
    rng = np.random.default_rng([seed, 7])
    rows = rng.choice(len(corpus), size=min(count, len(corpus)), replace=False)
    # Gaussian noise of norm ~``noise``: a query looks like an unseen moment of the same scene.
    q = corpus.vectors[rows] + rng.standard_normal((len(rows), corpus.dimension), dtype=np.float32) * np.float32(
        noise / np.sqrt(corpus.dimension)
    )
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def _video_sizes(segments: int, per_video: int) -> list[int]:
    full, rest = divmod(segments, per_video)
    sizes = [per_video] * full
    if rest >= 2 or not sizes:
        sizes.append(rest)
    else:
        sizes[-1] += rest
    return sizes


def _tree(rng: np.random.Generator, sizes: list[int]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Parent arrays (video <- half <- drive <- scene <- segment) that never cross a half."""
    half_video, drive_half, scene_drive, segment_scene = [], [], [], []
    n_scenes = 0
    for video, size in enumerate(sizes):
        for half_len in (size // 2, size - size // 2):
            half = len(half_video)
            half_video.append(video)
            scenes = _runs(rng, half_len, *SCENE_SEGMENTS)
            drives = _runs(rng, int(scenes[-1]) + 1, *DRIVE_SCENES)
            segment_scene.append(scenes + n_scenes)
            scene_drive.append(drives + len(drive_half))
            n_scenes += int(scenes[-1]) + 1
            drive_half.extend([half] * (int(drives[-1]) + 1))
    parents = [
        np.asarray(half_video, np.int64),
        np.asarray(drive_half, np.int64),
        np.concatenate(scene_drive),
        np.concatenate(segment_scene),
    ]
    video_of = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    firsts = np.repeat(np.cumsum([0, *sizes[:-1]]), sizes)
    start_ms = (np.arange(len(video_of), dtype=np.int64) - firsts) * SEGMENT_MS
    return parents, video_of, start_ms


def _runs(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """Parent ordinal of ``n`` children cut into consecutive runs of ``lo``..``hi``."""
    sizes = rng.integers(lo, hi + 1, size=n // lo + 1)
    return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)[:n]
