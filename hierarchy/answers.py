"""Turn ranked keys into hits: nodes, the child hits that explain each answer, ancestors."""

from __future__ import annotations

from collections.abc import Callable

import duckdb
import numpy as np

from hierarchy import nodes, search
from hierarchy.auto import Ranked
from hierarchy.calibrate import LevelMoments
from hierarchy.index import LevelIndex
from hierarchy.types import Filter, Hit, Level, Node, TimeRange

EVIDENCE = 3


def hits(
    cur: duckdb.DuckDBPyConnection,
    cid: int,
    page: list[Ranked],
    first_rank: int,
    raw: dict[int, float],
    evidence: Callable[[Node], tuple[Hit, ...]],
    ancestors: Callable[[Node], tuple[Node, ...]],
) -> list[Hit]:
    """Hits for one page of ranked answers (answers whose node vanished are skipped)."""
    found = nodes.by_keys(cur, [r.key for r in page])
    out = []
    for r in page:
        node = found.get(r.key)
        if node is None:
            continue
        out.append(
            Hit(
                node,
                r.score,
                r.similarity,
                first_rank + len(out),
                raw.get(r.key, r.score),
                evidence(node),
                ancestors(node),
            )
        )
    return out


def evidence_for(
    cur: duckdb.DuckDBPyConnection,
    cid: int,
    index: LevelIndex,
    moments: LevelMoments,
    vector: np.ndarray,
    node: Node,
) -> tuple[Hit, ...]:
    """The segments inside ``node`` that best match the query: why the node was chosen."""
    if node.level is Level.SEGMENT:
        return ()
    inside = Filter(video_ids=(node.video_id,), time_range=TimeRange(node.start_ms, node.end_ms))
    keys = nodes.filtered_keys(cur, cid, Level.SEGMENT, inside, 100_000)
    keys, sims = search.score_exactly(index, keys, vector, EVIDENCE)
    scores = moments.z(vector, sims)
    found = nodes.by_keys(cur, [int(k) for k in keys])
    return tuple(
        Hit(found[int(k)], float(z), float(s), i + 1, float(z))
        for i, (k, s, z) in enumerate(zip(keys, sims, scores, strict=True))
        if int(k) in found
    )
