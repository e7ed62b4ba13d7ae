"""Joint rerank of a ranked list, as named plug-ins.

A reranker sees the head of a ranking (answers at any level, best first), where each
answer lies (video, start, end) and, on demand, the answers' vectors; it returns the
answers in their new order, possibly fewer. Built in:

- ``overlap``: an answer that overlaps a better one in the same video is dropped, so a
  scene and its own segments are one answer, not three;
- ``joint`` (the default): ``overlap``, then maximal marginal relevance over what is
  left. Near-duplicates (cosine at or above ``NEAR_DUPLICATE`` to a better answer, i.e.
  the same moment shown twice, a replay) always move below every distinct answer; with a
  ``diversity`` above 0, every answer also pays for its likeness to the answers above it;
- ``tiered``: ``joint`` within each tier of a routed ranking (scores ``TIER`` apart: a
  game result held, the side named), the tiers kept in order; chosen for such routes;
- ``none``: the ranking unchanged.

``register`` adds another under a new name; the request's ``reranker`` field picks one.
An answer is a ``Ranked`` named tuple: a reranker that rescores one builds a new one
(``answer._replace(score=...)``). Whatever a reranker returns, the searcher caps each
score at the one above it (:func:`capped`): the scores a client reads fall down a page,
and down the pages of a search no write comes between.

A reranker registered with ``stops_early`` is also told how many answers, counted from
the top of its order, the page being served needs (``Candidates.wanted``: the answers
before the page, the page's and one more, which says whether another page exists). It
may return fewer than its whole order once it has placed at least that many: then what
it returns must be the beginning of its whole order (every page of a search reads one
order), and the searcher takes an answer list of ``wanted`` or more as only that. Any
other reranker is always given the whole head (``wanted`` None) and its list is taken as
its whole order; the built-in ones called from it return their whole order too.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from hierarchy.candidates import Ranked
from hierarchy.errors import InvalidArgument
from hierarchy.types import Mode, Route, SearchQuery

NEAR_DUPLICATE = 0.95
FIRST_READ = 4  # a stopping reranker first reads this many times the answers it must place
DEFAULT = "joint"

Span = tuple[str, int, int]


@dataclass(frozen=True)
class Candidates:
    """What a reranker works on: the ranked head, the answers' spans, a way to fetch their
    (unit-length) vectors, the diversity the request asked for (0-1), and, for a reranker
    that stops early, how many answers from the top of its order are wanted (``None``:
    its whole order)."""

    ranked: list[Ranked]
    spans: dict[int, Span]
    vectors: Callable[[list[Ranked]], np.ndarray]
    diversity: float = 0.0
    wanted: int | None = None


Reranker = Callable[[Candidates], list[Ranked]]

_REGISTRY: dict[str, Reranker] = {}
_DROPS_OVERLAPS: set[str] = set()
_STOPS_EARLY: set[str] = set()


def register(name: str, reranker: Reranker, drops_overlaps: bool = False, stops_early: bool = False) -> None:
    """Make ``reranker`` available under ``name`` (replacing one of the same name).
    ``drops_overlaps``: it promises no two answers overlap, so the ranking past the head
    it sees is freed of overlaps too (:func:`past`). ``stops_early``: it honours
    ``Candidates.wanted`` (see the module docstring)."""
    _REGISTRY[name] = reranker
    _DROPS_OVERLAPS.discard(name)
    _STOPS_EARLY.discard(name)
    if drops_overlaps:
        _DROPS_OVERLAPS.add(name)
    if stops_early:
        _STOPS_EARLY.add(name)


def applies(query: SearchQuery) -> bool:
    """Whether a search's ranking is reranked: as asked, else when it names a reranker or
    a diversity (one level too), else routed and mixed ones."""
    asked = bool(query.reranker) or query.diversity > 0 or query.mode is not Mode.LEVEL
    return query.rerank if query.rerank is not None else asked


def chosen(name: str, route: Route) -> str:
    """The reranker a ranking is given: the one the request names, else ``overlap`` for a
    ranking by a count ("the half with the most corners"), ``tiered`` for one that a game
    result ("a draw") or a side ("a long home possession") lifts, else the default.
    Halves, matches and drives are averages, near duplicates of each other: the joint
    rerank moved an 8-corner half below a 7, a 2-2 draw below two wins, the other side's
    drives above the named side's."""
    parse = route.parse
    if name or parse is None:
        return name or DEFAULT
    if parse.count is not None:
        return "overlap"
    return "tiered" if parse.result is not None or parse.side else DEFAULT


def drops_overlaps(name: str) -> bool:
    """Whether the reranker called ``name`` (the default for an empty name) drops overlaps."""
    return (name or DEFAULT) in _DROPS_OVERLAPS


