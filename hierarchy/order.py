"""One order for ranked answers: best score first, ties by key (lowest first).

A page token resumes a search by finding the previous page's last answers in a deeper
ranking, so the first N answers of any ranking must be the N of a shallower one. Sorting
by score alone does not promise that when scores tie (identical vectors: a replay, a
static shot, the same caption twice): which of the tied answers survive a cut, and in
what order, then changes with the depth asked, and pages repeat some and skip others.
"""

from __future__ import annotations

import numpy as np


def best_first(keys: np.ndarray, scores: np.ndarray, count: int | None = None) -> np.ndarray:
    """Positions of the ``count`` (default: all) best of ``scores``, best first, ties by
    ``keys``: the same first answers whatever ``count`` is."""
    keys, scores = np.asarray(keys), np.asarray(scores)
    pool = np.arange(len(scores))
    if count is not None and count < len(scores):
        if count <= 0:
            return pool[:0]
        # Every answer tied with the count-th best joins the cut; the keys then decide.
        threshold = -np.partition(-scores, count - 1)[count - 1]
        pool = np.flatnonzero(scores >= threshold)
    ranked = pool[np.lexsort((keys[pool], -scores[pool]))]
    return ranked if count is None else ranked[:count]


def near_best(keys: np.ndarray, scores: np.ndarray, count: int, margin: float, most: int) -> np.ndarray:
    """Positions of the ``count`` best of ``scores`` and of every other score within
    ``margin`` of the last of them (relative to its size, past 1: distances run large), in
    no set order: the candidates another scoring of the same rows, off in the last bits,
    could rank first. At most ``most`` (at least ``count``): past that many, of those near
    the last, the lowest keys, as another scoring that ties them orders them."""
    scores = np.asarray(scores)
    if count >= len(scores):
        return np.arange(len(scores))
    if count <= 0:
        return np.zeros(0, np.int64)
    threshold = float(-np.partition(-scores, count - 1)[count - 1])
    band = margin * max(1.0, abs(threshold))
    near = np.flatnonzero(scores >= threshold - band)
    if len(near) <= most:
        return near
    above = near[scores[near] > threshold + band]  # fewer than ``count``
    tied = near[scores[near] <= threshold + band]
    return np.concatenate([above, tied[np.argsort(keys[tied], kind="stable")[: most - len(above)]]])


def in_sorted(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which of ``keys`` are in ``sorted_keys`` (ascending): a binary search per key, where
    ``np.isin`` would sort both arrays again at every call."""
    if not len(sorted_keys):
        return np.zeros(len(keys), bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys
