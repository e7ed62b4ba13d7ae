"""SQL for nodes: bulk inserts through Arrow, lookups by key, vectors for rebuilds."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from hierarchy import filters
from hierarchy.types import Filter, Level, Node


@dataclass
class NodeBatch:
    """Column-wise rows for the ``nodes`` table (one entry per node)."""

    keys: np.ndarray
    node_ids: list[str]
    level: Level
    video_ids: list[str]
    start_ms: np.ndarray
    end_ms: np.ndarray
    texts: list[str]
    labels: list[list[str]]
    attributes: list[dict]
    shot_cuts: list[bool]
    vectors: np.ndarray
    parent_ids: list[str] | None = None
    child_counts: list[int] | None = None
    label_counts: list[dict[str, int]] | None = None

    def to_arrow(self, cid: int, seq: int) -> pa.Table:
        """The batch as an Arrow table shaped like ``nodes``."""
        n, dim = self.vectors.shape
        flat = pa.array(np.ascontiguousarray(self.vectors, np.float32).reshape(-1))
        return pa.table(
            {
                "key": pa.array(self.keys, pa.int64()),
                "collection_id": pa.array(np.full(n, cid, np.int32)),
                "node_id": pa.array(self.node_ids, pa.string()),
                "level": pa.array(np.full(n, int(self.level), np.int8)),
                "video_id": pa.array(self.video_ids, pa.string()),
                "start_ms": pa.array(self.start_ms, pa.int64()),
                "end_ms": pa.array(self.end_ms, pa.int64()),
                "parent_id": pa.array(self.parent_ids or [""] * n, pa.string()),
                "text": pa.array(self.texts, pa.string()),
                "labels": pa.array(self.labels, pa.list_(pa.string())),
                "attributes": pa.array([json.dumps(a) for a in self.attributes], pa.string()),
                "child_count": pa.array(np.asarray(self.child_counts or [0] * n, np.int32)),
                "label_counts": pa.array([json.dumps(c) for c in self.label_counts or [{}] * n], pa.string()),
                "shot_cut": pa.array(self.shot_cuts, pa.bool_()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
                "seq": pa.array(np.full(n, seq, np.int64)),
            }
        )


def insert(cur: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Append an Arrow table of node rows."""
    cur.register("node_batch", table)
    try:
        cur.execute(
            "INSERT INTO nodes SELECT key, collection_id, node_id, level, video_id, start_ms, end_ms, "
            "parent_id, text, labels, attributes::JSON, child_count, label_counts::JSON, shot_cut, "
            "vector::FLOAT[], seq FROM node_batch"
        )
    finally:
        # A refused insert (a taken id) aborts the transaction, which then refuses this
        # too; its rollback drops the view.
        with contextlib.suppress(duckdb.TransactionException):
            cur.unregister("node_batch")


def existing_ids(cur: duckdb.DuckDBPyConnection, cid: int, node_ids: list[str]) -> set[str]:
    """Those of ``node_ids`` already stored in the collection."""
    rows = cur.execute(
        "SELECT node_id FROM nodes WHERE collection_id = ? AND node_id = ANY(?)", [cid, node_ids]
    ).fetchall()
    return {r[0] for r in rows}


def first_overlap(
    cur: duckdb.DuckDBPyConnection, cid: int, video_ids: list[str], starts: np.ndarray, ends: np.ndarray
) -> tuple[int, str] | None:
    """The first new span that overlaps a stored segment: (its index, the stored id)."""
    spans = pa.table(
        {
            "i": pa.array(np.arange(len(video_ids), dtype=np.int64)),
            "video_id": pa.array(video_ids, pa.string()),
            "s": pa.array(starts, pa.int64()),
            "e": pa.array(ends, pa.int64()),
        }
    )
    cur.register("new_spans", spans)
    try:
        row = cur.execute(
            "SELECT b.i, n.node_id FROM new_spans b JOIN nodes n ON n.collection_id = ? AND n.level = 1 "
            "AND n.video_id = b.video_id AND n.start_ms < b.e AND b.s < n.end_ms ORDER BY b.i LIMIT 1",
            [cid],
        ).fetchall()
    finally:
        cur.unregister("new_spans")
    return (int(row[0][0]), str(row[0][1])) if row else None


_NODE_COLUMNS = (
    "key, node_id, level, video_id, start_ms, end_ms, parent_id, text, labels, attributes, child_count, label_counts, "
    "shot_cut"
)


def from_row(row: tuple) -> Node:
    """A node from a row of ``_NODE_COLUMNS`` (its JSON columns as text)."""
    return Node(
        id=row[1],
        level=Level(row[2]),
        video_id=row[3],
        start_ms=int(row[4]),
        end_ms=int(row[5]),
        parent_id=row[6],
        text=row[7],
        labels=tuple(row[8]),
        attributes=json.loads(row[9]),
        child_count=int(row[10]),
        label_counts=json.loads(row[11]),
        shot_cut=bool(row[12]),
    )


def by_keys(cur: duckdb.DuckDBPyConnection, keys: list[int]) -> dict[int, Node]:
    """Nodes of ``keys`` (missing keys are absent from the result)."""
    if not keys:
        return {}
    rows = cur.execute(f"SELECT {_NODE_COLUMNS} FROM nodes WHERE key = ANY(?)", [keys]).fetchall()
    return {int(r[0]): from_row(r) for r in rows}


def by_ids(cur: duckdb.DuckDBPyConnection, cid: int, node_ids: list[str]) -> dict[str, tuple[int, Node]]:
    """``node_id -> (key, node)`` for those of ``node_ids`` that exist."""
    if not node_ids:
        return {}
    rows = cur.execute(
        f"SELECT {_NODE_COLUMNS} FROM nodes WHERE collection_id = ? AND node_id = ANY(?)", [cid, node_ids]
    ).fetchall()
    return {r[1]: (int(r[0]), from_row(r)) for r in rows}


def filtered_keys(cur: duckdb.DuckDBPyConnection, cid: int, level: Level, flt: Filter, limit: int) -> np.ndarray:
    """Keys at ``level`` that pass ``flt``, at most ``limit`` of them."""
    where, params = filters.sql(flt)
    sql = "SELECT key FROM nodes WHERE collection_id = ? AND level = ?" + where + " LIMIT ?"
    rows = cur.execute(sql, [cid, int(level), *params, limit]).fetchnumpy()
    return rows["key"].astype(np.int64)


def vectors_since(
    cur: duckdb.DuckDBPyConnection, cid: int, level: Level, after_seq: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """(keys, vectors, max seq) of the level's nodes committed after ``after_seq``."""
    table = cur.sql(
        f"SELECT key, vector, seq FROM nodes WHERE collection_id = {int(cid)} AND level = {int(level)} "
        f"AND seq > {int(after_seq)} ORDER BY key"
    ).to_arrow_table()
    if table.num_rows == 0:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), after_seq
    keys, vectors = _keys_and_vectors(table)
    return keys, vectors, int(table.column("seq").to_numpy().max())


