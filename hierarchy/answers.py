"""Turn ranked keys into hits: nodes, the child hits that explain each answer, ancestors.

Nodes are fetched once per page (answers and evidence together), through the node cache."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hierarchy import search
from hierarchy.auto import Ranked
from hierarchy.calibrate import LevelMoments
from hierarchy.index import LevelIndex
from hierarchy.spans import LevelSpans
from hierarchy.types import Hit, Level, Node, TimeRange

EVIDENCE = 3
# Evidence segments within this many calibrated units of the best one share the focus.
FOCUS_MARGIN = 1.0

# (key, similarity, calibrated score) of one evidence segment
Scored = tuple[int, float, float]


def hits(
    fetch: Callable[[list[int]], dict[int, Node]],
    page: list[Ranked],
    first_rank: int,
    raw: dict[int, float],
    evidence: Callable[[int, Level], list[Scored]],
    ancestors: Callable[[Node], tuple[Node, ...]],
) -> list[Hit]:
    """Hits for one page of ranked answers (answers whose node vanished are skipped)."""
    support = {r.key: evidence(r.key, r.level) for r in page}
    wanted = [r.key for r in page] + [key for found in support.values() for key, _, _ in found]
    found = fetch(wanted)
    out = []
    for r in page:
        node = found.get(r.key)
        if node is None:
            continue
        children = tuple(Hit(found[k], z, s, i + 1, z) for i, (k, s, z) in enumerate(support[r.key]) if k in found)
        rank = first_rank + len(out)
        out.append(
            Hit(
                node,
                r.score,
                r.similarity,
                rank,
                raw.get(r.key, r.score),
                children,
                ancestors(node),
                focus(node, children),
            )
        )
    return out


def focus(node: Node, evidence: tuple[Hit, ...]) -> TimeRange:
    """Top-down refinement: the tightest span of ``node`` that holds the evidence segments
    scoring close to its best one (the node's own span when it has no evidence)."""
    if not evidence:
        return TimeRange(node.start_ms, node.end_ms)
    best = max(e.score for e in evidence)
    close = [e.node for e in evidence if e.score >= best - FOCUS_MARGIN]
    return TimeRange(min(n.start_ms for n in close), max(n.end_ms for n in close))


def evidence_for(
    index: LevelIndex,
    moments: LevelMoments,
    segments: LevelSpans,
    parents: dict[Level, LevelSpans],
    vector: np.ndarray,
    key: int,
    level: Level,
) -> list[Scored]:
    """The segments inside a parent that best match the query: why it was chosen."""
    if level is Level.SEGMENT or level not in parents:
        return []
    span = parents[level].spans([key]).get(key)
    if span is None:
        return []
    keys, sims = search.score_exactly(index, segments.inside(*span), vector, EVIDENCE)
    scores = moments.z(vector, sims)
    return [(int(k), float(s), float(z)) for k, s, z in zip(keys, sims, scores, strict=True)]
