"""Consistency checks: do the store, the vector indexes and the trees agree?

DuckDB is the source of truth; an index is right when it holds exactly the store's
vectors. Per collection and level:

- count: vectors in the index equal nodes in the store;
- watermark: the index covers the highest sequence the store holds at that level;
- keys: every stored key is indexed, and every indexed key is stored;
- vectors: a random sample of indexed vectors equals the stored ones within f16 precision.

Per video that has a tree (built, or sealed), the tree:

- parent: every node below the root points to a node one level up in the same video
  (segments appended to an open video after its build may have none yet);
- span: a child lies inside its parent's span;
- overlap: nodes of one level do not overlap;
- contiguity: a parent's children are one unbroken run of their level, in time order;
- child count: a parent's stored child count is its number of children;
- root: exactly one node of every level above the segments.

The caller holds the collection's write lock, so the store and the index are seen at
one moment; nothing here writes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sized
from dataclasses import dataclass, field

import duckdb
import numpy as np

from hierarchy.index import LevelIndex
from hierarchy.types import Collection, Level, VideoState

EXAMPLES = 5  # example ids named in a problem's message
# Elementwise tolerance between a stored float32 and its f16 copy in the index: f16 keeps
# 11 significant bits (relative error <= 2**-11), and flushes tiny values towards zero.
RELATIVE_TOLERANCE = 1e-3
ABSOLUTE_TOLERANCE = 1e-4


class ProblemKind(enum.Enum):
    """Which check a problem failed."""

    COUNT = "count"
    WATERMARK = "watermark"
    MISSING_FROM_INDEX = "missing_from_index"
    MISSING_FROM_STORE = "missing_from_store"
    VECTOR = "vector"
    PARENT = "parent"
    SPAN = "span"
    OVERLAP = "overlap"
    CONTIGUITY = "contiguity"
    CHILD_COUNT = "child_count"
    ROOT = "root"


ProblemSink = Callable[[ProblemKind, str], None]  # records one problem of the level being checked


@dataclass(frozen=True)
class Problem:
    """One disagreement: where, which check, and what is wrong (with example ids)."""

    collection: str
    level: Level
    kind: ProblemKind
    message: str


@dataclass
class VerifyReport:
    """Every problem found, and how much was checked."""

    problems: list[Problem] = field(default_factory=list)
    collections: int = 0
    levels: int = 0
    nodes: int = 0
    vectors: int = 0
    videos: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing disagrees."""
        return not self.problems

    def add(self, other: VerifyReport) -> None:
        """Fold another report (of another collection) into this one."""
        self.problems += other.problems
        self.collections += other.collections
        self.levels += other.levels
        self.nodes += other.nodes
        self.vectors += other.vectors
        self.videos += other.videos


def check_collection(
    cur: duckdb.DuckDBPyConnection, coll: Collection, indexes: Mapping[Level, LevelIndex], sample: int = 256
) -> VerifyReport:
    """Check one collection's indexes against its store rows, and its trees."""
    report = VerifyReport(collections=1)
    stored_levels = {Level(r[0]) for r in cur.execute(_LEVELS_SQL, [coll.id]).fetchall()}
    # An index that holds nothing is no index: a search makes an empty level's, a restart
    # recovers only levels holding nodes, and the levels checked must not depend on which.
    for level in sorted(stored_levels | {level for level, index in indexes.items() if len(index)}):
        report.levels += 1
        _check_level(cur, coll, level, indexes.get(level), sample, report)
    _check_trees(cur, coll, report)
    return report


_LEVELS_SQL = "SELECT DISTINCT level FROM nodes WHERE collection_id = ?"


