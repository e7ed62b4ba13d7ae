"""SQL for collections and videos (the catalog). Callers hold the facade's locks."""

from __future__ import annotations

import json
import time
from typing import Any

import duckdb

from hierarchy.types import Collection, EmbeddingSpace, Level, Metric, Video, VideoState


def now_ms() -> int:
    """Wall-clock time in integer milliseconds."""
    return int(time.time() * 1000)


def insert_collection(cur: duckdb.DuckDBPyConnection, name: str, space: EmbeddingSpace, config: dict) -> int:
    """Insert a collection row; returns its internal id, never one a deleted collection
    had: caches, index files and in-flight requests of a deleted collection are keyed by
    its id, and a new collection must not inherit them."""
    rows = cur.execute(
        "SELECT greatest(coalesce(max(id), 0), coalesce((SELECT max(CAST(value AS BIGINT)) FROM meta"
        " WHERE key = 'last_collection_id'), 0)) + 1 FROM collections"
    ).fetchall()
    cid = int(rows[0][0])
    cur.execute("INSERT OR REPLACE INTO meta VALUES ('last_collection_id', ?)", [str(cid)])
    cur.execute(
        "INSERT INTO collections VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            cid,
            name,
            space.dimension,
            space.metric.value,
            space.model_name,
            space.model_version,
            space.text_encoder,
            json.dumps(config),
            now_ms(),
        ],
    )
    return cid


_COLLECTION_SQL = """
SELECT c.id, c.name, c.dimension, c.metric, c.model_name, c.model_version, c.text_encoder,
       c.created_ms,
       (SELECT count(*) FROM videos v WHERE v.collection_id = c.id),
       (SELECT count(*) FROM nodes n WHERE n.collection_id = c.id AND n.level = 1),
       c.config
FROM collections c
"""


def _collection(row: tuple) -> Collection:
    space = EmbeddingSpace(int(row[2]), Metric(row[3]), row[4], row[5], row[6])
    return Collection(row[1], space, int(row[7]), int(row[8]), int(row[9]), int(row[0]), json.loads(row[10]))


def get_collection(cur: duckdb.DuckDBPyConnection, name: str) -> Collection | None:
    """The collection named ``name`` with its counts, or None."""
    rows = cur.execute(_COLLECTION_SQL + " WHERE c.name = ?", [name]).fetchall()
    return _collection(rows[0]) if rows else None


def list_collections(cur: duckdb.DuckDBPyConnection, after: str, limit: int) -> list[Collection]:
    """Collections with names after ``after``, in name order."""
    rows = cur.execute(_COLLECTION_SQL + " WHERE c.name > ? ORDER BY c.name LIMIT ?", [after, limit])
    return [_collection(r) for r in rows.fetchall()]


def all_collections(cur: duckdb.DuckDBPyConnection) -> list[Collection]:
    """Every collection (without a page limit)."""
    return [_collection(r) for r in cur.execute(_COLLECTION_SQL + " ORDER BY c.name").fetchall()]


def delete_collection(cur: duckdb.DuckDBPyConnection, cid: int) -> None:
    """Delete a collection and everything in it."""
    for table in ("nodes", "videos", "requests"):
        cur.execute(f"DELETE FROM {table} WHERE collection_id = ?", [cid])
    cur.execute("DELETE FROM collections WHERE id = ?", [cid])


def insert_video(
    cur: duckdb.DuckDBPyConnection,
    cid: int,
    video_id: str,
    duration_ms: int,
    attributes: dict[str, Any],
    hints: dict[Level, list[int]],
) -> None:
    """Insert a video row in state OPEN."""
    cur.execute(
        "INSERT INTO videos VALUES (?, ?, ?, ?, ?, ?, ?)",
        [cid, video_id, duration_ms, json.dumps(attributes), VideoState.OPEN.value, _hints_json(hints), now_ms()],
    )


def _hints_json(hints: dict[Level, list[int]]) -> str:
    return json.dumps({level.label: cuts for level, cuts in hints.items()})


def set_video_hints(cur: duckdb.DuckDBPyConnection, cid: int, video_id: str, hints: dict[Level, list[int]]) -> None:
    """Replace a video's structure hints."""
    cur.execute(
        "UPDATE videos SET hints = ? WHERE collection_id = ? AND video_id = ?", [_hints_json(hints), cid, video_id]
    )


_SEGMENT_COUNT = """(SELECT count(*) FROM nodes n
        WHERE n.collection_id = v.collection_id AND n.video_id = v.video_id AND n.level = 1)"""
