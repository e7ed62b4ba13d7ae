"""Change-point detection on sequences of embeddings.

Optimal partition by dynamic programming: minimise the within-run squared deviation
from each run's (weighted) mean plus a penalty per boundary, with minimum and maximum
run lengths. Costs come from prefix sums, so a candidate run is priced in O(dimension).
The run starts that can no longer be best are dropped as the programme goes (PELT,
Killick et al. 2012), so a sequence costs O(n * kept * dimension), where ``kept``, the
starts still in play at an end, is about the items since the latest change (a change
rules out the starts before it, ``min_run`` ends after it), and ``max_run`` at worst, in
a sequence that never changes. For 20,000 frame-rate segments in scenes of 3 to 20 s
(runs of 121 to 5,455), 190 starts on average instead of 5,455. Dropping is exact: the
boundaries are those of the full programme, ties included.

Embeddings of short items are noisy (one caption is one event), and the noise is not
isotropic: ``slow_features`` projects a sequence onto the few directions that change
slowly along it, where a run structure lives, and whitens the per-item noise there, so
that a squared-deviation cost with one penalty fits the data.
"""

from __future__ import annotations

import numpy as np

# Run costs priced at once by ``partition``: at most this many (about 32 MB) at a time.
BLOCK_CELLS = 1 << 22
# Numbers in flight while a block's runs are priced: 2 MB, which stay in cache (with
# 32 MB chunks, 8,000 items that never change took 1.6 s instead of 1.0).
PAIRS_CHUNK = 1 << 18
# Ends priced in one block: more share the per-block work, fewer let the starts dropped
# in a block leave sooner (16 to 48 were about as fast for 33-ms and two-second segments).
BLOCK_ENDS = 24
# The unit roundoff of float64.
_U = float(np.finfo(np.float64).eps) / 2


