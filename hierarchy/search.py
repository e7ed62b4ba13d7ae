"""Find candidates at one level: ANN over the whole level, exact scoring of a filter's
candidates when they are few, or over-fetching and screening when they are many.

An unfiltered search of a level may also be *narrowed by the tree*: the children of the
best nodes one level up are scored exactly beside the graph's answers. A segment's
nearest neighbours are mostly moments of its own scene and of scenes like it, near-ties
in a dense cluster, which is where an HNSW graph loses them as the library grows (at 1 M
segments the graph alone found 0.64 of the true ten); the scene level is ten times
smaller, its graph finds its neighbours, and a few hundred exact scores are cheap."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import duckdb
import numpy as np

from hierarchy import filters, nodes
from hierarchy.index import LevelIndex
from hierarchy.order import best_first
from hierarchy.spans import LevelSpans
from hierarchy.types import Filter, Level

NARROW_PARENTS = 32  # parents whose children an unfiltered search scores exactly
# A search for more answers narrows by more parents: twice as many as the answers a page
# holds, up to this many. At 1 M benchmark segments, 100 queries for 50 answers found
# 0.801 of the true 50 by 32 scenes and 0.908 by 100; for 100 answers, 0.662 by 32 and
# 0.820 by 200 (a warm search for 50 answers 5.5 ms against 4.2-4.7). Ten answers are
# narrowed by 32 either way. By the page size, not the offset: every page of one search
# is cut from the same candidates.
NARROW_PARENTS_MAX = 256
# Candidates of a level above the segments (the parents a search narrows by, a routed
# search's pools) are found through the level's graph, its answers rescored from the
# table, once it holds more than this many nodes, even where the level is small enough
# to scan. 100 k benchmark segments, 200 queries: 8,743 scenes scanned in 0.70 ms, through
# the graph in 0.27-0.35 ms for 10-100 answers (0.998-1.000 of the scan's); 3,619 drives
# in 0.33 ms against 0.28-0.36. A segment search took 1.81 ms instead of 2.18 at the same
# recall@10 (0.990). Below it the scan costs little, and is exact whatever the graph.
# A search of one level asked for by the caller still scans below ``exact_below``.
GRAPH_CANDIDATES_ABOVE = 4096


def graph_candidates(index: LevelIndex) -> bool:
    """Whether candidates of ``index``'s level (one above the segments) are found through
    its graph rather than by a scan (see ``GRAPH_CANDIDATES_ABOVE``)."""
    return len(index) > GRAPH_CANDIDATES_ABOVE


def narrow_count(parents: int, answers: int) -> int:
    """Parents to narrow a search for ``answers`` a page by, at least ``parents`` (0: none)."""
    return max(parents, min(2 * answers, NARROW_PARENTS_MAX)) if parents > 0 else 0


class Found(NamedTuple):
    """A level's candidates, best first, and (see :func:`candidates`) the keys scored."""

    keys: np.ndarray
    similarities: np.ndarray
    scored: np.ndarray | None = None


def candidates(
    cur: duckdb.DuckDBPyConnection,
    index: LevelIndex,
    cid: int,
    level: Level,
    flt: Filter,
    vector: np.ndarray,
    wanted: int,
    exact_filter_below: int,
    spans: Callable[[], LevelSpans] | None = None,
    narrow: Callable[[np.ndarray], np.ndarray] | None = None,
    graph: bool = False,
    held: bool = False,
) -> Found:
    """The ``wanted`` best (keys, similarities) at ``level`` that pass ``flt``, best first.

    ``spans`` (the level's in-memory spans) answers filters on videos and times without
    a store query. ``narrow`` (see :func:`children_of_best`) gives more keys of the level
    to score exactly beside the graph's answers of an unfiltered search. With ``graph``
    an unfiltered search goes through the level's graph whatever its size. With ``held``,
    when the answers are the best of every key a filter passes, each scored exactly (at
    most ``exact_filter_below`` pass), ``scored`` holds those keys as held before the
    scoring, in key order: one of them still held and not among the answers scores at
    most their last (a key written since was not scored)."""
    if flt.empty:
        keys, sims = index.search(vector, wanted, graph=graph)
        if narrow is None or index.exact:
            return Found(keys, sims)
        extra = np.setdiff1d(narrow(vector), keys)  # each key once, none the graph found
        return Found(*_merged(keys, sims, *score_exactly(index, extra, vector), wanted))
    keys = filtered_keys(cur, cid, level, flt, exact_filter_below + 1, spans)
    if len(keys) > exact_filter_below:
        return Found(*_overfetch(cur, index, flt, vector, wanted))
    # Read before the scoring: every one of them still held afterwards was scored.
    scored = keys[index.contains(keys)] if held else None
    return Found(*score_exactly(index, keys, vector, wanted), scored)


