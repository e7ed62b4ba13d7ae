"""Segmentation metrics: boundary precision/recall/F1 at a tolerance, Pk, WindowDiff.

A segmentation of one video is its ordered spans ``(start_ms, end_ms)``; its boundaries
are the start times of every span but the first. Spans may leave gaps (a half-time
break holds no segments).

- Boundary P/R/F1: a predicted boundary matches a true one within ``±tolerance`` ms,
  one-to-one (each true and each predicted boundary is used at most once; the matching
  has maximum size). Counts add up over videos (micro average).
- Pk (Beeferman et al. 1999) and WindowDiff (Pevzner & Hearst 2002) are computed on a
  time grid (1 s by default): one probe at the middle of every grid cell inside a true
  span, so gaps between spans are skipped. The window ``k`` is half the mean true span
  length, in grid cells (at least 1). A probe's segment is the number of boundaries at or
  before it, so WindowDiff counts the boundaries between two probes as a difference of
  ids. Errors and windows add up over videos (micro average); lower is better.
- Count ratio: predicted spans over true spans, summed over videos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Span = tuple[int, int]


@dataclass
class BoundaryCounts:
    """Matched, predicted and true boundary counts at one tolerance."""

    matched: int = 0
    predicted: int = 0
    true: int = 0

    def __add__(self, other: BoundaryCounts) -> BoundaryCounts:
        return BoundaryCounts(self.matched + other.matched, self.predicted + other.predicted, self.true + other.true)

    @property
    def precision(self) -> float:
        """Matched over predicted (1.0 when nothing is predicted)."""
        return self.matched / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        """Matched over true (1.0 when there is no true boundary)."""
        return self.matched / self.true if self.true else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (1.0 when both sets are empty)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class WindowCounts:
    """Pk and WindowDiff errors over a number of probe windows."""

    pk_errors: int = 0
    wd_errors: int = 0
    windows: int = 0

    def __add__(self, other: WindowCounts) -> WindowCounts:
        return WindowCounts(
            self.pk_errors + other.pk_errors, self.wd_errors + other.wd_errors, self.windows + other.windows
        )

    @property
    def pk(self) -> float:
        """Share of windows whose ends are wrongly judged same/different segment."""
        return self.pk_errors / self.windows if self.windows else 0.0

    @property
    def window_diff(self) -> float:
        """Share of windows holding a different number of boundaries."""
        return self.wd_errors / self.windows if self.windows else 0.0


def boundaries(spans: Sequence[Span]) -> list[int]:
    """The boundaries of a segmentation: start times of all spans but the first."""
    return [int(start) for start, _ in spans[1:]]


def match_boundaries(true: Sequence[int], predicted: Sequence[int], tolerance_ms: int) -> int:
    """Size of a maximum one-to-one matching of boundaries at most ``tolerance_ms`` apart.

    Greedy in time order is optimal here: every tolerance window has the same width, so
    pairing each true boundary with the earliest unused prediction it reaches never
    blocks a larger matching.
    """
    t, p = sorted(true), sorted(predicted)
    i = j = matched = 0
    while i < len(t) and j < len(p):
        if p[j] < t[i] - tolerance_ms:
            j += 1
        elif p[j] > t[i] + tolerance_ms:
            i += 1
        else:
            matched, i, j = matched + 1, i + 1, j + 1
    return matched


def boundary_counts(true: Sequence[int], predicted: Sequence[int], tolerance_ms: int) -> BoundaryCounts:
    """Matched, predicted and true boundary counts of one video."""
    return BoundaryCounts(match_boundaries(true, predicted, tolerance_ms), len(predicted), len(true))


def grid_probes(spans: Sequence[Span], grid_ms: int = 1000) -> np.ndarray:
    """Probe times: the middle of every ``grid_ms`` cell that starts inside a span."""
    parts = [np.arange(start, end, grid_ms, dtype=np.int64) + grid_ms // 2 for start, end in spans]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def segment_ids(bounds: Sequence[int], probes: np.ndarray) -> np.ndarray:
    """For each probe time, the number of boundaries at or before it."""
    return np.searchsorted(np.asarray(sorted(bounds), np.int64), probes, side="right")


def window_size(true_spans: Sequence[Span], grid_ms: int = 1000) -> int:
    """Half the mean true span length, in grid cells, at least 1."""
    lengths = [end - start for start, end in true_spans]
    return max(1, round(float(np.mean(lengths)) / 2 / grid_ms)) if lengths else 1


def window_counts(true_spans: Sequence[Span], predicted: Sequence[int], grid_ms: int = 1000) -> WindowCounts:
    """Pk and WindowDiff errors of predicted boundaries against true spans, one video."""
    probes = grid_probes(true_spans, grid_ms)
    k = window_size(true_spans, grid_ms)
    if len(probes) <= k:
        return WindowCounts()
    ref = segment_ids(boundaries(true_spans), probes)
    hyp = segment_ids(predicted, probes)
    ref_gap, hyp_gap = ref[k:] - ref[:-k], hyp[k:] - hyp[:-k]
    pk_errors = int(np.count_nonzero((ref_gap == 0) != (hyp_gap == 0)))
    wd_errors = int(np.count_nonzero(ref_gap != hyp_gap))
    return WindowCounts(pk_errors, wd_errors, len(ref_gap))


def spans_from_boundaries(bounds: Sequence[int], start_ms: int, end_ms: int) -> list[Span]:
    """Spans tiling ``[start_ms, end_ms)`` cut at the boundaries strictly inside it."""
    inner = sorted({int(b) for b in bounds if start_ms < b < end_ms})
    edges = [start_ms, *inner, end_ms]
    return list(zip(edges[:-1], edges[1:], strict=True))


@dataclass
class LevelScore:
    """Every segmentation count of one level, added up over videos."""

    tolerances_ms: tuple[int, ...]
    boundary: list[BoundaryCounts]
    window: WindowCounts
    predicted_spans: int = 0
    true_spans: int = 0

    @classmethod
    def empty(cls, tolerances_ms: Sequence[int]) -> LevelScore:
        """A score with nothing counted yet."""
        return cls(tuple(tolerances_ms), [BoundaryCounts() for _ in tolerances_ms], WindowCounts())

    def add(self, true_spans: Sequence[Span], predicted_spans: Sequence[Span], grid_ms: int = 1000) -> None:
        """Count one video."""
        truth, pred = boundaries(true_spans), boundaries(predicted_spans)
        pairs = zip(self.boundary, self.tolerances_ms, strict=True)
        self.boundary = [counts + boundary_counts(truth, pred, tol) for counts, tol in pairs]
        self.window = self.window + window_counts(true_spans, pred, grid_ms)
        self.predicted_spans += len(predicted_spans)
        self.true_spans += len(true_spans)

    @property
    def count_ratio(self) -> float:
        """Predicted spans over true spans."""
        return self.predicted_spans / self.true_spans if self.true_spans else 0.0

    def summary(self) -> dict[str, float]:
        """The metrics as a flat dict: ``f1@3s``, ``precision@3s``, …, ``pk``, ``window_diff``."""
        out: dict[str, float] = {}
        for tol, counts in zip(self.tolerances_ms, self.boundary, strict=True):
            tag = f"@{tol / 1000:g}s"
            out |= {f"f1{tag}": counts.f1, f"precision{tag}": counts.precision, f"recall{tag}": counts.recall}
        return out | {"pk": self.window.pk, "window_diff": self.window.window_diff, "count_ratio": self.count_ratio}