def stops_early(name: str) -> bool:
    """Whether the reranker called ``name`` (the default for an empty name) may return
    only the beginning of its order (it honours ``Candidates.wanted``)."""
    return (name or DEFAULT) in _STOPS_EARLY


def get(name: str, field: str = "reranker") -> Reranker:
    """The reranker called ``name`` (the default for an empty name)."""
    found = _REGISTRY.get(name or DEFAULT)
    if found is None:
        known = ", ".join(sorted(_REGISTRY))
        raise InvalidArgument(field, f"unknown reranker {name!r}; choose one of: {known}")
    return found


def capped(ranked: list[Ranked]) -> list[Ranked]:
    """``ranked`` as a rerank ordered it, each answer's score capped at the one above it,
    so that scores never rise down the list (the score a client sorts or merges by keeps
    the rerank's order; the score before it is the hit's ``raw_score``). Answers the
    rerank did not move below worse ones keep their score; the list is copied only when
    one changes."""
    out, cap = ranked, math.inf
    for i, item in enumerate(ranked):
        if item.score > cap:
            if out is ranked:
                out = list(ranked)
            out[i] = item._replace(score=cap)
        elif item.score <= cap:  # (a plug-in's NaN caps nothing after it)
            cap = item.score
    return out


def names() -> list[str]:
    """Names of the registered rerankers."""
    return sorted(_REGISTRY)


class _Taken:
    """The spans of the answers kept so far, per video, none overlapping another."""

    def __init__(self) -> None:
        self._videos: dict[str, tuple[list[int], list[int]]] = {}

    def take(self, span: Span) -> bool:
        """Keep ``span`` unless it overlaps a kept one; whether it was kept."""
        # The spans kept in a video never overlap, so sorted by start they are sorted by
        # end too, and the one kept span that can overlap a new one is the last to start
        # before it ends: one bisection per answer. (A pairwise matrix walked row by row
        # took 0.3 ms for a 100-answer head; a scan of every kept span, 13 % of AUTO at
        # 1 M segments, where the head lies in a few videos.)
        video, start, end = span
        starts, ends = self._videos.setdefault(video, ([], []))
        at = bisect.bisect_left(starts, end)  # kept spans [0, at) start before this one ends
        if at and ends[at - 1] > start:
            return False
        starts.insert(at, start)
        ends.insert(at, end)
        return True


def _not_overlapping(found: Candidates) -> Iterator[Ranked]:
    """The answers that overlap no better answer kept in the same video, best first, found
    as they are asked for."""
    taken = _Taken()
    # An answer gone since it was ranked (no span) is dropped.
    return (item for item in found.ranked if (span := found.spans.get(item.key)) is not None and taken.take(span))


def suppress_overlaps(found: Candidates) -> list[Ranked]:
    """Drop answers that overlap a better answer in the same video."""
    kept = _not_overlapping(found)
    return list(kept if found.wanted is None else itertools.islice(kept, found.wanted))


def past(head: list[Ranked], tail: list[Ranked], spans: dict[int, Span]) -> list[Ranked]:
    """The answers of ``tail`` (the ranking after a reranked ``head``) that overlap neither
    an answer of the head nor a better one of the tail."""
    taken = _Taken()
    for item in head:
        if (span := spans.get(item.key)) is not None:
            taken.take(span)
    return [item for item in tail if (span := spans.get(item.key)) is not None and taken.take(span)]


