"""A real Strata server on a loopback port over a temporary data directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from service.client import StrataClient
from service.server import StrataServer, create_server
from service.settings import Settings
from tools.soccer import SoccerDataset, generate

DIM = 16
BATCH = 2000


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


@pytest.fixture(scope="module")
def soccer() -> SoccerDataset:
    """One generated match (~2,800 segments, two halves, possessions by team)."""
    return generate(1, seed=3, vectors="random", dim=DIM)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataServer]:
    """A server shared by the tests of one module (they must leave each other's data alone)."""
    srv = start_server(tmp_path_factory.mktemp("shared") / "data")
    yield srv
    srv.stop(0)


@pytest.fixture(scope="module")
def api(shared_server: StrataServer) -> Iterator[StrataClient]:
    with StrataClient(shared_server.address, timeout=60) as c:
        yield c


def load_match(client: StrataClient, collection: str, dataset: SoccerDataset, **hierarchy: object) -> str:
    """Create ``collection`` holding the generated match (not sealed); returns the video id."""
    client.create_collection(collection, dimension=DIM, hierarchy=hierarchy or None)
    video_id = dataset.truth["matches"][0]["video_id"]
    client.create_video(collection, video_id)
    for i in range(0, len(dataset.segments), BATCH):
        client.append_segments(collection, dataset.segments[i : i + BATCH])
    return video_id
