"""Exact scoring of a query against stored rows (USearch's SIMD kernels read half floats
directly), and similarities from distances: higher is always better."""

from __future__ import annotations

import threading

import numpy as np
from usearch.index import BatchMatches, Matches
from usearch.index import search as usearch_search

from hierarchy import order
from hierarchy.types import Metric


def similarity_from_distance(metric: Metric, distances: np.ndarray) -> np.ndarray:
    """USearch distances -> similarities where higher is better."""
    if metric is Metric.L2_SQUARED:
        return -distances
    return 1.0 - distances


def similarity_of(metric: Metric, dots: np.ndarray, norms: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Similarities (higher is better) from rows' dot products with ``query`` and their norms."""
    if metric is Metric.L2_SQUARED:
        return -(norms * norms - 2.0 * dots + float(query @ query))
    if metric is Metric.COSINE:
        return dots / np.maximum(norms * max(float(np.linalg.norm(query)), 1e-12), 1e-12)
    return dots


# USearch's exact search over a matrix slows down when two threads call it at once: over
# 8,743 half-float rows (512-d; 400 too), two threads doing half the queries each took twice
# as long as one doing them all; one call at a time, as long as one thread (a waiting
# search's graph search, DuckDB and gRPC work still run beside it).
_EXACT_LOCK = threading.Lock()


def exact_search(rows: np.ndarray, query: np.ndarray, count: int, metric: Metric) -> BatchMatches | Matches:
    """USearch's exact search of ``query`` over ``rows``, one call in the process at a time."""
    with _EXACT_LOCK:
        return usearch_search(rows, query, count, metric.value, exact=True, threads=1)


# Answers asked past the ``count`` wanted, so that answers tied at the cut (identical
# vectors: repeated captions) are all seen in one pass over the rows: each pass scores
# every row, and asking for more only lengthens a partial sort.
TIE_ROOM = 64


def exact_top(
    keys: np.ndarray, rows: np.ndarray, query: np.ndarray, count: int, metric: Metric
) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``rows`` of the ``count`` most similar to ``query`` and their
    similarities, best first, ties by ``keys`` (the rows' keys). Where the answers tied at
    the cut fill all the room asked for, every row is ranked: which of them a top-k search
    kept would be arbitrary."""
    for asked in (min(len(rows), count + TIE_ROOM), len(rows)):
        matches = exact_search(rows, query, asked, metric)
        at = np.asarray(matches.keys, np.int64)
        sims = similarity_from_distance(metric, np.asarray(matches.distances, np.float32))
        if asked == len(rows) or sims[-1] != sims[count - 1]:
            break
    best = order.best_first(keys[at], sims, count)
    return at[best], sims[best]
