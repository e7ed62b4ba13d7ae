"""Shared fixtures of the core tests: a real database in ``tmp_path``, opened and closed;
a level index's path and vectors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.types import EmbeddingSpace
from tests.hierarchy.helpers import COLLECTION, DIM, INDEXED, OpenDb, fast_options, unit_vectors


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def open_db(data_dir: Path) -> Iterator[OpenDb]:
    """Open databases on ``data_dir`` (or another path); all are closed at teardown."""
    opened: list[Database] = []

    def _open(path: Path | None = None, **overrides: object) -> Database:
        db = Database.open(path or data_dir, fast_options(**overrides))
        opened.append(db)
        return db

    yield _open
    for db in reversed(opened):
        db.close()


@pytest.fixture
def db(open_db: OpenDb) -> Database:
    """An empty database."""
    return open_db()


@pytest.fixture
def games(db: Database) -> Database:
    """A database with collection ``games`` (dimension ``DIM``) and videos v1, v2."""
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    db.create_video(COLLECTION, "v1")
    db.create_video(COLLECTION, "v2")
    return db


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Where a level index of collection 1 is saved."""
    return tmp_path / "c1" / "segment.usearch"


@pytest.fixture
def vectors() -> np.ndarray:
    """``INDEXED`` unit vectors, for keys 1..INDEXED."""
    return unit_vectors(INDEXED, seed=11)
