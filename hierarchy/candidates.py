"""What a routed search works with: its context, ranked answers, a level's candidate
pool (confined to the part of each video a query names), nodes by position in their
video, parents holding children, and the labels that name an event."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, NamedTuple

import duckdb
import numpy as np

from hierarchy import deadlines, nodes, router, search
from hierarchy.calibrate import LevelMoments
from hierarchy.index import LevelIndex
from hierarchy.query import singular
from hierarchy.router import Pool
from hierarchy.spans import LevelSpans
from hierarchy.types import Filter, Level, Node

COUNT_POOL = 2000  # candidates a count or an ordinal scans for matching events
LEVEL_SCAN = 20_000  # labelled events an "every" query lists in time order, at most
EVERY = 2**62  # a limit that keeps every node


class Ranked(NamedTuple):
    """One ranked answer before paging. A named tuple: a routed search builds a few
    hundred, and a frozen dataclass took twice as long to build (1.1 µs each)."""

    key: int
    level: Level
    score: float
    similarity: float
    # The moments that explain it, known as it was ranked (the two of a sequence's pair),
    # as (key, similarity, calibrated score); empty: found with the page's evidence.
    explained: tuple[tuple[int, float, float], ...] = ()
    count: int = -1  # how many of the event a route counts the node holds (-1: it counts none)


@dataclass
class Context:
    """What a routed search needs from the database."""

    cur: duckdb.DuckDBPyConnection
    cid: int
    index: Callable[[Level], LevelIndex]
    moments: Callable[[Level], LevelMoments]
    encode: Callable[[str], np.ndarray] | None
    labels: Callable[[], list[str]]
    exact_filter_below: int
    spans: Callable[[Level], LevelSpans] | None = None  # in-memory spans, for video and time filters
    fetch: Callable[[list[int]], dict[int, Node]] | None = None  # nodes by key (cached); None: the store
    deadline: float | None = None  # time.monotonic(); checked before each candidate pool
    # Which candidate keys of a level a later page may see (written by its first page's
    # commit); None: all. Routing then reads the library as the first page did.
    visible: Callable[[Level, np.ndarray], np.ndarray] | None = None
    # How many nodes of a level ``visible`` hides: a pool is found that much deeper, so
    # that it still holds its level's best visible ones.
    hidden: Callable[[Level], int] | None = None
    # More keys of a level to score exactly beside an unfiltered search's graph answers
    # (the children of the best parents: hierarchy.search), given the parents already found
    # best first, if any; None for a level searched by its graph alone.
    narrow: Callable[[Level, np.ndarray | None], Callable[[np.ndarray], np.ndarray] | None] | None = None
    # Vectors of a text's parts (``router.parts``: a paragraph's sentences, a sequence's
    # events) as rows: the client's part vectors, else the parts embedded in one pass;
    # None where there are neither (no text encoder and no part vectors sent).
    parts: Callable[[tuple[str, ...]], np.ndarray | None] | None = None
    # Attributes of nodes by key, without building the nodes; None: from ``fetch``.
    attributes: Callable[[list[int]], dict[int, dict[str, Any]]] | None = None
    # Label counts of nodes by key, likewise; None: from ``fetch``.
    label_counts: Callable[[list[int]], dict[int, dict[str, int]]] | None = None
    # (video, start, attributes) of the segments carrying any of some labels (cached by
    # the caller until the next write); None: the store is asked each time.
    labelled: Callable[[list[str]], Collection[tuple[str, int, dict[str, Any]]]] | None = None
    # The part of each video the query confines the search to, (level, position): "a goal
    # in the second half" -> (HALF, 2); set from the parse.
    part: tuple[Level, int] | None = None


def fetch(ctx: Context, keys: list[int]) -> dict[int, Node]:
    """Nodes by key (the ones still present), from the context's cache when it has one."""
    return ctx.fetch(keys) if ctx.fetch is not None else nodes.by_keys(ctx.cur, keys)


def pool(
    ctx: Context, level: Level, flt: Filter, vector: np.ndarray, size: int, parents: np.ndarray | None = None
) -> Pool | None:
    """One level's candidates; ``parents``: the best keys of the level above, best first."""
    deadlines.check(ctx.deadline, f"while searching the {level.label} level")
    index = ctx.index(level)
    if len(index) == 0:
        return None
    spans = (lambda: ctx.spans(level)) if ctx.spans is not None else None
    narrow = ctx.narrow(level, parents) if ctx.narrow is not None else None
    deeper = size + (ctx.hidden(level) if ctx.visible is not None and ctx.hidden is not None else 0)
    scored = None
    if ctx.part is not None and level < ctx.part[0]:
        allowed = in_part(ctx, level, flt)
        keys, sims = search.among(index, allowed, vector, deeper, ctx.exact_filter_below, narrow)
    else:
        graph = level > Level.SEGMENT and search.graph_candidates(index)
        keys, sims, scored = search.candidates(
            ctx.cur, index, ctx.cid, level, flt, vector, deeper, ctx.exact_filter_below, spans, narrow, graph, True
        )
        # Only a filter on videos passes every node of the videos it passes one of.
        scored = None if flt.time_range or flt.labels or flt.attributes else scored
    if ctx.visible is not None:
        # The best ``size`` of those seen: the ones dropped score at most their last still.
        seen = ctx.visible(level, keys)
        keys, sims = keys[seen][:size], sims[seen][:size]
    return router.pool(level, keys, sims, ctx.moments(level), vector, scored)


