"""Pairs of moments for a sequence query (two events, one after the other; see
``hierarchy.sequence``).

A routed search ranks pairs instead of single moments: the second event's segment starts
at most ``GAP_MS`` after the first one ends and at most ``STEPS`` segments later in the
same video. Pairs come from both sides: each of the best matches of the first event with
the segments after it, and each of the best matches of the second with the segments
before it. A pair scores the mean of its two calibrated scores, so one strong moment
with an unrelated neighbour loses to two good ones in a row. Each answer is the pair's
longer segment (the node that covers most of the sequence), its score the pair's.
"""

from __future__ import annotations

import numpy as np

from hierarchy import candidates, filters
from hierarchy.candidates import Context, Ranked
from hierarchy.spans import SpanBlock
from hierarchy.types import Filter, Level

GAP_MS = 10_000  # the second event starts at most this long after the first one ends
STEPS = 3  # and is at most this many segments later
POOL = 200  # best matches of each event the pairs start from (the answers end with their pairs)


def pairs(ctx: Context, flt: Filter, vectors: tuple[np.ndarray, np.ndarray], size: int) -> list[Ranked] | None:
    """The best pairs of moments, first event then second, as ranked segments (see the
    module docstring); None when the library has no segment spans to pair them by."""
    if ctx.spans is None:
        return None
    block = ctx.spans(Level.SEGMENT).whole()  # merged once: each look-up on the level would merge it again
    # From each event's POOL best matches, however deep a page reads: pools that grew with
    # the page found better pairs deeper, and the ranking moved under the pages already shown.
    a, b = _candidate_pairs(ctx, block, flt, vectors, POOL)
    (za, sa), (zb, sb) = _scored(ctx, (a, b), vectors)
    held_a, start_a, end_a = block.bounds(a)
    held_b, start_b, end_b = block.bounds(b)
    keep = np.isfinite(za) & np.isfinite(zb) & held_a & held_b & (start_b - end_a <= GAP_MS) & _passing(ctx, flt, a, b)
    # Scored as arrays, one Ranked built per answer: a loop over the ~1,200 pairs in Python
    # took 3-11 ms of a sequence query whose single-level search takes under 1.
    a, b, za, zb, sa, sb = (x[keep] for x in (a, b, za, zb, sa, sb))
    # The longer of the two stands for the pair: it covers more of the sequence.
    by_b = (end_b - start_b)[keep] > (end_a - start_a)[keep]
    key, score = np.where(by_b, b, a), (za + zb) / 2
    chosen = _best_per_key(key, score)[:size]
    return [_answer(int(a[i]), int(b[i]), (float(sa[i]), float(za[i])), (float(sb[i]), float(zb[i])), bool(by_b[i]))
            for i in chosen.tolist()]  # fmt: skip


def _best_per_key(key: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Positions of each key's best pair (the first of equals), best first; keys of equal
    score in the order each was first seen."""
    if not len(key):
        return np.zeros(0, np.int64)
    grouped = np.lexsort((np.arange(len(key)), -score, key))  # by key, best first, then first seen
    best = grouped[np.r_[True, key[grouped][1:] != key[grouped][:-1]]]
    _, first_seen = np.unique(key, return_index=True)  # by key, as ``best``
    return best[np.lexsort((first_seen, -score[best]))]


def _answer(a: int, b: int, first: tuple[float, float], second: tuple[float, float], by_second: bool) -> Ranked:
    """A pair as a ranked segment: the longer moment (the second's when ``by_second``),
    scored by the mean of both calibrated scores; both moments explain it, best first.
    ``first`` and ``second`` are each moment's (similarity, calibrated score)."""
    moments = [(a, *first), (b, *second)]
    both = tuple(sorted(moments, key=lambda m: -m[2]))  # its focus spans the pair
    key, similarity = (b, second[0]) if by_second else (a, first[0])
    return Ranked(key, Level.SEGMENT, (first[1] + second[1]) / 2, similarity, both)


def _candidate_pairs(
    ctx: Context, block: SpanBlock, flt: Filter, vectors: tuple[np.ndarray, np.ndarray], size: int
) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) segment keys of the pairs worth scoring: the best matches of the
    first event with the segments after them, and of the second with those before."""
    origins = []
    for vector in vectors:
        found = candidates.pool(ctx, Level.SEGMENT, flt, vector, size)
        origins.append(found.keys if found is not None else np.zeros(0, np.int64))
    forward, backward = _adjacent(block, origins[0], 1), _adjacent(block, origins[1], -1)
    a = np.concatenate([forward[0], backward[1]])
    b = np.concatenate([forward[1], backward[0]])
    if len(a):
        a, b = np.unique(np.stack([a, b], axis=1), axis=0).T
    if ctx.visible is not None and len(a):
        seen = ctx.visible(Level.SEGMENT, a) & ctx.visible(Level.SEGMENT, b)
        a, b = a[seen], b[seen]
    return np.asarray(a, np.int64), np.asarray(b, np.int64)


def _adjacent(spans: SpanBlock, keys: np.ndarray, direction: int) -> tuple[np.ndarray, np.ndarray]:
    """(key, neighbour) pairs: each key with the ``STEPS`` segments after it
    (``direction`` 1) or before it (-1) in its video."""
    found = [spans.adjacent(keys, direction * step) for step in range(1, STEPS + 1)]
    origin = np.concatenate([keys[rows] for rows, _ in found])
    other = np.concatenate([neighbours for _, neighbours in found])
    return origin, other


def _scored(
    ctx: Context, keys: tuple[np.ndarray, np.ndarray], vectors: tuple[np.ndarray, np.ndarray]
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per event, the calibrated scores and similarities of its keys (in their order; -inf
    and 0 for a key no longer present), both events scored exactly in one pass over the
    pairs' segments (one each read the rows twice)."""
    wanted = np.union1d(*keys)
    scored, sims = ctx.index(Level.SEGMENT).score_all(wanted, np.stack(vectors))
    at = np.searchsorted(wanted, scored)
    out = []
    for event, vector in enumerate(vectors):
        z = np.full(len(wanted), -np.inf)
        s = np.zeros(len(wanted))
        z[at], s[at] = ctx.moments(Level.SEGMENT).z(vector, sims[event]), sims[event]
        where = np.searchsorted(wanted, keys[event])
        out.append((z[where], s[where]))
    return out[0], out[1]


def _passing(ctx: Context, flt: Filter, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Which pairs have both moments passing the filter: a neighbour was not found
    through it (a video filter holds for both, as they share a video)."""
    if flt.time_range is None and not flt.labels and not flt.attributes:
        return np.ones(len(a), bool)
    found = candidates.fetch(ctx, np.union1d(a, b).tolist())
    passing = {key for key, node in found.items() if filters.passes(node, flt)}
    return np.array([ka in passing and kb in passing for ka, kb in zip(a.tolist(), b.tolist(), strict=True)], bool)
