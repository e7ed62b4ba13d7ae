"""Helpers of the core tests: vectors, batches, queries, counts."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.options import DatabaseOptions
from hierarchy.types import EmbeddingSpace, Level, SearchQuery, SearchResult, SegmentInput
from tools.bench.corpus import SEGMENT_MS as CORPUS_SEGMENT_MS
from tools.bench.corpus import Corpus
from tools.soccer import EVENTS, generate

DIM = 16
COLLECTION = "games"
SOCCER = "soccer"  # the collection of ``sealed_soccer_match``
SEGMENT_MS = 1000

OpenDb = Callable[..., Database]

ROOT = Path(__file__).resolve().parents[2]  # the repository: where a child process finds the packages
# A command prefix that runs a child without root's power over file permissions
# (CAP_DAC_OVERRIDE), as an ordinary user runs the server; nothing when not root.
UNPRIVILEGED = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []


def unprivileged() -> list[str]:
    """:data:`UNPRIVILEGED`, or the test skipped where root has no setpriv to drop it with."""
    if UNPRIVILEGED and not shutil.which("setpriv"):
        pytest.skip("runs as root without setpriv: file permissions cannot be made to apply")
    return UNPRIVILEGED


INDEXED = 200  # vectors of the index tests' ``vectors`` fixture (keys 1..INDEXED)


def keys(count: int, first: int = 1) -> np.ndarray:
    """``count`` consecutive keys from ``first``."""
    return np.arange(first, first + count, dtype=np.int64)


def unit_vectors(count: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """``count`` random unit-length float32 rows."""
    rows = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def unit(rows: np.ndarray) -> np.ndarray:
    """``rows`` (or one row) as float32, scaled to unit length."""
    rows = np.asarray(rows, np.float32)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def segments(video_id: str, vectors: np.ndarray, first_ms: int = 0) -> list[SegmentInput]:
    """Back-to-back segments of ``SEGMENT_MS`` each, one per vector row."""
    return [
        SegmentInput(video_id, first_ms + i * SEGMENT_MS, first_ms + (i + 1) * SEGMENT_MS, row)
        for i, row in enumerate(vectors)
    ]


def load_sealed(db: Database, collection: str, corpus: Corpus, labelled: bool = False) -> None:
    """Every video of a benchmark corpus created, its segments appended and sealed (each
    segment labelled with its planted event when ``labelled``)."""
    for video, rows in corpus.video_slices():
        db.create_video(collection, video)
        starts = corpus.start_ms[rows].tolist()
        labels = [[EVENTS[e]] if labelled else [] for e in corpus.labels[rows]]
        db.append_segments(
            collection,
            [
                SegmentInput(video, t, t + CORPUS_SEGMENT_MS, v, labels=names)
                for t, v, names in zip(starts, corpus.vectors[rows], labels, strict=True)
            ],
        )
        db.seal_video(collection, video)


def query(vector: np.ndarray, top_k: int = 10, collection: str = COLLECTION, **kwargs: object) -> SearchQuery:
    """A segment-level vector query."""
    return SearchQuery(collection, Level.SEGMENT, vector=vector, top_k=top_k, **kwargs)  # type: ignore[arg-type]


def segment_count(db: Database, collection: str = COLLECTION) -> int:
    """Segments stored in the collection, as the store counts them."""
    return db.get_collection(collection).segment_count


def indexed_count(db: Database, collection: str = COLLECTION) -> int:
    """Vectors in the collection's segment index (0 when it has none)."""
    levels = db.stats(collection)[0].levels
    return next((s.indexed_count for s in levels if s.level is Level.SEGMENT), 0)


def fast_options(**overrides: object) -> DatabaseOptions:
    """Options sized for tests; ``overrides`` replace single fields."""
    return DatabaseOptions(memory_limit="256MB", threads=1, **overrides)  # type: ignore[arg-type]


def all_pages(db: Database, q: SearchQuery, max_pages: int = 50) -> list[SearchResult]:
    """Every page of a search, following ``next_page_token`` to the end."""
    pages = [db.search(q)]
    while pages[-1].next_page_token:
        assert len(pages) < max_pages, "paging does not end"
        pages.append(db.search(q, pages[-1].next_page_token))
    return pages


def hit_ids(result: SearchResult) -> list[str]:
    return [hit.node.id for hit in result.hits]


def assert_each_segment_finds_itself(db: Database, ids: list[str], vectors: np.ndarray) -> None:
    for node_id, vector in zip(ids, vectors, strict=True):
        top = db.search(query(vector, top_k=1)).hits[0]
        assert top.node.id == node_id
        assert top.similarity == pytest.approx(1.0, abs=1e-3)


# -- collections --------------------------------------------------------------------------


def sealed_soccer_match(path: Path, options: DatabaseOptions) -> Database:
    """A generated soccer match in collection ``SOCCER``, its captions embedded by the
    built-in encoder, sealed, with its statistics settled."""
    data = generate(matches=1, seed=5, vectors="none")
    db = Database.open(path, options)
    db.create_collection(SOCCER, EmbeddingSpace(0, text_encoder="default"))
    videos = sorted({r["video_id"] for r in data.segments})
    for video in videos:
        db.create_video(SOCCER, video)
    rows = [
        SegmentInput(r["video_id"], r["start_ms"], r["end_ms"], None, r["text"], r["labels"], r["attributes"])
        for r in data.segments
    ]
    for i in range(0, len(rows), 2000):
        db.append_segments(SOCCER, rows[i : i + 2000])
    for video in videos:
        db.seal_video(SOCCER, video)
    # Statistics read ahead while the load paused to encode captions are refreshed once
    # writes settle; these tests compare answers, so they begin from settled statistics.
    assert db.searcher.settle()
    return db
