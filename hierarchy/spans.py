"""In-memory spans of every node of a level: key -> (video, start, end), and the keys of
the nodes inside a time range of a video. Answers the hot look-ups of routed search
(rerank, evidence) without a round trip to the store. Appended nodes are merged into a
snapshot (through a small block of recent ones, see ``MERGE_FRACTION``); a snapshot is
read afresh only after nodes of its level were rewritten or deleted."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import duckdb
import numpy as np

from hierarchy.types import Level

_OPEN_END = int(np.iinfo(np.int64).max)  # the end of a time range with none


@dataclass(frozen=True)
class SpanBlock:
    """Spans and commit sequences of nodes of one level of one collection, sorted by key
    and by (video, start)."""

    keys: np.ndarray
    video: np.ndarray  # index into ``videos``
    start: np.ndarray
    end: np.ndarray
    videos: tuple[str, ...]  # sorted
    by_time: np.ndarray  # positions sorted by (video, start)
    sequence: np.ndarray  # the commit that wrote each node
    time_key: np.ndarray  # (video, start) in ``by_time`` order, for range look-ups: see ``_time_key``

    @classmethod
    def load(cls, cur: duckdb.DuckDBPyConnection, cid: int, level: Level, after: int = -1) -> SpanBlock:
        """Read a level's spans from the store (only those written after commit ``after``).

        The store codes the video ids (``dense_rank``, in the byte order of their UTF-8,
        which is Python's order of the strings) and names each once: at 1 M segments the
        read took 0.33 s against 0.42-0.44 s for a million Python strings and ``np.unique``
        over them, time the first search after a bulk load waits for."""
        rows = cur.execute(
            "SELECT key, dense_rank() OVER (ORDER BY video_id) - 1 AS code, "
            "CASE WHEN row_number() OVER (PARTITION BY video_id) = 1 THEN video_id END AS name, "
            "start_ms, end_ms, seq FROM nodes WHERE collection_id = ? AND level = ? AND seq > ? ORDER BY key",
            [cid, int(level), after],
        ).fetchnumpy()
        codes = np.asarray(rows["code"], np.int64)
        named = ~np.ma.getmaskarray(rows["name"])
        names = np.empty(int(codes.max()) + 1 if len(codes) else 0, dtype=object)
        names[codes[named]] = np.ma.getdata(rows["name"])[named]
        return cls.of(
            np.asarray(rows["key"], np.int64),
            codes,
            np.asarray(rows["start_ms"], np.int64),
            np.asarray(rows["end_ms"], np.int64),
            tuple(str(name) for name in names),
            np.asarray(rows["seq"], np.int64),
        )

    @classmethod
    def of(
        cls,
        keys: np.ndarray,
        video: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        videos: tuple[str, ...],
        sequence: np.ndarray,
    ) -> SpanBlock:
        """Spans from columns in key order (``video`` indexes the sorted ``videos``)."""
        order = np.lexsort((start, video))
        return cls(keys, video, start, end, videos, order, sequence, _time_key(video[order], start[order]))

    @cached_property
    def max_sequence(self) -> int:
        """The latest commit among these nodes (-1 when there are none)."""
        return int(self.sequence.max()) if len(self.sequence) else -1

    def extended(self, new: SpanBlock) -> SpanBlock:
        """These spans and ``new`` ones (of other keys) together. Appends (keys above every
        present key) merge in linear time; anything else is sorted afresh."""
        if len(new.keys) == 0:
            return self
        names = tuple(sorted(set(self.videos) | set(new.videos)))
        lookup = np.array(names, dtype=object)
        new_codes = np.searchsorted(lookup, np.array(new.videos, dtype=object)).astype(np.int64)[new.video]
        # Appends to videos already present (the common case: a live video's next batch)
        # keep every code, so the million-row columns are not re-coded (17 ms a write at
        # 1 M segments, paid by the first search after it).
        same_names = names == self.videos
        old_codes = (
            None if same_names else np.searchsorted(lookup, np.array(self.videos, dtype=object)).astype(np.int64)
        )
        video = np.concatenate([self.video if old_codes is None else old_codes[self.video], new_codes])
        keys = np.concatenate([self.keys, new.keys])
        start, end = np.concatenate([self.start, new.start]), np.concatenate([self.end, new.end])
        sequence = np.concatenate([self.sequence, new.sequence])
        if len(self.keys) and new.keys[0] <= self.keys[-1]:
            order = np.argsort(keys, kind="stable")
            return SpanBlock.of(keys[order], video[order], start[order], end[order], names, sequence[order])
        # Codes only shift up when names are added, so the old time order holds; the new
        # rows, sorted among themselves, are inserted where they belong.
        if old_codes is None:
            old_time = self.time_key
        else:
            old_time = _time_key(old_codes[self.time_key.real.astype(np.int64)], self.time_key.imag)
        new_order = np.lexsort((new.start, new_codes))
        new_time = _time_key(new_codes[new_order], new.start[new_order])
        at = np.searchsorted(old_time, new_time, side="right")
        by_time = np.insert(self.by_time, at, new_order + len(self.keys))
        return SpanBlock(keys, video, start, end, names, by_time, sequence, np.insert(old_time, at, new_time))

    def spans(self, keys: list[int]) -> dict[int, tuple[str, int, int]]:
        """``key -> (video, start, end)`` for the keys present."""
        wanted = np.asarray(keys, np.int64)
        if not len(self.keys) or not len(wanted):
            return {}
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        held = self.keys[at] == wanted
        at = at[held]
        # Whole columns to Python at once: indexing numpy arrays key by key cost more
        # than the look-up (a rerank asks for a hundred spans a query).
        columns = (wanted[held].tolist(), self.video[at].tolist(), self.start[at].tolist(), self.end[at].tolist())
        return {key: (self.videos[video], start, end) for key, video, start, end in zip(*columns, strict=True)}

    def bounds(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(whether each of ``keys`` is present, its start, its end) as arrays in the order
        given, 0 for a key not present: :meth:`spans` for callers that compute on times."""
        wanted = np.asarray(keys, np.int64)
        if not len(self.keys) or not len(wanted):
            return np.zeros(len(wanted), bool), np.zeros(len(wanted), np.int64), np.zeros(len(wanted), np.int64)
        at = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        held = self.keys[at] == wanted
        return held, np.where(held, self.start[at], 0), np.where(held, self.end[at], 0)

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
            # A video's keys in time order are mostly in key order already: numpy's default
            # sort does not gain from that and the stable one does (2,900 keys: 69 µs, 4).
            return np.sort(np.concatenate(found), kind="stable") if found else np.zeros(0, np.int64)
        return self.keys[(self.start < end) & (self.end > start)]

    def positions(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key, its 0-based place among its video's nodes in time order, and how
        many nodes its video has (-1 and 0 for a key not held)."""
        wanted = np.asarray(keys, np.int64)
        if not len(self.keys):
            return np.full(len(wanted), -1, np.int64), np.zeros(len(wanted), np.int64)
        at = np.clip(np.searchsorted(self.keys, wanted), 0, len(self.keys) - 1)
        held = self.keys[at] == wanted
        video = self.video[at]
        first = np.searchsorted(self._video_in_time, video, "left")
        totals = np.searchsorted(self._video_in_time, video, "right") - first
        return np.where(held, self._place[at] - first, -1), np.where(held, totals, 0)

    def positions_among(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``keys`` (distinct), its 0-based place in time among those of
        ``keys`` in its video, and how many of them its video holds (-1 and 0 for a key
        not held): the n-th of what passed a filter, not of the whole level."""
        wanted = np.asarray(keys, np.int64)
        rank, total = np.full(len(wanted), -1, np.int64), np.zeros(len(wanted), np.int64)
        if not len(self.keys) or not len(wanted):
            return rank, total
        at = np.clip(np.searchsorted(self.keys, wanted), 0, len(self.keys) - 1)
        rows = np.flatnonzero(self.keys[at] == wanted)
        video, place = self.video[at[rows]], self._place[at[rows]]
        order = np.lexsort((place, video))  # by video, then in time
        starts = np.flatnonzero(np.r_[True, video[order][1:] != video[order][:-1]])
        sizes = np.diff(np.r_[starts, len(order)])
        group = np.repeat(np.arange(len(starts)), sizes)
        rank[rows[order]] = np.arange(len(order)) - starts[group]
        total[rows[order]] = sizes[group]
        return rank, total

    def adjacent(self, keys: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
        """For each of ``keys`` held, the node ``step`` places later (earlier when
        negative) among its video's nodes in time order: (positions in ``keys`` that have
        one, those nodes' keys)."""
        wanted = np.asarray(keys, np.int64)
        if not len(self.keys) or not len(wanted):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        at = np.clip(np.searchsorted(self.keys, wanted), 0, len(self.keys) - 1)
        place = self._place[at] + step
        rows = np.flatnonzero((self.keys[at] == wanted) & (place >= 0) & (place < len(self.by_time)))
        other = self.by_time[place[rows]]
        same = self.video[other] == self.video[at[rows]]
        return rows[same], self.keys[other[same]]

    @cached_property
    def _video_in_time(self) -> np.ndarray:
        return self.video[self.by_time]

    @cached_property
    def _place(self) -> np.ndarray:
        """Each position's index in time order (``by_time`` inverted)."""
        place = np.empty(len(self.by_time), np.int64)
        place[self.by_time] = np.arange(len(self.by_time))
        return place

    def starting_in(self, spans: list[tuple[str, int, int]]) -> np.ndarray:
        """Keys of the nodes that start inside any of ``spans`` (video, start, end): the
        children of those parents, in the order of their spans then of time."""
        return self.starting_in_each(spans)[0]

    def starting_in_each(self, spans: list[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`starting_in`, and for each key the place in ``spans`` of the span it
        starts in (spans of one level do not overlap in a video)."""
        if not spans or not len(self.keys):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        names = [video for video, _, _ in spans]
        codes = np.minimum(np.searchsorted(self._video_array, names), len(self.videos) - 1)
        known = self._video_array[codes] == np.asarray(names, dtype=object)
        starts = np.array([start for _, start, _ in spans], np.int64)
        ends = np.array([end for _, _, end in spans], np.int64)
        lo = np.searchsorted(self.time_key, _time_key(codes, starts), "left")
        hi = np.searchsorted(self.time_key, _time_key(codes, ends), "left")
        rows = [self.by_time[a:b] for a, b, ok in zip(lo.tolist(), hi.tolist(), known.tolist(), strict=True) if ok]
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        owner = np.repeat(np.arange(len(spans), dtype=np.int64), np.where(known, np.maximum(hi - lo, 0), 0))
        return self.keys[np.concatenate(rows)], owner

    @cached_property
    def _video_array(self) -> np.ndarray:
        """``videos`` as an array (numpy would convert the tuple on every look-up)."""
        return np.array(self.videos, dtype=object)

    def inside(self, video_id: str, start: int, end: int) -> np.ndarray:
        """Keys of the nodes of ``video_id`` that overlap ``[start, end)``."""
        return self.keys[self._rows_inside(video_id, start, end)]

    def inside_with_starts(self, video_id: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`inside`, and each node's start time."""
        rows = self._rows_inside(video_id, start, end)
        return self.keys[rows], self.start[rows]

    @cached_property
    def _video_rows(self) -> dict[str, tuple[int, int]]:
        """Each video's range of ``by_time`` positions: found once per block, where every
        look-up bisected the video names and the times again (three bisections a call,
        several calls a routed search)."""
        codes = _time_key(np.arange(len(self.videos) + 1, dtype=np.int64), np.zeros(len(self.videos) + 1))
        bounds = np.searchsorted(self.time_key, codes, "left").tolist()
        return {name: (bounds[i], bounds[i + 1]) for i, name in enumerate(self.videos)}

    def _rows_inside(self, video_id: str, start: int, end: int) -> np.ndarray:
        found = self._video_rows.get(video_id)
        if found is None:
            return np.zeros(0, np.int64)
        rows = self.by_time[found[0] : found[1]]
        if start <= 0 and end == _OPEN_END:  # the whole video (a filter on it)
            return rows
        return rows[(self.start[rows] < end) & (self.end[rows] > start)]


# Appended nodes collect in a small recent block that is merged into the base once it
# holds an eighth of it (or 65,536 nodes, whichever is more): a search after each write
# then pays for what was written, not for the level. Merging 16 segments into the spans of
# a million took 16 ms (every column copied), paid by the first search after every write.
MERGE_FRACTION = 8
MERGE_AT_LEAST = 65_536


@dataclass(frozen=True)
class LevelSpans:
    """Spans of every node of one level of one collection: a base block and the nodes
    appended since it was built (see ``MERGE_FRACTION``); look-ups answer over both."""

    base: SpanBlock
    recent: SpanBlock | None = None

    @classmethod
    def load(cls, cur: duckdb.DuckDBPyConnection, cid: int, level: Level, after: int = -1) -> LevelSpans:
        """Read a level's spans from the store (only those written after commit ``after``)."""
        return cls(SpanBlock.load(cur, cid, level, after))

    @property
    def blocks(self) -> tuple[SpanBlock, ...]:
        """The base block, then the recent one when there is one."""
        return (self.base,) if self.recent is None else (self.base, self.recent)

    def whole(self) -> SpanBlock:
        """Every span in one block (merging the recent block when there is one)."""
        return self.base if self.recent is None else self.base.extended(self.recent)

    def __len__(self) -> int:
        return sum(len(block.keys) for block in self.blocks)

    @property
    def keys(self) -> np.ndarray:
        """Every key, sorted."""
        return self._joined([block.keys for block in self.blocks], ordered=True)

    @property
    def videos(self) -> tuple[str, ...]:
        """Every video with a node at this level, sorted."""
        return tuple(sorted(set().union(*(block.videos for block in self.blocks))))

    @property
    def max_sequence(self) -> int:
        """The latest commit among these nodes (-1 when there are none)."""
        return max(block.max_sequence for block in self.blocks)

    def extended(self, new: LevelSpans) -> LevelSpans:
        """These spans and ``new`` ones (of other keys) together."""
        added = new.whole()
        if len(added.keys) == 0:
            return self
        recent = added if self.recent is None else self.recent.extended(added)
        if len(recent.keys) * MERGE_FRACTION > max(len(self.base.keys), MERGE_AT_LEAST * MERGE_FRACTION):
            return LevelSpans(self.base.extended(recent))
        return LevelSpans(self.base, recent)

    def spans(self, keys: list[int]) -> dict[int, tuple[str, int, int]]:
        """``key -> (video, start, end)`` for the keys present."""
        out = self.base.spans(keys)
        if self.recent is not None:
            out.update(self.recent.spans(keys))
        return out

    def newer_than(self, watermark: int) -> int:
        """How many nodes were written after commit ``watermark``."""
        return sum(block.newer_than(watermark) for block in self.blocks)

    def written_by(self, keys: list[int], watermark: int) -> set[int]:
        """The keys present that were written at or before commit ``watermark``."""
        return set().union(*(block.written_by(keys, watermark) for block in self.blocks))

    def matching(self, video_ids: tuple[str, ...], start: int, end: int) -> np.ndarray:
        """Keys of the nodes of any of ``video_ids`` (every video when empty) that overlap
        ``[start, end)`` (``end`` 0: open-ended), in key order."""
        return self._joined([block.matching(video_ids, start, end) for block in self.blocks], ordered=True)

    def positions(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key, its 0-based place among its video's nodes of the level in time
        order, and how many its video has (-1 and 0 for a key not held)."""
        return self.whole().positions(keys)

    def positions_among(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`SpanBlock.positions_among` over every block."""
        return self.whole().positions_among(keys)

    def starting_in(self, spans: list[tuple[str, int, int]]) -> np.ndarray:
        """Keys of the nodes that start inside any of ``spans`` (video, start, end): the
        children of those parents."""
        return self._joined([block.starting_in(spans) for block in self.blocks])

    def starting_in_each(self, spans: list[tuple[str, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`starting_in`, and for each key the place in ``spans`` of its span."""
        found = [block.starting_in_each(spans) for block in self.blocks]
        return self._joined([keys for keys, _ in found]), self._joined([owner for _, owner in found])

    def inside(self, video_id: str, start: int, end: int) -> np.ndarray:
        """Keys of the nodes of ``video_id`` that overlap ``[start, end)``."""
        return self._joined([block.inside(video_id, start, end) for block in self.blocks])

    def inside_with_starts(self, video_id: str, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`inside`, and each node's start time."""
        found = [block.inside_with_starts(video_id, start, end) for block in self.blocks]
        return self._joined([keys for keys, _ in found]), self._joined([starts for _, starts in found])

    @staticmethod
    def _joined(parts: list[np.ndarray], ordered: bool = False) -> np.ndarray:
        if len(parts) == 1:
            return parts[0]
        joined = np.concatenate(parts)
        # A writer that took its keys first may commit second: recent keys can sort anywhere.
        return np.sort(joined, kind="stable") if ordered else joined  # see ``SpanBlock.matching``


class SpanCache:
    """Level spans per (collection, level). A snapshot stays valid while no stored node of
    its level was rewritten or deleted (the ``rewrites`` count the database keeps per
    level); commits that only added nodes are read from the store and merged in."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: dict[tuple[int, int], tuple[int, int, LevelSpans]] = {}

    def forget(self, cid: int) -> None:
        """Drop a collection's spans."""
        with self._lock:
            for key in [key for key in self._spans if key[0] == cid]:
                del self._spans[key]

    def get(self, cur: duckdb.DuckDBPyConnection, cid: int, level: Level, rewrites: int, sequence: int) -> LevelSpans:
        """Spans of a level holding at least every commit up to ``sequence``."""
        key = (cid, int(level))
        with self._lock:
            found = self._spans.get(key)
        if found is not None and found[0] == rewrites:
            _, covered, spans = found
            if covered >= sequence:
                return spans
            # Commits to a collection land in sequence order, so every node of this level
            # up to the newest one read is in hand afterwards.
            fresh = spans.extended(LevelSpans.load(cur, cid, level, after=covered))
        else:
            fresh = LevelSpans.load(cur, cid, level)
        covered = max(sequence, fresh.max_sequence)
        with self._lock:
            self._spans[key] = (rewrites, covered, fresh)
        return fresh


def _time_key(video: np.ndarray, start: np.ndarray) -> np.ndarray:
    """(video code, start) pairs as complex numbers, which numpy orders (sorts, bisects)
    by their real part, then their imaginary one: by video, then by time. Both parts are
    exact as doubles (codes are small, times at most 2**53, ``validate.MAX_TIME_MS``).
    One int64 of ``video << 40 | start`` held starts below 2**40 ms alone: a video timed
    in Unix-epoch milliseconds (1.7e12) spilled into the next video's code, and searches
    filtered to it found nothing, and to another video found its nodes."""
    video, start = np.asarray(video), np.asarray(start)
    key = np.empty(np.broadcast(video, start).shape, np.complex128)  # filled in place: 1 ms a million, not 12
    key.real, key.imag = video, start
    return key
