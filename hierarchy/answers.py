"""Turn ranked keys into hits: nodes, the child hits that explain each answer, ancestors.

Nodes are fetched once per page (answers and evidence together), through the node cache."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hierarchy import candidates, order, router, search
from hierarchy.calibrate import LevelMoments
from hierarchy.candidates import Ranked
from hierarchy.index import LevelIndex
from hierarchy.spans import LevelSpans
from hierarchy.types import Hit, Level, Node, TimeRange
from hierarchy.writecache import LabelReads

if TYPE_CHECKING:
    from hierarchy.plans import Ranking

EVIDENCE = 3
# A parent with more segments than this (a half, a whole video) finds its evidence top
# down: its ``EVIDENCE_SCENES`` best scenes first, then the best segments inside them.
# Scoring every segment of a 90-minute video cost ~0.7 ms a hit, 90 % of a video-level
# search; the descent scores a few hundred vectors.
EXACT_EVIDENCE_BELOW = 512
EVIDENCE_SCENES = 32
# Evidence segments within this many calibrated units of the best one share the focus.
FOCUS_MARGIN = 1.0
# One page's evidence is found at a time in the process. It is a long run of short numpy
# and USearch calls, each of which lets go of the interpreter lock; two searches finding
# evidence at once handed the lock to each other at every call, each hand-over waking a
# thread. 100 k benchmark segments, 8 gRPC clients: half-level searches cost 10 ms of CPU
# each instead of 6.7 and answered 115 queries/s instead of 157 (video 106 against 145;
# scenes 351 against 362, segments unchanged). Waiting here, a search sleeps until the
# lock is free.
_EVIDENCE_LOCK = threading.Lock()

# (key, similarity, calibrated score) of one evidence segment
Scored = tuple[int, float, float]


def hits(
    fetch: Callable[[list[int]], dict[int, Node]],
    page: list[Ranked],
    first_rank: int,
    raw: dict[int, float],
    evidence: Callable[[list[tuple[int, Level]]], dict[int, list[Scored]]] | None,
    ancestors: Callable[[list[Node]], dict[str, tuple[Node, ...]]] | None,
) -> list[Hit]:
    """Hits for one page of ranked answers (answers whose node vanished, or whose place in
    the tree did (``ancestors`` leaves them out), are skipped); ``evidence`` None: none
    attached, not even what an answer was ranked with; ``ancestors`` None: none attached."""
    support: dict[int, list[Scored]] = {}
    if evidence is not None:
        support = {r.key: list(r.explained) for r in page if r.explained}
        support.update(evidence([(r.key, r.level) for r in page if not r.explained]))
    wanted = [r.key for r in page] + [key for found in support.values() for key, _, _ in found]
    found = fetch(wanted)
    chains = None if ancestors is None else ancestors([found[r.key] for r in page if r.key in found])
    out = []
    for r in page:
        node = found.get(r.key)
        chain = () if node is None or chains is None else chains.get(node.id)
        if node is None or chain is None:
            continue
        explained = support.get(r.key, [])
        children = tuple(Hit(found[k], z, s, i + 1, z) for i, (k, s, z) in enumerate(explained) if k in found)
        rank = first_rank + len(out)
        out.append(
            Hit(
                node,
                r.score,
                r.similarity,
                rank,
                raw.get(r.key, r.score),
                children,
                chain,
                # An answer ranked with its moments (a sequence's pair) needs all of them.
                focus(node, children, math.inf if r.explained else FOCUS_MARGIN),
                r.count if r.count >= 0 else None,
            )
        )
    return out


def focus(node: Node, evidence: tuple[Hit, ...], margin: float = FOCUS_MARGIN) -> TimeRange:
    """Top-down refinement: the tightest span that holds the evidence segments scoring
    within ``margin`` of the best one (the node's own span when it has no evidence)."""
    if not evidence:
        return TimeRange(node.start_ms, node.end_ms)
    best = max(e.score for e in evidence)
    close = [e.node for e in evidence if e.score >= best - margin]
    return TimeRange(min(n.start_ms for n in close), max(n.end_ms for n in close))


@dataclass(frozen=True)
class EvidenceSource:
    """What finding a parent's evidence reads: the segment index and calibration, the
    spans of every level, and the scene index the descent goes through (None when the
    collection has no scenes yet)."""

    segments: LevelIndex
    moments: LevelMoments
    spans: dict[Level, LevelSpans]
    scenes: LevelIndex | None = None
    time_range: TimeRange | None = None  # the search's filter: evidence lies inside it too
    # Sorted keys of the segments that may explain a parent, most telling first: a parent
    # is explained by the first of these it holds any of (else by its best segments).
    labelled: tuple[np.ndarray, ...] = ()
    # (level, position) of the part of each video a count was taken in ("two goals in
    # the second half": the second half): a parent's evidence lies inside it too.
    counted_part: tuple[Level, int] | None = None


def explaining(
    named: Sequence[str], ranking: Ranking, reads: LabelReads, cid: int
) -> tuple[tuple[np.ndarray, ...], tuple[Level, int] | None]:
    """What explains a parent beyond its best segments: ``EvidenceSource.labelled`` (those
    carrying both a label the filter ``named`` and one the ``ranking`` counted its event
    by, "the half with the most corners": "corner kick"; an ALL search counts nothing;
    then those carrying a label the filter named; either alone where there is one) and
    ``EvidenceSource.counted_part``."""
    parsed, head = ranking.route.parse, ranking.ranked[:1]
    counted = bool(head) and head[0].count >= 0 and parsed is not None and parsed.count is not None
    by_count = candidates.matching_labels(parsed.count_event, reads.labels(cid)) if counted else []
    held = [reads.keys(cid, list(names)) for names in (named, by_count) if names]
    ordinal = parsed.ordinal if counted else None
    of = ordinal.of if ordinal is not None and not ordinal.event_ordered else None
    part = (of, ordinal.position) if of is not None and ordinal is not None and of < head[0].level else None
    return ((np.intersect1d(*held), held[0]) if len(held) == 2 else tuple(held)), part


def _within(span: tuple[int, int], part: tuple[int, int] | None) -> tuple[int, int]:
    return span if part is None else (max(span[0], part[0]), min(span[1], part[1]))


def _counted_parts(source: EvidenceSource) -> dict[str, tuple[int, int]]:
    """``video -> (start, end)`` of the part of each video its count was taken in."""
    if source.counted_part is None or source.counted_part[0] not in source.spans:
        return {}
    level, position = source.counted_part
    spans = source.spans[level]
    keys = spans.matching((), 0, 0)
    keys = keys[router.position_mask(*spans.positions(keys), position)]
    return {video: (start, end) for video, start, end in spans.spans(keys.tolist()).values()}


def evidence_for(source: EvidenceSource, vector: np.ndarray, page: list[tuple[int, Level]]) -> dict[int, list[Scored]]:
    """The segments inside each parent of a page that best match the query: why it was
    chosen. Small parents are scored together in one pass: scored one by one, the calls'
    fixed costs were most of a scene-level search's evidence."""
    with _EVIDENCE_LOCK:
        return _evidence_for(source, vector, page)


def _evidence_for(source: EvidenceSource, vector: np.ndarray, page: list[tuple[int, Level]]) -> dict[int, list[Scored]]:
    spans: dict[int, tuple[str, int, int]] = {}
    for level in {level for _, level in page if level is not Level.SEGMENT and level in source.spans}:
        spans.update(source.spans[level].spans([key for key, at in page if at is level]))
    if (window := source.time_range) is not None:  # a parent overlapping the range: its part inside
        end = window.end_ms or math.inf
        spans = {k: (video, max(s, window.start_ms), int(min(e, end))) for k, (video, s, e) in spans.items()}
    if parts := _counted_parts(source):  # "two goals in the second half": its goals are there
        spans = {k: (v, *_within((s, e), parts.get(v))) for k, (v, s, e) in spans.items()}
    segments = source.spans[Level.SEGMENT]
    out: dict[int, list[Scored]] = {}
    small: dict[int, np.ndarray] = {}
    for key, level in page:
        if key not in spans:
            continue
        inside, starts = segments.inside_with_starts(*spans[key])
        for preferred in source.labelled:
            # A parent passes a label filter (or ranks by a count) through its segments
            # that carry the label: they are what explains it (one labelled otherwise
            # keeps its best ones).
            if (held := order.in_sorted(preferred, inside)).any():
                inside, starts = inside[held], starts[held]
                break
        if len(inside) > EXACT_EVIDENCE_BELOW and level > Level.SCENE:
            # A large parent alone: its descent scores few of its rows, and its rows
            # gathered with other parents' cost more than the calls saved.
            best = _in_best_scenes(source, vector, spans[key], inside, starts)
            # (none of the best scenes may hold a labelled segment: then all are scored)
            keys, sims = search.score_exactly(source.segments, best if len(best) else inside, vector, EVIDENCE)
            out[key] = _scored(source, vector, keys, sims)
        else:
            small[key] = inside
    if small:
        table = _Scores(source.segments, np.concatenate(list(small.values())), vector)
        for key, inside in small.items():
            out[key] = _scored(source, vector, *table.best(inside, EVIDENCE))
    return out


def _scored(source: EvidenceSource, vector: np.ndarray, keys: np.ndarray, sims: np.ndarray) -> list[Scored]:
    scores = source.moments.z(vector, sims)
    return [(int(k), float(s), float(z)) for k, s, z in zip(keys, sims, scores, strict=True)]


def _in_best_scenes(
    source: EvidenceSource, vector: np.ndarray, span: tuple[str, int, int], inside: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """The segments of ``inside`` (starting at ``starts``) that start in one of the
    parent's best scenes, in key order (all of ``inside`` when the parent has no scenes:
    its evidence is then scored exactly)."""
    scene_spans = source.spans.get(Level.SCENE)
    if source.scenes is None or scene_spans is None:
        return inside
    best, _ = source.scenes.score(scene_spans.inside(*span), vector, EVIDENCE_SCENES)
    if len(best) == 0:
        return inside
    # A segment starts in a best scene when it starts before the furthest end of those
    # that start at or before it (the scene's own end, as scenes of a video do not
    # overlap; right even where two would). Matched against the segments already in hand,
    # not looked up again: the look-up of the scenes' children and the intersection took
    # about a tenth of a half-level search.
    bounds = np.array(sorted((s, e) for _, s, e in scene_spans.spans(best.tolist()).values()), np.int64)
    if not len(bounds):
        return inside[:0]
    at = np.searchsorted(bounds[:, 0], starts, "right") - 1
    held = (at >= 0) & (starts < np.maximum.accumulate(bounds[:, 1])[np.maximum(at, 0)])
    return np.sort(inside[held])


class _Scores:
    """Similarities of ``vector`` to a set of keys, scored in one call, by key."""

    def __init__(self, index: LevelIndex, keys: np.ndarray, vector: np.ndarray) -> None:
        found, sims = search.score_exactly(index, np.unique(keys), vector)
        order = np.argsort(found, kind="stable")  # keys removed meanwhile are absent
        self.keys, self.sims = found[order], sims[order]

    def best(self, keys: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``count`` of ``keys`` most similar, best first (ties in the order given)."""
        if not len(self.keys) or not len(keys):
            return keys[:0], self.sims[:0]
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        present = self.keys[at] == keys
        keys, sims = keys[present], self.sims[at[present]]
        order = np.argsort(-sims, kind="stable")[:count]
        return keys[order], sims[order]
