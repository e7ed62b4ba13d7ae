"""Indexes are saved while the server runs, so a crash costs a short catch-up, not a
rebuild of everything."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import pytest

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


def test_a_save_the_system_refuses_is_one_line_a_round_and_saves_resume_once_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Each round of a save refused (a full disk, a directory in the way) logged a whole
    # traceback, every few seconds for as long as it lasted.
    data_dir = tmp_path / "data"
    server = start_server(data_dir, index_save_seconds=0.2)
    graph = data_dir / "indexes" / "c1" / "segment.usearch"
    try:
        with StrataClient(server.address, timeout=30) as client, caplog.at_level(logging.ERROR, "service.server"):
            client.create_collection("c", dimension=DIM)
            client.create_video("c", "v")
            client.append_segments("c", rows("v", unit_vectors(20)))
            deadline = time.monotonic() + 20
            while not graph.is_file() and time.monotonic() < deadline:
                time.sleep(0.05)
            graph.unlink()
            graph.mkdir()  # what the next save must replace
            later = client.append_segments("c", rows("v", unit_vectors(5, seed=1), start_index=20))
            while not caplog.records and time.monotonic() < deadline:
                time.sleep(0.05)
            refused = [r for r in caplog.records if r.getMessage().startswith("saving indexes failed")]
            assert refused and all(r.exc_info is None for r in refused), [r.getMessage() for r in refused]
            assert str(graph) in refused[0].getMessage() and "the next round saves them" in refused[0].getMessage()
            shutil.rmtree(graph)  # fixed: the next round saves
            while _sidecar_watermark(data_dir) < later.commit_sequence and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _sidecar_watermark(data_dir) == later.commit_sequence
    finally:
        server.stop(0)
