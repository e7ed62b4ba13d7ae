"""Work cut short from outside: a snapshot whose destination takes no more, a compaction
stopped with Ctrl-C. One line says what failed, where and what to do, and nothing half
made is left behind."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hierarchy.compact import PART, STORE
from hierarchy.db import Database
from hierarchy.files import sha256
from hierarchy.types import EmbeddingSpace
from service.client import StrataClient
from tests.hierarchy.helpers import COLLECTION, fast_options, segments, unit_vectors
from tests.tools.conftest import STRATA, run_checked

LIMIT = 128 * 1024  # bytes a file of the server may grow to: more than its indexes, less than its store


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """``strata serve`` in a subprocess on ``tmp_path/data``, ready: its address and pid."""
    proc = subprocess.Popen(
        [STRATA, "serve", "--data-dir", str(tmp_path / "data"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("listening on ") and proc.stdout.readline().strip() == "ready", first
        yield first.removeprefix("listening on "), proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def test_a_destination_that_takes_no_more_is_named_not_the_data_directory(
    serving: tuple[str, int], tmp_path: Path
) -> None:
    # A copy failing on a full destination names its source first: the error read
    # "data_dir: cannot save the data directory's own files", sending the operator to the
    # wrong disk. The server may grow no file past LIMIT (as a full disk would stop it),
    # once a first snapshot has saved its indexes and checkpointed its store.
    address, pid = serving
    with StrataClient(address) as client:
        client.create_collection("c", dimension=64)
        client.create_video("c", "v")
        vectors = np.random.default_rng(0).standard_normal((100, 64))
        client.append_segments(
            "c", [{"video_id": "v", "start_ms": i, "end_ms": i + 1, "vector": r} for i, r in enumerate(vectors)]
        )
    assert run_checked(address, "snapshot", str(tmp_path / "first")).returncode == 0
    destination = tmp_path / "full"
    soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (LIMIT, hard))
    try:
        refused = run_checked(address, "snapshot", str(destination), COLUMNS="1000")
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))
    [line] = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 1 and line.startswith(
        f"error FAILED_PRECONDITION: destination_dir: cannot write the snapshot to {destination}: File too large "
        f"writing {destination / 'strata.duckdb'}, on the disk mounted at {_mount_of(destination)}"
    ), line
    assert "data directory" not in line and "data_dir" not in line and "then snapshot again" in line, line
    assert list(destination.iterdir()) == []  # nothing half copied is left there
    again = run_checked(address, "snapshot", str(destination))  # room made: the same command works
    assert again.returncode == 0 and (destination / "manifest.json").is_file(), again.stderr


def test_compact_stopped_with_ctrl_c_leaves_the_store_as_it_was_and_no_copy(tmp_path: Path) -> None:
    # Ctrl-C while DuckDB copied printed its traceback ("RuntimeError: Query interrupted"),
    # exited 1 and left the partial copy (tens of MB) until the next compaction.
    data = tmp_path / "data"
    db = Database.open(data, fast_options())
    db.create_collection(COLLECTION, EmbeddingSpace(256))
    for v in range(16):  # about 33 MB: a copy of some tenths of a second
        db.create_video(COLLECTION, f"v{v}")
        db.append_segments(COLLECTION, segments(f"v{v}", unit_vectors(2000, 256, seed=v)))
    db.close()
    before = sha256(data / STORE)
    proc = subprocess.Popen(
        [STRATA, "compact", "--data-dir", str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    while not (data / PART).exists() and proc.poll() is None:  # the copy is being made
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    out, said = proc.communicate(timeout=120)
    assert proc.returncode == 130 and not out, out + said
    [line] = [line for line in said.splitlines() if line.strip()]
    assert sorted(p.name for p in data.iterdir()) == ["LOCK", "indexes", STORE]
    if line == f"interrupted: the compaction of {data} had finished: {data / STORE} is compacted":
        return  # the signal came as the finished copy replaced the store: that is what it says
    assert line.startswith(f"interrupted: the compaction of {data} stopped") and "is unchanged" in line, said
    assert sha256(data / STORE) == before


def _mount_of(path: Path) -> Path:
    """The mount point of the file system holding ``path`` (/tmp may be a disk of its own)."""
    return next(p for p in (path, *path.parents) if os.path.ismount(p))
