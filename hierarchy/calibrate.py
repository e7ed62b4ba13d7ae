"""Score calibration that makes similarities comparable across levels.

Raw similarity is not comparable between levels: a parent's vector is an average, so its
similarities to any query are compressed towards the level's mean direction. For a query
q and a level with mean vector m and covariance C, the similarities of q to the level's
nodes have mean q·m and variance qᵀCq; the calibrated score of a node is its
similarity's z-score within its own level, for this query:

    z = (s - q·m) / sqrt(qᵀ C q)

"How exceptional is this node among its peers, for this query" reads the same at every
level. The statistics come from (a sample of) the level's vectors and are refreshed when
the level has grown or shrunk by a tenth since they were computed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

SAMPLE = 20_000
_REFRESH = 0.1
_MEMO = 64  # queries whose centre and spread are remembered, per level


@dataclass(frozen=True)
class LevelMoments:
    """Mean vector and covariance of a level's vectors, and how many nodes they describe."""

    count: int
    mean: np.ndarray
    covariance: np.ndarray
    _memo: dict[bytes, tuple[float, float]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, vectors: np.ndarray, count: int) -> LevelMoments:
        """Moments of a (sample of) vectors standing for ``count`` nodes."""
        x = np.asarray(vectors, np.float64)
        if len(x) == 0:
            dim = x.shape[1] if x.ndim == 2 else 0
            return cls(count, np.zeros(dim), np.eye(dim))
        mean = x.mean(axis=0)
        centred = x - mean
        cov = centred.T @ centred / max(len(x) - 1, 1)
        return cls(count, mean, cov)

    def z(self, query: np.ndarray, similarities: np.ndarray) -> np.ndarray:
        """Calibrated scores of ``similarities`` of ``query`` to this level's nodes."""
        centre, spread = self._centre_and_spread(query)
        return (np.asarray(similarities, np.float64) - centre) / spread

    def _centre_and_spread(self, query: np.ndarray) -> tuple[float, float]:
        # One search asks again for each hit's evidence; qᵀCq is the costly part (d² work).
        q = np.asarray(query, np.float64)
        memo = self._memo.get(q.tobytes())
        if memo is None:
            memo = (float(q @ self.mean), float(np.sqrt(max(q @ self.covariance @ q, 1e-12))))
            if len(self._memo) >= _MEMO:
                self._memo.clear()
            self._memo[q.tobytes()] = memo
        return memo


class MomentsCache:
    """Level moments per (collection, level), recomputed when a level has changed enough.

    The last few versions are kept, each stamped with the commit it was computed at, so
    the later pages of a search score with the moments its first page used."""

    def __init__(self, keep: int = 4) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self._moments: dict[tuple[int, int], list[tuple[int, LevelMoments]]] = {}

    def get(
        self,
        key: tuple[int, int],
        size: int,
        sample: Callable[[], np.ndarray],
        as_of: int | None = None,
        current: bool = True,
    ) -> LevelMoments:
        """Moments for ``key`` as of commit ``as_of`` (None: the latest), computed afresh
        from ``sample()`` when the latest are stale. A search at an older commit
        (``current`` False) never refreshes: it reuses what its first page used."""
        with self._lock:
            history = list(self._moments.get(key, ()))
        if history and as_of is not None and (as_of < history[-1][0] or not current):
            older = [m for stamp, m in history if stamp <= as_of]
            return older[-1] if older else history[0][1]
        if history and abs(size - history[-1][1].count) <= _REFRESH * max(history[-1][1].count, 1):
            return history[-1][1]
        fresh = LevelMoments.of(sample(), size)
        with self._lock:
            kept = self._moments.setdefault(key, [])
            kept.append((as_of if as_of is not None else (kept[-1][0] if kept else 0), fresh))
            kept.sort(key=lambda item: item[0])
            del kept[: -self._keep]
        return fresh