def filtered_keys(
    cur: duckdb.DuckDBPyConnection,
    cid: int,
    level: Level,
    flt: Filter,
    limit: int,
    spans: Callable[[], LevelSpans] | None = None,
) -> np.ndarray:
    """Keys at ``level`` that pass ``flt``, at most ``limit`` of them: from the level's
    in-memory ``spans`` when the filter names only videos and times (the store scans for
    them: 1.2 ms a query over a soccer library of 46 k segments), else from the store."""
    if spans is None or flt.labels or flt.attributes:
        return nodes.filtered_keys(cur, cid, level, flt, limit)
    span = flt.time_range
    return spans().matching(flt.video_ids, span.start_ms if span else 0, span.end_ms if span else 0)[:limit]


def score_exactly(
    index: LevelIndex, keys: np.ndarray, vector: np.ndarray, wanted: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Similarities of ``vector`` to the indexed vectors of ``keys``, best first."""
    return index.score(keys, vector, wanted)


def children_of_best(
    parents: LevelIndex,
    parent_spans: LevelSpans,
    child_spans: LevelSpans,
    vector: np.ndarray,
    count: int = NARROW_PARENTS,
    visible: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Keys of the children (the nodes inside the spans) of the ``count`` parents nearest
    to ``vector``; ``visible`` masks parents a search may not see yet."""
    wanted = count if visible is None else 2 * count
    keys, _ = parents.search(vector, wanted, graph=graph_candidates(parents))
    if visible is not None:
        keys = keys[visible(keys)][:count]
    return children_of(parent_spans, child_spans, keys)


def children_of(parent_spans: LevelSpans, child_spans: LevelSpans, parents: np.ndarray) -> np.ndarray:
    """Keys of the children of ``parents`` (the nodes that start inside their spans)."""
    found = parent_spans.spans(np.asarray(parents).tolist())
    return child_spans.starting_in(list(found.values()))


def _merged(
    keys: np.ndarray, sims: np.ndarray, more_keys: np.ndarray, more_sims: np.ndarray, wanted: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``wanted`` best of two disjoint rankings, best first."""
    keys, sims = np.concatenate([keys, more_keys]), np.concatenate([sims, more_sims])
    at = best_first(keys, sims, wanted)
    return keys[at], sims[at]


def among(
    index: LevelIndex,
    allowed: np.ndarray,
    vector: np.ndarray,
    wanted: int,
    exact_below: int,
    narrow: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``wanted`` best (keys, similarities) among the sorted keys ``allowed``, best
    first: scored exactly when there are at most ``exact_below``, else the graph's
    answers screened to ``allowed`` and, with ``narrow``, the allowed ones of its keys."""
    if len(allowed) <= exact_below:
        return score_exactly(index, allowed, vector, wanted)
    keys, sims = _screened(index, vector, wanted, lambda found: np.isin(found, allowed))
    if narrow is None or index.exact:
        return keys, sims
    extra = np.setdiff1d(np.intersect1d(narrow(vector), allowed), keys)
    return _merged(keys, sims, *score_exactly(index, extra, vector), wanted)


def _overfetch(
    cur: duckdb.DuckDBPyConnection, index: LevelIndex, flt: Filter, vector: np.ndarray, wanted: int
) -> tuple[np.ndarray, np.ndarray]:
    """The graph's answers that pass the filter."""

    def passing(keys: np.ndarray) -> np.ndarray:
        found = nodes.by_keys(cur, [int(k) for k in keys])
        return np.array([int(k) in found and filters.passes(found[int(k)], flt) for k in keys], dtype=bool)

    return _screened(index, vector, wanted, passing)


def _screened(
    index: LevelIndex, vector: np.ndarray, wanted: int, keep: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Ask the index for ever more neighbours until ``wanted`` of them pass ``keep`` (a mask)."""
    count = wanted * 8
    while True:
        keys, sims = index.search(vector, count)
        passed = keep(keys)
        if passed.sum() >= wanted or count >= len(index):
            return keys[passed][:wanted], sims[passed][:wanted]
        count *= 4
