"""Find candidates at one level: ANN over the whole level, exact scoring of a filter's
candidates when they are few, or over-fetching and screening when they are many."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np

from hierarchy import filters, nodes
from hierarchy.index import LevelIndex
from hierarchy.spans import LevelSpans
from hierarchy.types import Filter, Level


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
) -> tuple[np.ndarray, np.ndarray]:
    """The ``wanted`` best (keys, similarities) at ``level`` that pass ``flt``, best first.

    ``spans`` (the level's in-memory spans) answers filters on videos and times without
    a store query."""
    if flt.empty:
        return index.search(vector, wanted)
    if spans is not None and not (flt.labels or flt.attributes):
        span = flt.time_range
        keys = spans().matching(flt.video_ids, span.start_ms if span else 0, span.end_ms if span else 0)
        keys = keys[: exact_filter_below + 1]
    else:
        keys = nodes.filtered_keys(cur, cid, level, flt, exact_filter_below + 1)
    if len(keys) <= exact_filter_below:
        return score_exactly(index, keys, vector, wanted)
    return _overfetch(cur, index, flt, vector, wanted)


def score_exactly(
    index: LevelIndex, keys: np.ndarray, vector: np.ndarray, wanted: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Similarities of ``vector`` to the indexed vectors of ``keys``, best first."""
    return index.score(keys, vector, wanted)


def _overfetch(
    cur: duckdb.DuckDBPyConnection, index: LevelIndex, flt: Filter, vector: np.ndarray, wanted: int
) -> tuple[np.ndarray, np.ndarray]:
    """Ask the index for ever more neighbours until enough pass the filter."""
    count = wanted * 8
    while True:
        keys, sims = index.search(vector, count)
        found = nodes.by_keys(cur, [int(k) for k in keys])
        keep = np.array([int(k) in found and filters.passes(found[int(k)], flt) for k in keys], dtype=bool)
        if keep.sum() >= wanted or count >= len(index):
            return keys[keep][:wanted], sims[keep][:wanted]
        count *= 4
