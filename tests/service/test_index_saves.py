"""Indexes are saved while the server runs, so a crash costs a short catch-up, not a
rebuild of everything."""

from __future__ import annotations

import json
import time
from pathlib import Path

from service.client import StrataClient
from tests.service.conftest import DIM, rows, start_server, unit_vectors


def _sidecar_watermark(data_dir: Path) -> int:
    sidecar = data_dir / "indexes" / "c1" / "segment.json"
    return json.loads(sidecar.read_text())["watermark"] if sidecar.is_file() else -1


def test_changed_indexes_are_saved_periodically(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, index_save_seconds=0.2)
    try:
        with StrataClient(server.address, timeout=30) as client:
            client.create_collection("c", dimension=DIM)
            client.create_video("c", "v")
            first = client.append_segments("c", rows("v", unit_vectors(20)))
            deadline = time.monotonic() + 20
            while _sidecar_watermark(data_dir) < first.commit_sequence and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _sidecar_watermark(data_dir) == first.commit_sequence, "saved while running"
            later = client.append_segments("c", rows("v", unit_vectors(5, seed=1), start_index=20))
            while _sidecar_watermark(data_dir) < later.commit_sequence and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _sidecar_watermark(data_dir) == later.commit_sequence, "saved again after a change"
    finally:
        server.stop(0)
