"""A real Strata server on a loopback port over a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.client import StrataClient
from service.server import StrataServer, create_server
from service.settings import Settings

DIM = 16


def start_server(data_dir: Path, **settings: object) -> StrataServer:
    """Start a server on a free loopback port."""
    return create_server(Settings.load(env={}, data_dir=data_dir, port=0, **settings)).start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StrataServer]:
    srv = start_server(tmp_path / "data")
    yield srv
    srv.stop(0)


@pytest.fixture
def client(server: StrataServer) -> Iterator[StrataClient]:
    with StrataClient(server.address, timeout=30) as c:
        yield c


def unit_vectors(count: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    """Random unit vectors."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def rows(video_id: str, vectors: np.ndarray, start_index: int = 0) -> list[dict]:
    """Consecutive 2-second segment rows in the ingest format."""
    return [
        {
            "video_id": video_id,
            "start_ms": (start_index + i) * 2000,
            "end_ms": (start_index + i + 1) * 2000,
            "vector": v,
            "text": f"segment {start_index + i}",
            "labels": ["pass"],
            "attributes": {"team": "home"},
        }
        for i, v in enumerate(vectors)
    ]


@pytest.fixture
def loaded(client: StrataClient) -> np.ndarray:
    """Collection ``c`` with video ``v1`` holding 50 segments; returns their vectors."""
    client.create_collection("c", dimension=DIM)
    client.create_video("c", "v1")
    vectors = unit_vectors(50)
    client.append_segments("c", rows("v1", vectors), request_id="load")
    return vectors