def diversify(ranked: list[Ranked], vectors: np.ndarray, diversity: float) -> list[Ranked]:
    """Greedy maximal marginal relevance: repeatedly take the answer with the best
    ``(1 - diversity) * relevance - diversity * likeness`` to the answers already taken,
    where relevance is the score rescaled to 0-1 over this list; near-duplicates of a
    taken answer wait until every distinct answer is placed."""
    if len(ranked) < 2:
        return list(ranked)
    if diversity <= 0.0:
        return _duplicates_last(ranked, vectors)
    scores = np.array([r.score for r in ranked], np.float64)
    spread = scores.max() - scores.min()
    relevance = (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
    likeness = np.clip(vectors @ vectors.T, -1.0, 1.0)
    closest = np.full(len(ranked), -1.0)
    left = list(range(len(ranked)))
    order: list[int] = []
    while left:
        candidates = np.array(left)
        value = (1.0 - diversity) * relevance[candidates] - diversity * np.maximum(closest[candidates], 0.0)
        duplicate = closest[candidates] >= NEAR_DUPLICATE
        value = np.where(duplicate, value - 10.0, value)  # below every distinct answer
        pick = int(candidates[int(np.argmax(value))])  # argmax keeps the better rank on ties
        order.append(pick)
        left.remove(pick)
        closest = np.maximum(closest, likeness[pick])
    return [ranked[i] for i in order]


def _duplicates_last(ranked: list[Ranked], vectors: np.ndarray) -> list[Ranked]:
    """``diversify`` with no diversity, in one pass: answers keep their order, except that
    a near-duplicate of an answer placed before it waits until the end."""
    waiting = _waiting(vectors, vectors[:0])
    order = [i for i in range(len(ranked)) if i not in waiting] + sorted(waiting)
    return [ranked[i] for i in order]


def _waiting(vectors: np.ndarray, placed: np.ndarray) -> set[int]:
    """The rows of ``vectors`` (answers in rank order, after the ``placed`` ones) alike to
    an answer placed before them: a placed one, or an earlier row that does not wait."""
    waiting = set(np.nonzero((vectors @ placed.T >= NEAR_DUPLICATE).any(axis=1))[0].tolist()) if len(placed) else set()
    # Pairs (i, j < i) alike enough to be duplicates; most answers have none, and an
    # answer without one is always placed, so only those with one are walked.
    # The pairs come row by row, so every j of a row (j < i) is settled before the row:
    # one walk over the pairs in Python instead of a numpy call per row (soccer, whose
    # templated captions make many look-alikes: an AUTO search 2.48 -> 2.35-2.42 ms).
    later, earlier = np.nonzero(np.tril(vectors @ vectors.T >= NEAR_DUPLICATE, -1))
    for i, j in zip(later.tolist(), earlier.tolist(), strict=True):
        if j not in waiting:
            waiting.add(i)
    return waiting


def _distinct_first(found: Candidates, kept: Iterator[Ranked]) -> list[Ranked]:
    """``_duplicates_last`` over ``kept``, read a few at a time: answers alike to none
    placed before them come first in their order, the others after them. Once
    ``found.wanted`` are placed, those are the beginning of the order and the rest is
    neither read nor fetched (the vectors of a 100-answer head were a quarter of a routed
    search serving ten)."""
    placed: list[Ranked] = []
    waiting: list[Ranked] = []
    placed_vectors: list[np.ndarray] = []
    while found.wanted is None or len(placed) < found.wanted:
        # Four times the answers wanted at first, then twice as many as read so far: a head
        # full of look-alikes (templated captions) is read in a step or two, not in one per
        # missing answer. (Soccer's routed searches read 5 answers for each one placed; from
        # ``wanted`` at first, that took three reads of ~60 µs each.)
        read = len(placed) + len(waiting)
        size = len(found.ranked) if found.wanted is None else max(FIRST_READ * found.wanted - len(placed), read)
        chunk = list(itertools.islice(kept, size))
        if not chunk:
            return placed + waiting  # the whole head is read
        vectors = found.vectors(chunk)
        before = np.concatenate(placed_vectors) if placed_vectors else vectors[:0]
        alike = _waiting(vectors, before)
        distinct = [i for i in range(len(chunk)) if i not in alike]
        placed += [chunk[i] for i in distinct]
        waiting += [chunk[i] for i in sorted(alike)]
        placed_vectors.append(vectors[distinct])
    return placed  # the first ``wanted`` of the order


def joint(found: Candidates) -> list[Ranked]:
    """Overlaps suppressed, then near-duplicates moved down (and MMR when asked)."""
    if found.diversity > 0.0:  # each pick weighs every answer left: the whole head
        kept = list(_not_overlapping(found))
        return kept if len(kept) < 2 else diversify(kept, found.vectors(kept), found.diversity)
    return _distinct_first(found, _not_overlapping(found))


# What a route adds to the calibrated score of the answers it lifts (a result held, the
# side named; -100 the other side's): answers that many apart are in different tiers.
TIER = 100.0


def tiered(found: Candidates) -> list[Ranked]:
    """``joint`` inside each tier of the ranking (answers whose scores round to the same
    multiple of ``TIER``), the tiers in their order: near-duplicates move down, and the
    answers that hold a result or the side named stay above the others."""
    out: list[Ranked] = []
    for _, group in itertools.groupby(_not_overlapping(found), key=lambda item: round(item.score / TIER)):
        wanted = None if found.wanted is None else found.wanted - len(out)
        if found.diversity > 0.0:
            kept = list(group)
            out += kept if len(kept) < 2 else diversify(kept, found.vectors(kept), found.diversity)
        else:
            out += _distinct_first(replace(found, wanted=wanted), group)
        if found.wanted is not None and len(out) >= found.wanted:
            break
    return out


register("joint", joint, drops_overlaps=True, stops_early=True)
register("tiered", tiered, drops_overlaps=True, stops_early=True)
register("overlap", suppress_overlaps, drops_overlaps=True, stops_early=True)
register("none", lambda found: list(found.ranked))
