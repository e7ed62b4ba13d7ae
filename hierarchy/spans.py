"""In-memory spans of every node of a level: key -> (video, start, end), and the keys of
the nodes inside a time range of a video. Answers the hot look-ups of routed search
(rerank, evidence) without a round trip to the store. A snapshot is rebuilt from the
store when the database has changed since it was taken."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import duckdb
import numpy as np

from hierarchy.types import Level


@dataclass(frozen=True)
class LevelSpans:
    """Spans and commit sequences of one level of one collection, sorted by key and by
    (video, start)."""

    keys: np.ndarray
    video: np.ndarray
    start: np.ndarray
    end: np.ndarray
    videos: tuple[str, ...]
    by_time: np.ndarray  # positions sorted by (video, start)
    sequence: np.ndarray  # the commit that wrote each node

    @classmethod
    def load(cls, cur: duckdb.DuckDBPyConnection, cid: int, level: Level) -> LevelSpans:
        """Read a level's spans from the store."""
        rows = cur.execute(
            "SELECT key, video_id, start_ms, end_ms, seq FROM nodes WHERE collection_id = ? AND level = ? ORDER BY key",
            [cid, int(level)],
        ).fetchnumpy()
        names, codes = np.unique(np.asarray(rows["video_id"], dtype=object).astype(str), return_inverse=True)
        start = np.asarray(rows["start_ms"], np.int64)
        order = np.lexsort((start, codes))
        return cls(
            np.asarray(rows["key"], np.int64),
            codes.astype(np.int64),
            start,
            np.asarray(rows["end_ms"], np.int64),
            tuple(names),
            order,
            np.asarray(rows["seq"], np.int64),
        )

    def spans(self, keys: list[int]) -> dict[int, tuple[str, int, int]]:
        """``key -> (video, start, end)`` for the keys present."""
        wanted = np.asarray(keys, np.int64)
        at = np.clip(np.searchsorted(self.keys, wanted), 0, max(len(self.keys) - 1, 0))
        out = {}
        for key, i in zip(wanted.tolist(), at.tolist(), strict=True):
            if len(self.keys) and self.keys[i] == key:
                out[key] = (self.videos[self.video[i]], int(self.start[i]), int(self.end[i]))
        return out

    def newer_than(self, watermark: int) -> int:
        """How many nodes were written after commit ``watermark``."""
        return int((self.sequence > watermark).sum())

    def written_by(self, keys: list[int], watermark: int) -> set[int]:
        """The keys present that were written at or before commit ``watermark``."""
        wanted = np.asarray(keys, np.int64)
        at = np.clip(np.searchsorted(self.keys, wanted), 0, max(len(self.keys) - 1, 0))
        if not len(self.keys):
            return set()
        hit = (self.keys[at] == wanted) & (self.sequence[at] <= watermark)
        return set(wanted[hit].tolist())

    def matching(self, video_ids: tuple[str, ...], start: int, end: int) -> np.ndarray:
        """Keys of the nodes of any of ``video_ids`` (every video when empty) that overlap
        ``[start, end)`` (``end`` 0: open-ended), in key order."""
        end = end or np.iinfo(np.int64).max
        if video_ids:
            found = [self.inside(video, start, end) for video in dict.fromkeys(video_ids)]
            return np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)
        return self.keys[(self.start < end) & (self.end > start)]

    def inside(self, video_id: str, start: int, end: int) -> np.ndarray:
        """Keys of the nodes of ``video_id`` that overlap ``[start, end)``."""
        code = int(np.searchsorted(self.videos, video_id))
        if code >= len(self.videos) or self.videos[code] != video_id:
            return np.zeros(0, np.int64)
        sorted_codes = self.video[self.by_time]
        lo, hi = np.searchsorted(sorted_codes, code, "left"), np.searchsorted(sorted_codes, code, "right")
        rows = self.by_time[lo:hi]
        hit = (self.start[rows] < end) & (self.end[rows] > start)
        return self.keys[rows[hit]]


class SpanCache:
    """Level spans per (collection, level), valid while the database's change count holds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[tuple[int, int], tuple[int, LevelSpans]] = {}

    def get(self, cur: duckdb.DuckDBPyConnection, cid: int, level: Level, version: int) -> LevelSpans:
        """Spans of a level as of ``version`` (the database's change count)."""
        key = (cid, int(level))
        with self._lock:
            found = self._spans.get(key)
        if found is not None and found[0] == version:
            return found[1]
        fresh = LevelSpans.load(cur, cid, level)
        with self._lock:
            self._spans[key] = (version, fresh)
        return fresh
