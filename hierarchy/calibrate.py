"""Score calibration that makes similarities comparable across levels.

Raw similarity is not comparable between levels: a parent's vector is an average, so its
similarities to any query are compressed towards the level's mean direction. For a query
q and a level with mean vector m and covariance C, the similarities of q to the level's
nodes have mean q·m and variance qᵀCq; the calibrated score of a node is its
similarity's z-score within its own level, for this query:

    z = (s - q·m) / sqrt(qᵀ C q)

Under squared Euclidean distance the similarity, -|q - x|² = 2q·x - |x|² - |q|², is
linear in the *lifted* vector (x, |x|²) for the query (2q, -1): the moments are those of
the lifted vectors (``sample_of``), and the same formula holds, less |q|². A level with
no spread at all (one node, or identical ones) scores every node 0: what sets one apart
there is rounding, which read as a z-score ran to hundreds.

"How exceptional is this node among its peers, for this query" reads the same at every
level. The statistics come from (a sample of) the level's vectors and are refreshed when
the level has grown or shrunk by a tenth since they were computed, or a tenth of its rows
were deleted (parents a tree rebuild replaced do not count); and, once writes settle, after
any change while no search has been given them (``MomentsCache.prepare``), so a loaded
library is scored as a restarted server would score it.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from hierarchy import process
from hierarchy.types import Metric

if TYPE_CHECKING:
    from hierarchy.index import LevelIndex

log = logging.getLogger(__name__)

SAMPLE = 20_000
NO_SPREAD = 1e-12  # a level's total variance at most this share of its mean |x|² (plus 1): none
REFRESH_NICENESS = 5  # below the threads answering requests, as the index linker
_REFRESH = 0.1
_MEMO = 64  # queries whose centre and spread are remembered, per level


@dataclass(frozen=True)
class LevelMoments:
    """Mean vector and covariance of a level's vectors, and how many nodes they describe."""

    count: int
    mean: np.ndarray
    covariance: np.ndarray
    # Given when kept by a MomentsCache, unique across restarts: what a page token pins.
    version: int = field(default=0, compare=False)
    # The level's count of rows deleted (LevelIndex.deleted) when computed: a delete and
    # an add of as many nodes change the level without changing its size.
    deleted: int = field(default=0, compare=False)
    _memo: dict[bytes, tuple[float, float]] = field(default_factory=dict, compare=False, repr=False)
    _stillness: dict[int, bool] = field(default_factory=dict, compare=False, repr=False)  # by dimension

    @classmethod
    def of(cls, vectors: np.ndarray, count: int) -> LevelMoments:
        """Moments of a (sample of) vectors standing for ``count`` nodes."""
        # Single precision for the d² product: 20,000 x 512 in 0.08 s against 0.14 on one
        # BLAS thread, qᵀCq within 2e-8 of the double-precision one (unit vectors).
        x = np.asarray(vectors, np.float32)
        if len(x) == 0:
            dim = x.shape[1] if x.ndim == 2 else 0
            return cls(count, np.zeros(dim), np.eye(dim, dtype=np.float32))
        mean = x.mean(axis=0, dtype=np.float64)
        centred = x - mean.astype(np.float32)
        # Kept in single precision too: each query reads it once per level, from memory
        # the level scans before it evicted from cache (384-d: 82 us in double precision,
        # 49 in single; qᵀCq within 1e-7 of the double-precision one).
        cov = (centred.T @ centred) / np.float32(max(len(x) - 1, 1))
        return cls(count, mean, cov)

    def z(self, query: np.ndarray, similarities: np.ndarray) -> np.ndarray:
        """Calibrated scores of ``similarities`` of ``query`` to this level's nodes."""
        centre, spread = self._centre_and_spread(query)
        if math.isinf(spread):  # a level with no spread: nothing sets a node apart
            return np.zeros(np.shape(similarities))
        return (np.asarray(similarities, np.float64) - centre) / spread

    def _centre_and_spread(self, query: np.ndarray) -> tuple[float, float]:
        # One search asks again for each hit's evidence; qᵀCq is the costly part (d² work).
        q = np.asarray(query, np.float64)
        key = q.tobytes()
        memo = self._memo.get(key)
        if memo is None:
            lifted = len(self.mean) == len(q) + 1  # moments of (x, |x|²): squared distances
            lift = np.append(2.0 * q, -1.0) if lifted else q
            narrow = lift.astype(self.covariance.dtype)
            spread = float(np.sqrt(max(float(narrow @ self.covariance @ narrow), 1e-12)))
            centre = float(lift @ self.mean) - (float(q @ q) if lifted else 0.0)
            memo = (centre, math.inf if self._still(len(q)) else spread)
            if len(self._memo) >= _MEMO:
                self._memo.clear()
            self._memo[key] = memo
        return memo

    def _still(self, dimension: int) -> bool:
        """Whether the level's vectors (their first ``dimension`` coordinates) do not vary
        (kept: the moments never change, and each query asked again)."""
        still = self._stillness.get(dimension)
        if still is None:
            head = self.mean[:dimension]
            total = float(np.trace(self.covariance[:dimension, :dimension]))
            still = self._stillness[dimension] = total <= NO_SPREAD * (1.0 + float(head @ head))
        return still


def sample_of(index: LevelIndex) -> np.ndarray:
    """Up to ``SAMPLE`` of a level's vectors, as its moments describe them: lifted to
    (x, |x|²) under squared Euclidean distance (see the module's notes)."""
    rows = index.sample(SAMPLE)
    if index.metric is not Metric.L2_SQUARED:
        return rows
    return np.hstack([rows, np.einsum("ij,ij->i", rows, rows, dtype=np.float64)[:, None].astype(np.float32)])


class MomentsCache:
    """Level moments per (collection, level), recomputed when a level has changed enough.

    The last few versions are kept, each stamped with the commit it was computed at, so
    the later pages of a search score with the moments its first page used. Moments of a
    level that has grown by more than a tenth but at most doubled (or shrunk) since keep
    serving while new ones are computed in a background thread: the computation took
    0.3 s a level at 60 k benchmark segments, which one search in every tenth of growth
    paid. Once writes settle they are brought up to date by a background reader
    (``prepare``, hierarchy.warmer), so the first search after a load does not compute them
    (and, while no search has been given them, follow any change, not only a tenth)."""

    def __init__(self, keep: int = 4) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self._moments: dict[tuple[int, int], list[tuple[int, LevelMoments]]] = {}
        self._refreshing: set[tuple[int, int]] = set()
        self._used: set[int] = set()  # versions a search was given (a page token may name them)
        # What a level held when ``prepare`` computed its latest version: (mark, version).
        self._marks: dict[tuple[int, int], tuple[object, int]] = {}
        # Versions count up from the time in milliseconds times 2^20, room for a million a
        # millisecond: a token from an earlier run of the server pins none of this one's.
        self._versions = itertools.count((time.time_ns() // 1_000_000) << 20)

    def get(
        self,
        key: tuple[int, int],
        size: int,
        sample: Callable[[], np.ndarray],
        as_of: int | None = None,
        current: bool = True,
        *,
        deleted: int,
    ) -> LevelMoments:
        """Moments for ``key`` as of commit ``as_of`` (None: the latest), computed afresh
        from ``sample()`` when the latest are stale: the level (of ``size`` nodes, and
        ``deleted`` rows deleted so far) changed by more than a tenth. A search
        at an older commit (``current`` False) never refreshes: it reuses what its first
        page used."""
        chosen, refresh = self._choose(key, size, as_of, current, deleted)
        if chosen is None:
            return self._keep_version(key, as_of, LevelMoments.of(sample(), size), deleted, given=True)
        if refresh:
            self._refresh_later(key, size, sample, as_of, deleted)
        return chosen

    def _choose(
        self, key: tuple[int, int], size: int, as_of: int | None, current: bool, deleted: int
    ) -> tuple[LevelMoments | None, bool]:
        """(the kept moments a search at ``as_of`` uses, or None when it must compute them;
        whether to refresh them in the background). The moments chosen are marked as given
        in the same locked step: ``prepare`` replaces only moments no search was given, and
        must not take ones a search has just chosen."""
        with self._lock:
            history = self._moments.get(key, [])
            chosen, refresh = None, False
            if history and as_of is not None and (as_of < history[-1][0] or not current):
                older = [m for stamp, m in history if stamp <= as_of]
                chosen = older[-1] if older else history[0][1]
            elif history:
                latest = history[-1][1]
                stale = _stale(latest, size, deleted)
                if not stale or not _must_wait(latest, size):
                    chosen, refresh = latest, stale
            if chosen is not None:
                self._used.add(chosen.version)
            return chosen, refresh

    def pinned(self, key: tuple[int, int], version: int) -> LevelMoments | None:
        """The moments of ``key`` with that ``version``, while kept."""
        with self._lock:
            return next((m for _, m in self._moments.get(key, ()) if m.version == version), None)

    def prepare(
        self,
        key: tuple[int, int],
        size: int,
        sample: Callable[[], np.ndarray],
        as_of: int,
        *,
        deleted: int,
        mark: object = None,
    ) -> None:
        """Bring the moments of ``key`` up to date now, in the calling thread (one reading
        ahead in the background, once writes settle): computed afresh when none are kept
        or the latest are stale (the level changed by more than a tenth), and also when
        the level changed at all since the latest were computed (``mark``, read before the
        sample, names what it holds) while no search has been given them. Settled after a
        load, the moments then describe what the level holds, as a restarted server's do,
        whatever the load's timing. New moments replace latest ones no search was given;
        stale ones a search was given are kept beside the new (stamped with ``as_of``, the
        commit the level is read at), so a search whose first page used them keeps them.
        Moments a search was given are never replaced for a change of less than a tenth:
        a version for every write followed by a pause and a search pushed out, after four,
        the version a search's page token named."""
        with self._lock:
            history = self._moments.get(key)
            latest = history[-1][1] if history else None
            seen = self._marks.get(key)
            given = latest is not None and latest.version in self._used
        stale = latest is None or _stale(latest, size, deleted)
        changed = mark is not None and latest is not None and seen != (mark, latest.version)
        if not stale and (not changed or given):
            return
        fresh = LevelMoments.of(sample(), size)
        with self._lock:
            kept = self._moments.get(key)
            free = bool(kept) and latest is not None and kept[-1][1] is latest and latest.version not in self._used
            if not stale and not free:
                return  # a search was given them meanwhile: a small change adds no version
            if free:
                kept.pop()  # no search saw them: nothing may name them
        made = self._keep_version(key, as_of, fresh, deleted)
        if mark is not None:
            with self._lock:
                self._marks[key] = (mark, made.version)

    def _keep_version(
        self, key: tuple[int, int], as_of: int | None, fresh: LevelMoments, deleted: int, given: bool = False
    ) -> LevelMoments:
        """Keep ``fresh`` as the newest version of ``key`` (``given``: to a search, now)."""
        with self._lock:
            fresh = replace(fresh, version=next(self._versions), deleted=deleted)
            if given:
                self._used.add(fresh.version)
            kept = self._moments.setdefault(key, [])
            kept.append((as_of if as_of is not None else (kept[-1][0] if kept else 0), fresh))
            kept.sort(key=lambda item: item[0])
            for _, gone in kept[: -self._keep]:
                self._used.discard(gone.version)
            del kept[: -self._keep]
            return fresh

    def _refresh_later(
        self, key: tuple[int, int], size: int, sample: Callable[[], np.ndarray], as_of: int | None, deleted: int
    ) -> None:
        """Compute new moments for ``key`` in a background thread (one at a time per key)."""
        with self._lock:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            process.run_in_background(REFRESH_NICENESS)
            try:
                self._keep_version(key, as_of, LevelMoments.of(sample(), size), deleted)
            except Exception:  # noqa: BLE001 - the old moments keep serving; the next search retries
                log.exception("calibration statistics of %s not refreshed", key)
            finally:
                with self._lock:
                    self._refreshing.discard(key)

        threading.Thread(target=refresh, name="strata-moments", daemon=True).start()

    def forget(self, cid: int) -> None:
        """Drop the moments of a collection's levels (keys are ``(collection id, level)``)."""
        with self._lock:
            for key in [key for key in self._moments if key[0] == cid]:
                self._used.difference_update(m.version for _, m in self._moments.pop(key))
                self._marks.pop(key, None)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until no refresh is under way (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._refreshing:
                    return
            time.sleep(0.005)


def _must_wait(latest: LevelMoments | None, size: int) -> bool:
    """Whether moments of a level of ``size`` nodes must be computed before a search can
    use them (none, or made for less than half as many nodes) rather than refreshed later."""
    return latest is None or latest.count == 0 or size > 2 * latest.count


def _stale(latest: LevelMoments, size: int, deleted: int) -> bool:
    """Whether a level of ``size`` nodes, ``deleted`` rows deleted so far, has changed by
    more than a tenth since ``latest`` were computed."""
    bound = _REFRESH * max(latest.count, 1)
    return abs(size - latest.count) > bound or deleted - latest.deleted > bound