def _check_level(
    cur: duckdb.DuckDBPyConnection,
    coll: Collection,
    level: Level,
    index: LevelIndex | None,
    sample: int,
    report: VerifyReport,
) -> None:
    stored, max_seq = _stored_keys(cur, coll.id, level)
    indexed = _indexed_keys(index)
    report.nodes += len(stored)

    def problem(kind: ProblemKind, message: str) -> None:
        report.problems.append(Problem(coll.name, level, kind, message))

    if len(stored) != len(indexed):
        problem(ProblemKind.COUNT, f"the store holds {len(stored)} nodes, the index {len(indexed)} vectors")
    watermark = index.watermark if index is not None else 0
    if len(stored) and watermark < max_seq:
        problem(ProblemKind.WATERMARK, f"the index covers sequence {watermark}, the store holds up to {max_seq}")
    unindexed = np.setdiff1d(stored, indexed)
    if len(unindexed):
        names = _names(cur, unindexed[:EXAMPLES])
        problem(
            ProblemKind.MISSING_FROM_INDEX, f"{_count(unindexed, 'stored node')} without an indexed vector: {names}"
        )
    orphans = np.setdiff1d(indexed, stored)
    if len(orphans):
        keys = ", ".join(str(k) for k in orphans[:EXAMPLES])
        problem(ProblemKind.MISSING_FROM_STORE, f"{_count(orphans, 'indexed key')} not in the store: {keys}")
    if index is not None:
        report.vectors += _check_vectors(cur, index, np.intersect1d(stored, indexed), sample, problem)


def _stored_keys(cur: duckdb.DuckDBPyConnection, cid: int, level: Level) -> tuple[np.ndarray, int]:
    """The level's keys in the store, sorted, and the highest sequence among them."""
    table = cur.execute(
        "SELECT key, seq FROM nodes WHERE collection_id = ? AND level = ? ORDER BY key", [cid, int(level)]
    ).fetchnumpy()
    keys = np.asarray(table["key"], np.int64)
    return keys, int(np.max(table["seq"])) if len(keys) else 0


def _indexed_keys(index: LevelIndex | None) -> np.ndarray:
    """The keys an index holds, sorted."""
    if index is None:
        return np.zeros(0, np.int64)
    return index.keys()


def _count(items: Sized, noun: str) -> str:
    return f"{len(items)} {noun}" + ("" if len(items) == 1 else "s")


def _names(cur: duckdb.DuckDBPyConnection, keys: np.ndarray) -> str:
    rows = cur.execute("SELECT key, node_id FROM nodes WHERE key = ANY(?)", [keys.tolist()]).fetchall()
    found = dict(rows)
    return ", ".join(f"{found.get(int(k), '?')} (key {int(k)})" for k in keys)


def _check_vectors(
    cur: duckdb.DuckDBPyConnection, index: LevelIndex, common: np.ndarray, sample: int, problem: ProblemSink
) -> int:
    """Compare up to ``sample`` indexed vectors with the stored ones; returns how many."""
    if len(common) > sample:
        common = np.sort(np.random.default_rng(0).choice(common, size=sample, replace=False))
    if len(common) == 0:
        return 0
    stored = _stored_vectors(cur, common)
    indexed = index.vectors(common)
    if stored.shape != indexed.shape:
        problem(ProblemKind.VECTOR, f"stored vectors have shape {stored.shape}, indexed ones {indexed.shape}")
        return len(common)
    close = np.isclose(indexed, stored, rtol=RELATIVE_TOLERANCE, atol=ABSOLUTE_TOLERANCE).all(axis=1)
    bad = common[~close]
    if len(bad):
        names = _names(cur, bad[:EXAMPLES])
        problem(ProblemKind.VECTOR, f"{len(bad)} of {len(common)} sampled vectors differ from the stored ones: {names}")
    return len(common)


def _stored_vectors(cur: duckdb.DuckDBPyConnection, keys: np.ndarray) -> np.ndarray:
    """Stored vectors of ``keys`` (sorted, all present), in the order of ``keys``."""
    table = cur.sql(
        "SELECT vector FROM nodes WHERE key = ANY($keys) ORDER BY key", params={"keys": keys.tolist()}
    ).to_arrow_table()
    flat = table.column("vector").combine_chunks().flatten().to_numpy()
    return flat.astype(np.float32).reshape(table.num_rows, -1)


# -- trees ---------------------------------------------------------------------------

# Videos with a tree: built (any node above the segments) or sealed.
_TREE_VIDEOS = """
WITH tree_videos AS (
    SELECT DISTINCT video_id FROM nodes WHERE collection_id = $cid AND level > 1
    UNION SELECT video_id FROM videos WHERE collection_id = $cid AND state = $sealed
)
"""

# Per check: what it names, the fault, and a query yielding (level, id) of each offender.
_TREE_CHECKS: dict[ProblemKind, tuple[str, str, str]] = {
    ProblemKind.PARENT: (
        "node",
        "with a missing parent, or one at the wrong level or in another video",
        """
        SELECT c.level, c.node_id FROM nodes c
        JOIN videos v ON v.collection_id = c.collection_id AND v.video_id = c.video_id
        LEFT JOIN nodes p ON p.collection_id = c.collection_id AND p.node_id = c.parent_id
        WHERE c.collection_id = $cid AND c.level < 5 AND c.video_id IN (SELECT video_id FROM tree_videos)
          AND NOT (c.level = 1 AND c.parent_id = '' AND v.state <> $sealed)
          AND (p.key IS NULL OR p.level <> c.level + 1 OR p.video_id <> c.video_id)
        """,
    ),
    ProblemKind.SPAN: (
        "node",
        "outside their parent's span",
        """
        SELECT c.level, c.node_id FROM nodes c
        JOIN nodes p ON p.collection_id = c.collection_id AND p.node_id = c.parent_id
        WHERE c.collection_id = $cid AND (c.start_ms < p.start_ms OR c.end_ms > p.end_ms)
        """,
    ),
    ProblemKind.OVERLAP: (
        "node",
        "overlapping the one before at their level",
        """
        SELECT level, node_id FROM (
            SELECT level, node_id, start_ms,
                   lag(end_ms) OVER (PARTITION BY video_id, level ORDER BY start_ms, key) AS previous_end
            FROM nodes WHERE collection_id = $cid
        ) WHERE previous_end > start_ms
        """,
    ),
    ProblemKind.CONTIGUITY: (
        "node",
        "whose children are not one unbroken run of their level",
        """
        SELECT p.level, p.node_id FROM (
            SELECT parent_id, max(pos) - min(pos) + 1 AS span, count(*) AS n FROM (
                SELECT n.parent_id,
                       row_number() OVER (PARTITION BY n.video_id, n.level ORDER BY n.start_ms, n.key) AS pos
                FROM nodes n JOIN videos v ON v.collection_id = n.collection_id AND v.video_id = n.video_id
                WHERE n.collection_id = $cid
                  -- segments of a reopened video that wait for its next build break no run
                  AND NOT (n.level = 1 AND n.parent_id = '' AND v.state <> $sealed)
            ) WHERE parent_id <> '' GROUP BY parent_id
        ) k JOIN nodes p ON p.collection_id = $cid AND p.node_id = k.parent_id
        WHERE k.span <> k.n
        """,
    ),
    ProblemKind.CHILD_COUNT: (
        "node",
        "whose stored child count differs from their children",
        """
        SELECT p.level, p.node_id FROM nodes p
        LEFT JOIN (
            SELECT parent_id, count(*) AS n FROM nodes WHERE collection_id = $cid AND parent_id <> ''
            GROUP BY parent_id
        ) k ON k.parent_id = p.node_id
        WHERE p.collection_id = $cid AND p.level > 1 AND coalesce(k.n, 0) <> p.child_count
        """,
    ),
    ProblemKind.ROOT: (
        "video",
        "without exactly one node of every level above the segments",
        """
        SELECT 5 AS level, t.video_id FROM tree_videos t
        LEFT JOIN nodes n ON n.collection_id = $cid AND n.video_id = t.video_id AND n.level > 1
        GROUP BY t.video_id
        HAVING count(n.key) FILTER (WHERE n.level = 5) <> 1 OR count(DISTINCT n.level) <> 4
        """,
    ),
}


def _check_trees(cur: duckdb.DuckDBPyConnection, coll: Collection, report: VerifyReport) -> None:
    params = {"cid": coll.id, "sealed": VideoState.SEALED.value}
    report.videos += int(cur.execute(_TREE_VIDEOS + "SELECT count(*) FROM tree_videos", params).fetchall()[0][0])
    for kind, (noun, what, sql) in _TREE_CHECKS.items():
        found: dict[Level, list[str]] = {}
        for level, node_id in cur.execute(_TREE_VIDEOS + sql, params).fetchall():
            found.setdefault(Level(level), []).append(str(node_id))
        for level, ids in sorted(found.items()):
            examples = ", ".join(sorted(ids)[:EXAMPLES])
            report.problems.append(Problem(coll.name, level, kind, f"{_count(ids, noun)} {what}: {examples}"))