def in_part(ctx: Context, level: Level, flt: Filter) -> np.ndarray:
    """Sorted keys of ``level`` that start inside the query's part of each video (every
    second half) and pass ``flt``."""
    assert ctx.spans is not None and ctx.part is not None
    part, position = ctx.part
    held = ctx.spans(part).spans(every_at(ctx, part, position).tolist())
    keys = np.unique(ctx.spans(level).starting_in(list(held.values())))
    if flt.empty:
        return keys
    spans = lambda: ctx.spans(level)  # noqa: E731
    passing = search.filtered_keys(ctx.cur, ctx.cid, level, flt, max(len(ctx.index(level)), 1), spans)
    return np.intersect1d(keys, passing)


def matching_labels(event: str, labels: list[str]) -> list[str]:
    """Labels of the collection that name ``event``: the label of those very words
    ("goals" -> "goal", never also "goal kick"; "throw ins" -> "throw-in"), else those
    holding every word of it ("corner" -> "corner kick"); words compared whole, in any
    script, plurals as singulars."""
    words = _words(event)
    if not words:
        return []
    exact = [lb for lb in labels if lb.lower() == event.lower()] or [lb for lb in labels if _words(lb) == words]
    return exact or [lb for lb in labels if set(words) <= set(_words(lb))]


def _words(text: str) -> list[str]:
    # Stemmed alike on both sides, so a plural singular() leaves ("ins") still meets its noun.
    return [singular(w).rstrip("s") or w for w in re.findall(r"[^\W_]+", text.lower())]


def every_at(ctx: Context, level: Level, position: int) -> np.ndarray:
    """Keys of every node of ``level`` at ``position`` in its video (every node for 0)."""
    assert ctx.spans is not None
    keys = ctx.spans(level).matching((), 0, 0)
    return keys[at_position(ctx, level, keys, position)] if position else keys


def at_position(ctx: Context, level: Level, keys: np.ndarray, position: int, among: bool = True) -> np.ndarray:
    """Mask of ``keys`` that are the ``position``-th of ``keys`` in their video (``among``),
    or of the whole level (not ``among``, or where the context has no spans)."""
    if ctx.spans is not None:
        spans = ctx.spans(level)
        ordinals, totals = spans.positions_among(keys) if among else spans.positions(keys)
    else:
        ordinals, totals = nodes.positions(ctx.cur, ctx.cid, level, [int(k) for k in keys])
    return router.position_mask(ordinals, totals, position)


Spans = dict[int, tuple[str, int, int]]  # key -> (video, start, end)


def spans_of(ctx: Context, level: Level, keys: list[int]) -> Spans:
    """``key -> (video, start, end)`` of the keys of ``level`` still present, in the
    order given: from the in-memory spans when the context has them (building the nodes
    to read three fields was a tenth of a paragraph search on 1,000 videos)."""
    if ctx.spans is not None:
        return ctx.spans(level).spans(keys)
    found = fetch(ctx, keys)
    return {k: (n.video_id, n.start_ms, n.end_ms) for k in keys if (n := found.get(k)) is not None}


def owners(parents: Spans, starts: list[tuple[str, int]]) -> np.ndarray:
    """For each (video, start), the place in ``list(parents)`` of the parent whose span
    holds it, or -1 (the parents of one level do not overlap in a video)."""
    keys = list(parents)
    if not keys or not starts:
        return np.full(len(starts), -1, np.int64)
    codes = {video: code for code, video in enumerate(sorted({v for v, _, _ in parents.values()}))}
    order = np.array(sorted(range(len(keys)), key=lambda i: (parents[keys[i]][0], parents[keys[i]][1])), np.int64)
    # (video code, start) as complex numbers, which numpy orders by video, then by time
    # (see ``hierarchy.spans._time_key``: one int64 held starts below 2**42 ms alone).
    first = np.array([complex(codes[parents[keys[i]][0]], parents[keys[i]][1]) for i in order])
    ends = np.array([parents[keys[i]][2] for i in order], np.int64)
    probe = np.array([complex(codes.get(v, -1), s) for v, s in starts])
    at = np.maximum(np.searchsorted(first, probe, "right") - 1, 0)
    held = (probe.real >= 0) & (first[at].real == probe.real) & (first[at].imag <= probe.imag)
    held &= np.array([s for _, s in starts], np.int64) < ends[at]
    return np.where(held, order[at], -1)