def vectors_until(
    cur: duckdb.DuckDBPyConnection, cid: int, level: Level, up_to_seq: int, rows: int = 65_536
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(keys, float32 vectors) of the level's nodes committed at or before ``up_to_seq``,
    in key order, ``rows`` at a time (a million vectors at once would hold 4 GB)."""
    where = f"collection_id = {int(cid)} AND level = {int(level)} AND seq <= {int(up_to_seq)}"
    every = keys_until(cur, cid, level, up_to_seq)
    for lo in range(0, len(every), rows):
        first, last = int(every[lo]), int(every[min(lo + rows, len(every)) - 1])
        table = cur.sql(
            f"SELECT key, vector FROM nodes WHERE {where} AND key BETWEEN {first} AND {last} ORDER BY key"
        ).to_arrow_table()
        yield _keys_and_vectors(table)


def keys_until(cur: duckdb.DuckDBPyConnection, cid: int, level: Level, up_to_seq: int) -> np.ndarray:
    """Keys of the level's nodes committed at or before ``up_to_seq``, in key order."""
    where = f"collection_id = {int(cid)} AND level = {int(level)} AND seq <= {int(up_to_seq)}"
    return cur.sql(f"SELECT key FROM nodes WHERE {where} ORDER BY key").fetchnumpy()["key"]


def _keys_and_vectors(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    keys = table.column("key").to_numpy()
    flat = table.column("vector").combine_chunks().flatten().to_numpy()
    return keys, flat.astype(np.float32).reshape(table.num_rows, -1)


def level_counts(cur: duckdb.DuckDBPyConnection, cid: int) -> dict[Level, tuple[int, int]]:
    """``level -> (node count, max seq)`` for a collection."""
    rows = cur.execute(
        "SELECT level, count(*), max(seq) FROM nodes WHERE collection_id = ? GROUP BY level", [cid]
    ).fetchall()
    return {Level(r[0]): (int(r[1]), int(r[2])) for r in rows}


LAST_COMMIT = "last_commit"  # meta: the highest commit as a delete saw it


def max_sequence(cur: duckdb.DuckDBPyConnection) -> int:
    """The highest commit sequence stored (0 for an empty store): of the nodes and requests
    left, or as the last delete saw it (it may have taken the nodes of the highest)."""
    rows = cur.execute(
        "SELECT coalesce(max(seq), 0) FROM (SELECT seq FROM nodes UNION ALL SELECT seq FROM requests "
        "UNION ALL SELECT CAST(value AS BIGINT) FROM meta WHERE key = ?)",
        [LAST_COMMIT],
    )
    return int(rows.fetchall()[0][0])


def record_last(cur: duckdb.DuckDBPyConnection, seq: int) -> None:
    """Keep ``seq``, the highest commit, in a delete's transaction (run under the store's
    ``deleting`` lock): the commit sequence a restarted server reports never goes back."""
    cur.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [LAST_COMMIT, str(seq)])


def count_at_or_before(cur: duckdb.DuckDBPyConnection, cid: int, level: Level, seq: int) -> int:
    """How many nodes of the level were committed at or before ``seq``."""
    row = cur.execute(
        "SELECT count(*) FROM nodes WHERE collection_id = ? AND level = ? AND seq <= ?", [cid, int(level), seq]
    ).fetchall()
    return int(row[0][0])


def video_keys(cur: duckdb.DuckDBPyConnection, cid: int, video_id: str) -> dict[Level, np.ndarray]:
    """Keys of a video's nodes, per level."""
    rows = cur.execute(
        "SELECT level, key FROM nodes WHERE collection_id = ? AND video_id = ?", [cid, video_id]
    ).fetchall()
    out: dict[Level, list[int]] = {}
    for level, key in rows:
        out.setdefault(Level(level), []).append(int(key))
    return {lvl: np.asarray(k, np.int64) for lvl, k in out.items()}


def every_key(by_level: dict[Level, np.ndarray]) -> list[int]:
    """Every key of a video's nodes, as :func:`video_keys` gives them per level."""
    return np.concatenate([np.zeros(0, np.int64), *by_level.values()]).tolist()


def video_segments(cur: duckdb.DuckDBPyConnection, cid: int, video_id: str) -> tuple[np.ndarray, dict[str, Any]]:
    """A video's segments in time order: (keys, columns) with vectors as one matrix."""
    table = cur.sql(
        "SELECT key, start_ms, end_ms, vector, attributes, labels, text, shot_cut FROM nodes "
        f"WHERE collection_id = {int(cid)} AND level = 1 AND video_id = $vid ORDER BY start_ms",
        params={"vid": video_id},
    ).to_arrow_table()
    n = table.num_rows
    flat = table.column("vector").combine_chunks().flatten().to_numpy() if n else np.zeros(0, np.float32)
    columns = {
        "starts": table.column("start_ms").to_numpy(),
        "ends": table.column("end_ms").to_numpy(),
        "vectors": flat.astype(np.float32).reshape(n, -1) if n else np.zeros((0, 0), np.float32),
        "attributes": [{} if a == "{}" else json.loads(a) for a in table.column("attributes").to_pylist()],
        "labels": table.column("labels").to_pylist(),
        "texts": table.column("text").to_pylist(),
        "shot_cuts": np.asarray(table.column("shot_cut").to_pylist(), bool),
    }
    return table.column("key").to_numpy(), columns


def delete_parents(cur: duckdb.DuckDBPyConnection, cid: int, video_id: str) -> None:
    """Remove a video's built nodes (every level above the segments)."""
    cur.execute("DELETE FROM nodes WHERE collection_id = ? AND video_id = ? AND level > 1", [cid, video_id])


def set_parents(cur: duckdb.DuckDBPyConnection, keys: np.ndarray, parent_ids: list[str]) -> None:
    """Point segments at their new parents."""
    cur.register("new_parents", pa.table({"key": pa.array(keys, pa.int64()), "parent_id": pa.array(parent_ids)}))
    try:
        cur.execute("UPDATE nodes SET parent_id = p.parent_id FROM new_parents p WHERE nodes.key = p.key")
    finally:
        cur.unregister("new_parents")


def find_request(cur: duckdb.DuckDBPyConnection, cid: int, request_id: str) -> tuple[int, dict] | None:
    """A stored answer to ``request_id``: (seq, response)."""
    row = cur.execute(
        "SELECT seq, response FROM requests WHERE collection_id = ? AND request_id = ?", [cid, request_id]
    ).fetchall()
    return (int(row[0][0]), json.loads(row[0][1])) if row else None


def save_request(cur: duckdb.DuckDBPyConnection, cid: int, request_id: str, seq: int, response: dict) -> None:
    """Remember the answer to ``request_id`` (inside the batch's transaction)."""
    cur.execute("INSERT INTO requests VALUES (?, ?, ?, ?)", [cid, request_id, seq, json.dumps(response)])


def positions(cur: duckdb.DuckDBPyConnection, cid: int, level: Level, keys: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """For each key, its 0-based position among its video's nodes of ``level`` in time
    order, and how many such nodes the video has."""
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = cur.execute(
        "SELECT key, pos, total FROM (SELECT key, row_number() OVER w - 1 AS pos, "
        "count(*) OVER (PARTITION BY video_id) AS total FROM nodes WHERE collection_id = ? AND level = ? "
        "AND video_id IN (SELECT video_id FROM nodes WHERE key = ANY(?)) "
        "WINDOW w AS (PARTITION BY video_id ORDER BY start_ms)) WHERE key = ANY(?)",
        [cid, int(level), keys, keys],
    ).fetchall()
    found = {int(r[0]): (int(r[1]), int(r[2])) for r in rows}
    pairs = [found.get(k, (-1, 0)) for k in keys]
    return np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64)


def labelled_segments(
    cur: duckdb.DuckDBPyConnection, cid: int, labels: list[str], flt: Filter
) -> list[tuple[int, str, int]]:
    """(key, video, start) of segments carrying any of ``labels`` that pass ``flt``."""
    where, params = filters.sql(flt)
    rows = cur.execute(
        "SELECT key, video_id, start_ms FROM nodes WHERE collection_id = ? AND level = 1 AND list_has_any(labels, ?)"
        + where,
        [cid, labels, *params],
    ).fetchall()
    return [(int(r[0]), str(r[1]), int(r[2])) for r in rows]


def labelled_keys(cur: duckdb.DuckDBPyConnection, cid: int, labels: list[str], after: int = -1) -> np.ndarray:
    """The keys, sorted, of the collection's segments carrying any of ``labels`` (written
    after commit ``after``)."""
    rows = cur.execute(
        "SELECT key FROM nodes WHERE collection_id = ? AND level = 1 AND seq > ? AND list_has_any(labels, ?) "
        "ORDER BY key",
        [cid, after, labels],
    ).fetchall()
    return np.array([r[0] for r in rows], np.int64)


def labelled_events(
    cur: duckdb.DuckDBPyConnection, cid: int, labels: list[str], video_ids: list[str] | None = None, after: int = -1
) -> list[tuple[str, int, dict[str, Any]]]:
    """(video, start, attributes) of the segments carrying any of ``labels`` (of
    ``video_ids`` only, when given; written after commit ``after``)."""
    where, params = (" AND video_id = ANY(?)", [video_ids]) if video_ids is not None else ("", [])
    rows = cur.execute(
        "SELECT video_id, start_ms, attributes FROM nodes WHERE collection_id = ? AND level = 1 AND seq > ?"
        " AND list_has_any(labels, ?)" + where,
        [cid, after, labels, *params],
    ).fetchall()
    return [(str(r[0]), int(r[1]), json.loads(r[2]) if isinstance(r[2], str) else dict(r[2])) for r in rows]


def distinct_labels(cur: duckdb.DuckDBPyConnection, cid: int, after: int = -1) -> list[str]:
    """Every label used by the collection's segments (written after commit ``after``)."""
    rows = cur.execute(
        "SELECT DISTINCT unnest(labels) FROM nodes WHERE collection_id = ? AND level = 1 AND seq > ?", [cid, after]
    ).fetchall()
    return sorted(str(r[0]) for r in rows)
