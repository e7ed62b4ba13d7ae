"""In-process measurements on the same data directory once the server has stopped:
restart (index recovery) time, ``Database.search`` latency per level and AUTO, and
recall@10 of every level's index against exact search over the stored vectors."""

from __future__ import annotations

import cProfile
import pstats
import time
from pathlib import Path
from typing import Any

import numpy as np

from hierarchy.db import Database
from hierarchy.options import DatabaseOptions
from hierarchy.types import Level, Mode, SearchQuery
from tools.bench.measure import exact_top_k, recall_at_k, summarise, timed_calls
from tools.bench.strata import COLLECTION, SEARCH_LEVELS, TEXT_COLLECTION


def open_database(data_dir: Path, memory_limit: str) -> tuple[Database, float]:
    """Open the directory and recover its indexes; the seconds that took."""
    began = time.perf_counter()
    db = Database.open(data_dir, DatabaseOptions(memory_limit=memory_limit))
    return db, time.perf_counter() - began


def query(collection: str, level: str, vector: np.ndarray | None = None, text: str = "", **kw: Any) -> SearchQuery:
    """A search as the servicer builds it: one level, or AUTO."""
    if level == "auto":
        return SearchQuery(collection, text=text, vector=vector, mode=Mode.AUTO, **kw)
    return SearchQuery(collection, level=Level.parse(level), text=text, vector=vector, **kw)


def search_latency(db: Database, vectors: np.ndarray, texts: list[str]) -> list[dict[str, Any]]:
    """Single-caller latency per level and AUTO, vector queries then text queries."""
    rows = []
    for kind, collection, items in (("vector", COLLECTION, list(vectors)), ("text", TEXT_COLLECTION, texts)):
        if not items:
            continue
        for level in SEARCH_LEVELS:
            call = _caller(db, collection, kind, level)
            rows.append(
                {
                    "path": "in-process",
                    "kind": kind,
                    "level": level,
                    "clients": 1,
                    **summarise(timed_calls(call, items)),
                }
            )
    return rows


def _caller(db: Database, collection: str, kind: str, level: str) -> Any:
    if kind == "text":
        return lambda q: db.search(query(collection, level, text=q))
    return lambda q: db.search(query(collection, level, vector=q))


def recall(db: Database, vectors: np.ndarray, k: int = 10, deep: int = 100) -> dict[str, dict[str, Any]]:
    """recall@k of each level (the level's index, through ``Database.search`` without
    rerank) against an exact numpy search over the level's stored vectors; at the segment
    level also recall@``deep`` of a page of ``deep`` answers."""
    cid = db.get_collection(COLLECTION).id
    out = {}
    for level in (Level.SEGMENT, Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO):
        ids, base = _stored(db, cid, level)
        if len(ids) == 0:
            continue
        depth = deep if level is Level.SEGMENT else k
        truth = [[ids[i] for i in row] for row in exact_top_k(base, vectors, depth)]
        out[level.label] = {"nodes": len(ids), "queries": len(vectors)}
        for size in sorted({k, depth}):
            found = [_found(db, level, q, size) for q in vectors]
            out[level.label][f"recall_at_{size}"] = recall_at_k(found, [row[:size] for row in truth], size)
    return out


def _found(db: Database, level: Level, vector: np.ndarray, size: int) -> list[str]:
    """Node ids of a page of ``size`` answers at ``level``, as ranked (no rerank, no evidence)."""
    page = query(COLLECTION, level.label, vector=vector, top_k=size, rerank=False, include_evidence=False)
    return [h.node.id for h in db.search(page).hits]


def _stored(db: Database, cid: int, level: Level) -> tuple[list[str], np.ndarray]:
    """Node ids and unit float32 vectors of one level, from the store (the source of truth)."""
    table = (
        db.store.cursor()
        .sql(
            f"SELECT node_id, vector FROM nodes WHERE collection_id = {int(cid)} AND level = {int(level)} ORDER BY key"
        )
        .to_arrow_table()
    )
    if table.num_rows == 0:
        return [], np.zeros((0, 0), np.float32)
    flat = table.column("vector").combine_chunks().flatten().to_numpy().astype(np.float32)
    base = flat.reshape(table.num_rows, -1)
    base /= np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-12)
    return table.column("node_id").to_pylist(), base


def profile(db: Database, vectors: np.ndarray, level: str, top: int = 12) -> list[dict[str, Any]]:
    """cProfile of in-process searches at ``level``: the functions with the most own time."""
    call = _caller(db, COLLECTION, "vector", level)
    prof = cProfile.Profile()
    prof.enable()
    for q in vectors:
        call(q)
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    for (path, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{_short(path)}:{line}({name})", "calls": calls, "own_s": tottime, "cum_s": cumtime})
    total = sum(r["own_s"] for r in rows) or 1.0
    rows.sort(key=lambda r: -r["own_s"])
    return [
        {**r, "own_share": round(r["own_s"] / total, 3), "own_s": round(r["own_s"], 4), "cum_s": round(r["cum_s"], 4)}
        for r in rows[:top]
    ]


def _short(path: str) -> str:
    for marker in ("/hierarchy/", "/service/", "/tools/"):
        if marker in path:
            return marker.lstrip("/") + path.split(marker, 1)[1]
    return path.split("site-packages/", 1)[-1]