class PrefixCost:
    """Within-run cost of any run ``[i, j)`` of weighted vectors, from prefix sums."""

    def __init__(self, vectors: np.ndarray, weights: np.ndarray | None = None) -> None:
        n = len(vectors)
        w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
        x = np.asarray(vectors, np.float64)
        self.w = np.concatenate([[0.0], np.cumsum(w)])
        self.s = _running_sums(x * w[:, None])
        self.q = np.concatenate([[0.0], np.cumsum(w * (x * x).sum(axis=1))])

    def pairs(self, ends: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """``out[i, k]``: the cost of the run ``[starts[k], ends[i])`` (meaningless where it
        would be empty), priced in column chunks of at most ``PAIRS_CHUNK`` numbers. Each
        cost is the same to the bit as :meth:`cost` gives for it, whatever the shapes: the
        same operations, each run's squares summed along one contiguous row."""
        out = np.empty((len(ends), len(starts)))
        chunk = max(1, PAIRS_CHUNK // max(1, len(ends) * self.s.shape[1]))
        s_end, w_end, q_end = self.s[ends][:, None, :], self.w[ends][:, None], self.q[ends][:, None]
        for c in range(0, len(starts), chunk):
            part = starts[c : c + chunk]
            weight = w_end - self.w[part]
            total = s_end - self.s[part]
            energy = q_end - self.q[part]
            np.multiply(total, total, out=total)  # in place: the block's largest array
            out[:, c : c + chunk] = energy - total.sum(axis=2) / np.maximum(weight, 1e-12)
        return out

    def cost(self, starts: np.ndarray, end: int | np.ndarray) -> np.ndarray:
        """Cost of runs ``[starts[k], end)`` for every k (or ``[starts[k], end[k])`` when
        ``end`` is an array of the same length; a single start broadcasts against it)."""
        weight = self.w[end] - self.w[starts]
        total = self.s[end] - self.s[starts]
        energy = self.q[end] - self.q[starts]
        return energy - (total * total).sum(axis=1) / np.maximum(weight, 1e-12)


def _cost_error(vectors: np.ndarray, weights: np.ndarray | None, energy: float) -> float:
    """A bound on how far any run's cost priced by :class:`PrefixCost` lies from its
    exact cost (inf when none is known: weights not all positive, or values not finite).

    Standard forward error bounds (Higham, ch. 3, with gamma(k) = k u / (1 - k u)) of
    the prefix sums (sequential, so ``gamma(n)`` times the sum of magnitudes), their
    differences and the cost's few operations; ``energy``, the weighted sum of squared
    norms, bounds every run's energy and so its squared mean term too.
    """
    x = np.asarray(vectors, np.float64)
    n, d = x.shape
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    if n == 0 or not (np.isfinite(x).all() and np.isfinite(w).all() and np.isfinite(energy)):
        return np.inf
    w_min = float(w.min())
    if w_min < 1e-9:
        return np.inf

    def gamma(k: int) -> float:
        return k * _U / (1 - k * _U)

    # Every run has a weight of at least w_min: the relative error of its priced weight.
    omega = gamma(2 * n + 2) * float(w.sum()) / w_min
    if omega >= 0.25:
        return np.inf
    sums = gamma(2 * n + 2) * (np.abs(x) * w[:, None]).sum(axis=0)  # error of a run's sum, by component
    # A run's mean lies within each component's largest magnitude: the error of its
    # squared sum over its weight.
    mean_term = float((2 * np.abs(x).max(axis=0) * sums + sums * sums / w_min).sum())
    bound = energy + mean_term
    return gamma(2 * n + 2 * d + 2) * energy + mean_term + 2 * (gamma(d + 2) + omega) * bound + 2 * _U * bound


def _nearest_middle(w: np.ndarray, mids: np.ndarray, a: int, b: int, tied: np.ndarray) -> int:
    """The place in ``mids`` of the split of ``[a, b)`` among the ``tied`` ones whose
    weight before it is nearest half the run's (``w``: the prefix sums of weights)."""
    off = np.abs(2 * w[mids] - w[a] - w[b])
    return int(np.argmin(np.where(tied, off, np.inf)))


def _running_sums(rows: np.ndarray) -> np.ndarray:
    """Prefix sums of the rows, with a zero row first: ``out[i]`` sums ``rows[:i]``.

    Row by row: numpy's ``cumsum`` down the rows of a C-ordered matrix is five times
    slower (19 ms against 3.6 for a 90-minute video's 2,700 x 512), and both add in the
    same order, so the sums are the same to the bit.
    """
    out = np.zeros((len(rows) + 1, rows.shape[1]))
    for i, row in enumerate(rows):
        np.add(out[i], row, out=out[i + 1])
    return out


# A step at most this share of the items' mean squared norm is rounding, not a change.
STILL_STEP = 1e-12
# The share of a mostly still sequence's steps that must lie in stretches that vary step
# after step for their noise, not the floor, to set its penalty (see noise_level).
VARYING_SHARE = 0.25


def noise_level(vectors: np.ndarray) -> float:
    """A robust estimate of per-step noise energy: half the median squared step.

    Steps of zero (a still shot, a slate, a caption repeated over a sentence's windows:
    one vector again and again) say nothing of the noise. Where every step is one,
    nothing is to be cut: the items' mean squared norm, a penalty far above any cost that
    rounding leaves (with the floor, the prefix sums' rounding cut such a video into
    arbitrary scenes). Where they are more than half the steps, the median is the floor,
    and every change is cut: right for lone changes between still stretches (each is a
    new caption), wrong for stretches that move step after step (planted scenes beside a
    long slate, cut to the shortest run allowed). When such stretches hold a quarter of
    the steps (``VARYING_SHARE``), their own steps set the noise.
    """
    if len(vectors) < 2:
        return 1.0
    x = np.asarray(vectors, np.float64)
    steps = np.diff(x, axis=0)
    energy = (steps * steps).sum(axis=1)
    scale = float((x * x).sum(axis=1).mean())
    moving = energy > STILL_STEP * scale
    if not moving.any():
        return max(scale, 1e-9)
    level = float(np.median(energy)) / 2.0
    if level > 1e-9:
        return level
    varying = moving[1:] & moving[:-1]
    if np.count_nonzero(varying) < VARYING_SHARE * len(energy):
        return 1e-9
    return max(float(np.median(energy[1:][varying])) / 2.0, 1e-9)


def partition(
    vectors: np.ndarray,
    penalty: float,
    min_run: int = 1,
    max_run: int | None = None,
    weights: np.ndarray | None = None,
    bonus: np.ndarray | None = None,
    forced: np.ndarray | None = None,
) -> list[int]:
    """Boundaries (run starts, excluding 0) of the optimal penalised partition.

    ``bonus[i]`` lowers the penalty of a boundary before item i (a shot cut); ``forced``
    marks positions that must be boundaries (no run may span them). No run is shorter
    than ``min_run`` but one that forced boundaries (or the sequence's ends) leave no room
    for: from the latest of them to the next. Where a stretch between them cannot be cut
    into runs of ``min_run`` to ``max_run`` items (a maximum under twice the minimum), a
    short run may end anywhere in that stretch.
    """
    n = len(vectors)
    if n <= 1:
        return []
    max_run = min(max_run or n, n)
    min_run = max(1, min(min_run, n))
    pen = np.full(n + 1, penalty, np.float64)
    if bonus is not None:
        pen[:n] -= np.asarray(bonus, np.float64)
    pen[0] = 0.0  # no boundary before the first item
    ends = np.arange(1, n + 1)
    lo = np.maximum(np.maximum(ends - max_run, 0), _barriers(n, forced))
    room = ends - min_run
    # A run ending too soon after the latest barrier is no run at all (its last start lies
    # before its first) unless it may end short there: then it is the whole stretch.
    short = _short_ends(n, forced, min_run, max_run)
    hi = np.where(room >= lo, room, np.where(short[ends], lo, lo - 1))
    cost = PrefixCost(vectors, weights)
    margin = _drop_margin(cost, pen, _cost_error(vectors, weights, cost.q[-1]))
    back = _optimum(cost, pen, lo, hi, min_run, margin)
    assert back is not None  # every stretch can be cut: in runs within the bounds, or freely
    return _trace(back, n)


def _drop_margin(cost: PrefixCost, pen: np.ndarray, error: float) -> float:
    """How far a start's total must exceed a later start's for the earlier to be dropped
    (see ``_optimum``): three priced costs' ``error``, and the rounding of the four sums
    compared, each at most a few units of roundoff of the largest total (a partition's
    costs and penalties), with a factor of two to spare. It grows with the square of the
    length (the prefix sums' rounding): 2.4 for 20,000 frame-rate segments in 32 slow
    directions, against a penalty of 98."""
    n = len(pen) - 1
    largest = cost.q[-1] + n * (float(np.abs(pen).max()) + error)
    margin = 2 * (3 * error + 16 * _U * 2 * largest)
    return margin if np.isfinite(margin) else np.inf


def _short_ends(n: int, forced: np.ndarray | None, min_run: int, max_run: int) -> np.ndarray:
    """Where a run may end shorter than ``min_run`` (by item count, 0 to n): at a forced
    boundary or the end, and anywhere in a stretch between them that neither one short run
    nor runs of ``min_run`` to ``max_run`` items cut exactly."""
    short = np.zeros(n + 1, bool)
    marks = [0, *(np.flatnonzero(np.asarray(forced, bool)[1:]) + 1 if forced is not None else []), n]
    for a, b in zip(marks, marks[1:], strict=False):
        short[b] = True
        length = b - a
        # One short run, or k runs within the bounds (k·min <= length <= k·max for some k).
        fits = length <= max_run if length < min_run else -(-length // max_run) <= length // min_run
        if not fits:
            short[a + 1 : b] = True
    return short


def _optimum(
    cost: PrefixCost, pen: np.ndarray, lo: np.ndarray, hi: np.ndarray, min_run: int, margin: float
) -> np.ndarray | None:
    """Each end's best start, where a run ending at ``end`` starts from ``lo[end - 1]`` to
    ``hi[end - 1]`` (none where ``hi`` is below ``lo``); None when no partition ends at
    the last item. Of equal totals, the earliest start is best.

    Starts are dropped as in PELT. The cost C is superadditive: C(s, T) >= C(s, t) +
    C(t, T) for s < t < T (a split run's parts deviate from their own means, no more than
    from the whole's). So when at end t a start s totals more than t's best partition and
    the penalty of a boundary at t, then for every end T at least ``min_run`` after t
    (where t is a start whenever s is: ``lo`` never decreases and ``hi`` is T -
    ``min_run`` there) the run from t beats the run from s; s is dropped from then on.
    "More" is by ``margin``, beyond any rounding of the priced costs and the sums, so a
    start dropped totals strictly more than another at every later end and is never the
    best, nor tied with it: every answer is the full programme's, to the bit.
    """
    n = len(lo)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, np.int64)
    # The first end for which each start is known not to be best (n + 1: none yet).
    dropped = np.full(n + 1, n + 1, np.int64)
    first = 1
    while first <= n:
        floor = int(lo[first - 1])  # ``lo`` never decreases: no end from here starts before it
        live = int(np.count_nonzero(dropped[floor:first] > first))
        rows = max(1, min(BLOCK_ENDS, BLOCK_CELLS // (live + BLOCK_ENDS)))
        stop = min(n + 1, first + rows)
        top = int(hi[first - 1 : stop - 1].max()) + 1  # nor at or after this one
        # The block's candidates, in order: the starts still in play (every one from
        # ``first`` on: none of them was a candidate yet).
        starts = np.flatnonzero(dropped[floor:top] > first) + floor
        ends = np.arange(first, stop)
        totals = cost.pairs(ends, starts)
        # Each end's starts, from ``lo`` to ``hi``, are a contiguous slice of ``starts``.
        from_ = np.searchsorted(starts, lo[first - 1 : stop - 1])
        to = np.searchsorted(starts, hi[first - 1 : stop - 1], side="right")
        prior, fees = best[starts], pen[starts]
        # Sequential by nature: each end reads the best partitions before it, and its own
        # best is a start of the ends after it in the block.
        for row, (a, b) in enumerate(zip(from_.tolist(), to.tolist(), strict=True)):
            if b <= a:
                continue
            end = first + row
            total = totals[row, a:b]
            # Best plus cost, then the penalty: the full programme's sums to the bit (each
            # addition commutes, and the order of the two is kept).
            total += prior[a:b]
            total += fees[a:b]
            k = int(np.argmin(total))
            best[end], back[end] = total[k], starts[a + k]
            if end < top:
                prior[len(starts) - top + end] = best[end]
        _drop(dropped, totals, starts, ends, from_, to, best[ends] + pen[ends] + margin, min_run)
        first = stop
    return back if np.isfinite(best[n]) else None


def _drop(
    dropped: np.ndarray,
    totals: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    from_: np.ndarray,
    to: np.ndarray,
    bar: np.ndarray,
    min_run: int,
) -> None:
    """Mark the starts whose total at some end of the block exceeds that end's ``bar`` as
    not best from ``min_run`` after the first such end on (only ends with a finite best
    drop anything)."""
    cols = np.arange(len(starts))
    priced = (cols >= from_[:, None]) & (cols < to[:, None])
    over = priced & (totals > bar[:, None])
    hit = over.any(axis=0)
    if hit.any():
        at = ends[over.argmax(axis=0)[hit]] + min_run
        gone = starts[hit]  # distinct
        dropped[gone] = np.minimum(dropped[gone], at)


def _barriers(n: int, forced: np.ndarray | None) -> np.ndarray:
    """For each item, the latest forced boundary at or before it (0 when none)."""
    marks = np.zeros(n, np.int64)
    if forced is not None:
        idx = np.flatnonzero(np.asarray(forced, bool))
        marks[idx] = idx
    return np.maximum.accumulate(marks)


def _trace(back: np.ndarray, n: int) -> list[int]:
    cuts = []
    end = n
    while end > 0:
        start = int(back[end])
        if start > 0:
            cuts.append(start)
        end = start
    return sorted(cuts)


def slow_features(
    vectors: np.ndarray,
    runs: list[tuple[int, int]],
    dims: int,
    ridge: float = 0.1,
    min_per_dim: int = 8,
) -> np.ndarray:
    """A projection (``dimension x k``, ``k <= dims``) onto the slowest directions of a sequence.

    Slow feature analysis: the directions whose variance between neighbouring items is
    smallest against their overall variance, from the generalised eigenproblem of the
    covariance (each run centred on its own mean) against half the covariance of the
    steps inside runs, the noise, shrunk towards its mean variance by ``ridge``. A
    piecewise-constant signal under per-item noise is slow; the noise is not. Projected,
    per-item noise has about unit variance in every direction. A sequence with fewer
    than ``min_per_dim`` items per dimension is first reduced to its leading principal
    components, so short sequences are not over-fitted.
    """
    n, d = np.shape(vectors)
    route = _slow_features_long if n >= d else _slow_features_general
    return route(vectors, runs, dims, ridge, min_per_dim)


def _slow_features_general(
    vectors: np.ndarray, runs: list[tuple[int, int]], dims: int, ridge: float, min_per_dim: int
) -> np.ndarray:
    """:func:`slow_features` in double precision: whiten by the noise, then the directions
    of largest variance."""
    n, d = np.shape(vectors)
    centred, steps = _centred_and_steps(np.asarray(vectors, np.float64), runs)
    total = centred.T @ centred / max(n, 1)
    noise = steps.T @ steps / max(2 * len(steps), 1)
    basis = _principal_basis(centred, total, max(1, min(d, n // min_per_dim)))
    if basis is not None:
        total, noise = basis.T @ total @ basis, basis.T @ noise @ basis
    noise = noise + np.eye(len(noise)) * (ridge * np.trace(noise) / len(noise) + 1e-12)
    values, vecs = np.linalg.eigh(noise)
    whiten = vecs / np.sqrt(values)
    slow_values, slow = np.linalg.eigh(whiten.T @ total @ whiten)
    projection = whiten @ slow[:, np.argsort(slow_values)[::-1][:dims]]
    return projection if basis is None else basis @ projection


def _slow_features_long(
    vectors: np.ndarray, runs: list[tuple[int, int]], dims: int, ridge: float, min_per_dim: int
) -> np.ndarray:
    """:func:`slow_features` of a sequence with at least as many items as dimensions (a
    match, not a short clip), where a build's cost lies, the cheaper way: the covariance
    products in single precision, and one eigendecomposition after the principal one
    instead of two, since the principal basis diagonalises the covariance. The features
    agree with the double-precision route's to 1e-9; for 2,632 512-d segments (one
    thread) it takes 60 ms against 77. Short sequences keep that route: a few near-tie
    cuts of short clips move with the last bits."""
    n, d = np.shape(vectors)
    centred, steps = _centred_and_steps(np.asarray(vectors, np.float32), runs)
    total = (centred.T @ centred).astype(np.float64) / n
    noise = (steps.T @ steps).astype(np.float64) / max(2 * len(steps), 1)
    rank = max(1, min(d, n // min_per_dim))
    variances, basis = np.linalg.eigh(total)
    variances, basis = variances[::-1][:rank], basis[:, ::-1][:, :rank]
    noise = basis.T @ noise @ basis
    noise += np.eye(rank) * (ridge * np.trace(noise) / rank + 1e-12)
    # With D the principal variances and S = D^-1/2, the directions of largest variance
    # against noise are S w for the eigenvectors w of S noise S with the smallest
    # eigenvalues m, scaled by 1/sqrt(m) to unit noise variance. Directions with no
    # variance are floored far below the largest (all of them, when nothing varies, at 1:
    # no direction is slow then).
    floor = 1e-12 * float(variances[0]) if variances[0] > 0 else 1.0
    scale = 1.0 / np.sqrt(np.maximum(variances, floor))
    m, w = np.linalg.eigh(scale[:, None] * noise * scale[None, :])
    keep = np.argsort(m, kind="stable")[:dims]
    return basis @ (scale[:, None] * w[:, keep] / np.sqrt(m[keep]))


def _centred_and_steps(x: np.ndarray, runs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Each run's items less the run's mean, and the steps between neighbours inside runs."""
    centred = np.vstack([x[a:b] - x[a:b].mean(axis=0) for a, b in runs])
    steps = np.vstack([np.diff(x[a:b], axis=0) for a, b in runs])
    return centred, steps


def _principal_basis(centred: np.ndarray, covariance: np.ndarray, rank: int) -> np.ndarray | None:
    """The leading ``rank`` principal directions of centred rows, or None for all of them."""
    n, d = centred.shape
    if rank >= d:
        return None
    if n < d:  # few rows: the thin SVD is the cheaper route
        return np.linalg.svd(centred, full_matrices=False)[2][:rank].T
    return np.linalg.eigh(covariance)[1][:, ::-1][:, :rank]


def split_in(vectors: np.ndarray, count: int, weights: np.ndarray | None = None) -> list[int]:
    """Boundaries splitting the sequence into exactly ``count`` runs, by repeated best
    binary split of the costliest run. Splits that cost the same (within the rounding of
    their prices) are told apart by weight: the one nearest the run's middle. A video that
    never changes (a still shot, one caption throughout) cost the same split anywhere, and
    rounding alone chose: halves of 2.4 and 27.6 minutes."""
    runs = [(0, len(vectors))]
    cost = PrefixCost(vectors, weights)
    error = _cost_error(vectors, weights, cost.q[-1])
    slack = 4 * error if np.isfinite(error) else 0.0  # unknown: only exact ties
    while len(runs) < min(count, len(vectors)):
        gains = []
        for a, b in runs:
            if b - a < 2:
                gains.append((-np.inf, a))
                continue
            mids = np.arange(a + 1, b)
            whole = cost.cost(np.array([a]), b)[0]
            # Every split at once: [a, m) and [m, b) for each m (one m at a time was a
            # quarter of a 90-minute video's build).
            parts = cost.cost(np.array([a]), mids) + cost.cost(mids, b)  # the start broadcast, not copied
            k = _nearest_middle(cost.w, mids, a, b, parts <= parts.min() + slack)
            gains.append((whole - parts[k], int(mids[k])))
        best = int(np.argmax([g for g, _ in gains]))
        a, b = runs.pop(best)
        mid = gains[best][1]
        runs[best:best] = [(a, mid), (mid, b)]
    return [a for a, _ in runs[1:]]
