"""Execute a search at one level: ANN or exact over filtered candidates, then page."""

from __future__ import annotations

import duckdb
import numpy as np

from hierarchy import filters, nodes
from hierarchy.index import LevelIndex
from hierarchy.types import Filter, Hit, Route, SearchQuery, SearchResult


def run(
    cur: duckdb.DuckDBPyConnection,
    index: LevelIndex,
    cid: int,
    query: SearchQuery,
    vector: np.ndarray,
    exact_filter_below: int,
) -> SearchResult:
    """Hits for one page of ``query`` at its level."""
    wanted = query.offset + query.top_k + 1  # one extra says whether another page exists
    if query.filter.empty:
        keys, sims = index.search(vector, wanted)
    else:
        keys, sims = _filtered(cur, index, cid, query, vector, wanted, exact_filter_below)
    page_keys, page_sims = (
        keys[query.offset : query.offset + query.top_k],
        sims[query.offset : query.offset + query.top_k],
    )
    found = nodes.by_keys(cur, [int(k) for k in page_keys])
    hits = [
        Hit(node=found[int(k)], score=float(s), similarity=float(s), rank=query.offset + i + 1)
        for i, (k, s) in enumerate(zip(page_keys, page_sims, strict=True))
        if int(k) in found
    ]
    route = Route((query.level,), f"level {query.level.label} requested explicitly")
    return SearchResult(hits=hits, route=route, has_more=len(keys) > query.offset + query.top_k)


def _filtered(
    cur: duckdb.DuckDBPyConnection,
    index: LevelIndex,
    cid: int,
    query: SearchQuery,
    vector: np.ndarray,
    wanted: int,
    exact_filter_below: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact scoring of the filter's candidates when few; otherwise over-fetch and filter."""
    candidates = nodes.filtered_keys(cur, cid, query.level, query.filter, exact_filter_below + 1)
    if len(candidates) <= exact_filter_below:
        return _exact(index, candidates, vector, wanted)
    return _overfetch(cur, index, query.filter, vector, wanted)


def _exact(index: LevelIndex, candidates: np.ndarray, vector: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray]:
    if len(candidates) == 0:
        return candidates, np.zeros(0, np.float32)
    matrix = index.vectors(candidates)
    sims = _similarities(index, matrix, vector)
    order = np.argsort(-sims, kind="stable")[:wanted]
    return candidates[order], sims[order]


def _similarities(index: LevelIndex, matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    from hierarchy.types import Metric

    if index.metric is Metric.L2_SQUARED:
        return -((matrix - vector) ** 2).sum(axis=1)
    if index.metric is Metric.COSINE:
        norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(vector)), 1e-12)
        return (matrix @ vector) / np.maximum(norms, 1e-12)
    return matrix @ vector


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