_VIDEO_SQL = f"""
SELECT v.video_id, v.duration_ms, v.attributes, v.state, v.created_ms, {_SEGMENT_COUNT}, v.hints
FROM videos v
"""
# The count scans the video's segments (4 ms a video at 100 k segments): a caller that
# counts them itself reads the row without it.
_UNCOUNTED_VIDEO_SQL = _VIDEO_SQL.replace(_SEGMENT_COUNT, "0")


def _video(collection: str, row: tuple) -> Video:
    hints = {Level.parse(name): cuts for name, cuts in json.loads(row[6]).items()}
    return Video(
        row[0], collection, int(row[1]), json.loads(row[2]), VideoState(row[3]), int(row[4]), int(row[5]), hints
    )


def get_video(
    cur: duckdb.DuckDBPyConnection, collection: Collection, video_id: str, count_segments: bool = True
) -> Video | None:
    """One video, or None; without ``count_segments`` its ``segment_count`` is 0."""
    sql = _VIDEO_SQL if count_segments else _UNCOUNTED_VIDEO_SQL
    row = cur.execute(sql + " WHERE v.collection_id = ? AND v.video_id = ?", [collection.id, video_id])
    found = row.fetchall()
    return _video(collection.name, found[0]) if found else None


def list_videos(cur: duckdb.DuckDBPyConnection, collection: Collection, after: str, limit: int) -> list[Video]:
    """Videos with ids after ``after``, in id order."""
    rows = cur.execute(
        _VIDEO_SQL + " WHERE v.collection_id = ? AND v.video_id > ? ORDER BY v.video_id LIMIT ?",
        [collection.id, after, limit],
    )
    return [_video(collection.name, r) for r in rows.fetchall()]


def video_states(cur: duckdb.DuckDBPyConnection, cid: int, video_ids: list[str]) -> dict[str, tuple[str, int]]:
    """``video_id -> (state, duration_ms)`` for those of ``video_ids`` that exist."""
    rows = cur.execute(
        "SELECT video_id, state, duration_ms FROM videos WHERE collection_id = ? AND video_id = ANY(?)",
        [cid, video_ids],
    ).fetchall()
    return {r[0]: (r[1], int(r[2])) for r in rows}


def set_collection_config(cur: duckdb.DuckDBPyConnection, cid: int, config: dict[str, Any]) -> None:
    """Replace a collection's stored configuration."""
    cur.execute("UPDATE collections SET config = ? WHERE id = ?", [json.dumps(config), cid])


def set_video_state(cur: duckdb.DuckDBPyConnection, cid: int, video_id: str, state: VideoState) -> None:
    """Mark a video OPEN or SEALED."""
    cur.execute("UPDATE videos SET state = ? WHERE collection_id = ? AND video_id = ?", [state.value, cid, video_id])


def video_ids_with_segments(cur: duckdb.DuckDBPyConnection, cid: int) -> list[str]:
    """Ids of the collection's videos that have at least one segment, in id order."""
    rows = cur.execute(
        "SELECT DISTINCT video_id FROM nodes WHERE collection_id = ? AND level = 1 ORDER BY video_id", [cid]
    ).fetchall()
    return [r[0] for r in rows]


def videos_with_segments(cur: duckdb.DuckDBPyConnection, cid: int, video_ids: list[str]) -> set[str]:
    """Those of ``video_ids`` that have at least one segment."""
    if not video_ids:
        return set()
    rows = cur.execute(
        "SELECT DISTINCT video_id FROM nodes WHERE collection_id = ? AND level = 1 AND video_id = ANY(?)",
        [cid, video_ids],
    ).fetchall()
    return {r[0] for r in rows}


def delete_video(cur: duckdb.DuckDBPyConnection, cid: int, video_id: str) -> None:
    """Delete a video row and its nodes, and forget the request ids of the batches that
    wrote segments of this video alone (a batch's id and its segments share its commit
    sequence): kept, each held its answer's segment ids for the collection's life, a
    deleted video's on disk for good (2.5 KB a batch of 200 under video churn)."""
    cur.execute(
        "DELETE FROM requests WHERE collection_id = $cid AND seq IN ("
        "SELECT seq FROM nodes WHERE collection_id = $cid AND level = 1 AND video_id = $video "
        "EXCEPT SELECT seq FROM nodes WHERE collection_id = $cid AND level = 1 AND video_id <> $video)",
        {"cid": cid, "video": video_id},
    )
    cur.execute("DELETE FROM nodes WHERE collection_id = ? AND video_id = ?", [cid, video_id])
    cur.execute("DELETE FROM videos WHERE collection_id = ? AND video_id = ?", [cid, video_id])
