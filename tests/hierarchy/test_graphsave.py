"""Graph saves: written by a forked child, or in process when the system cannot fork,
when the child fails, and when it hangs (killed after the timeout)."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest
from usearch.index import Index

from hierarchy import graphsave
from hierarchy.index import IndexState, LevelIndex
from hierarchy.indexparams import IndexParams
from hierarchy.store import Store
from hierarchy.types import Metric
from tests.hierarchy.helpers import DIM, unit_vectors

COUNT = 300
VECTORS = unit_vectors(COUNT, seed=5)


def _index(path: Path) -> LevelIndex:
    return LevelIndex(path, DIM, Metric.COSINE, IndexParams())


def _save(path: Path) -> LevelIndex:
    """An index of ``COUNT`` vectors, every one linked into the graph, saved at ``path``."""
    index = _index(path)
    index.add(np.arange(1, COUNT + 1, dtype=np.int64), VECTORS, watermark=3)
    index.link_all()  # every vector in the graph: the file holds them all
    index.save()
    return index


def _assert_loads_as(saved: LevelIndex, path: Path) -> None:
    loaded = _index(path)
    assert loaded.load() == IndexState(count=COUNT, watermark=3)
    for probe in VECTORS[:5]:
        assert loaded.search(probe, 10)[0].tolist() == saved.search(probe, 10)[0].tolist()
    assert sorted(p.name for p in path.parent.iterdir()) == ["scene.json", "scene.usearch"]


def test_a_graph_written_by_a_forked_child_loads_as_saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def not_here(*args: object) -> None:
        raise AssertionError("saved in process although the child could write it")

    monkeypatch.setattr(graphsave, "in_process", not_here)
    path = tmp_path / "c1" / "scene.usearch"
    _assert_loads_as(_save(path), path)


def test_without_fork_the_graph_is_written_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused() -> int:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(os, "fork", refused)
    path = tmp_path / "c1" / "scene.usearch"
    _assert_loads_as(_save(path), path)


def test_a_child_that_fails_is_followed_by_a_save_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_child(index: object, target: Path) -> int:
        pid = os.fork()
        if pid == 0:
            os._exit(1)  # as a crash in an after-fork handler: nothing written
        return pid

    monkeypatch.setattr(graphsave, "in_child", failing_child)
    path = tmp_path / "c1" / "scene.usearch"
    _assert_loads_as(_save(path), path)


def test_a_child_that_hangs_is_killed_after_the_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graphsave, "SAVE_CHILD_TIMEOUT_S", 0.2)
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    began = time.monotonic()
    assert not graphsave.child_wrote(pid, tmp_path / "stuck.tmp")
    assert time.monotonic() - began < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, 0)  # killed and reaped: nothing left behind


def _graph() -> Index:
    graph = Index(ndim=DIM)
    graph.add(np.arange(1, COUNT + 1), VECTORS)
    return graph


def test_a_file_the_system_refuses_is_an_oserror_naming_it(tmp_path: Path) -> None:
    # USearch raised RuntimeError("No such file or directory"), naming no file: a recovery
    # that could not save a rebuilt index logged it as a bug, with a traceback.
    target = tmp_path / "gone" / "scene.tmp"
    with pytest.raises(OSError) as refused:
        graphsave.in_process(_graph(), target)
    assert (refused.value.errno, refused.value.filename) == (errno.ENOENT, str(target))
    assert refused.value.strerror == os.strerror(errno.ENOENT)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full: a device whose writes meet a full disk")
def test_a_write_that_fails_part_way_is_an_oserror_naming_the_file() -> None:
    # USearch says only "Failed to serialize into stream" (a full disk, a file size limit).
    with pytest.raises(OSError) as refused:
        graphsave.in_process(_graph(), Path("/dev/full"))
    assert (refused.value.errno, refused.value.filename) == (errno.EIO, "/dev/full")
    assert "is the disk full?" in str(refused.value.strerror)


class _OpenFiles:
    """Stands in for a graph: its "save" writes the descriptors the process holds open."""

    def save(self, path: str) -> None:
        Path(path).write_text(" ".join(sorted(os.listdir("/proc/self/fd"))))


def test_the_child_holds_none_of_the_parents_files(tmp_path: Path) -> None:
    lock = (tmp_path / "LOCK").open("w")  # as the data directory's lock
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        pid = graphsave.in_child(_OpenFiles(), tmp_path / "fds")  # type: ignore[arg-type]
        assert pid is not None and graphsave.child_wrote(pid, tmp_path / "fds")
        held = {int(fd) for fd in (tmp_path / "fds").read_text().split()}
        # Standard streams, and the one the listing itself opened: not the lock (nor any
        # other of this process's files), which a child outliving the server would keep.
        assert {0, 1, 2} <= held and len(held - {0, 1, 2}) == 1
    finally:
        lock.close()


class _ReportsCursor:
    """Stands in for an index: its "save" writes whether a cursor is still alive."""

    def __init__(self, cursor: weakref.ref) -> None:
        self.cursor = cursor

    def save(self, path: str) -> None:
        Path(path).write_text("alive" if self.cursor() is not None else "freed")


def test_a_save_child_frees_no_cursor_of_another_thread(tmp_path: Path) -> None:
    """The child's start clears the other threads' states; a DuckDB cursor freed there
    ran its destructor, which could wait forever on a lock held at the fork (a save that
    hung for 300 s under writes). Every thread's cursor outlives the child."""
    store = Store(tmp_path / "strata.duckdb")
    made, leave = threading.Event(), threading.Event()
    refs: list[weakref.ref] = []

    def work() -> None:
        refs.append(weakref.ref(store.cursor()))  # the thread's own cursor, read once
        made.set()
        leave.wait(10)

    thread = threading.Thread(target=work)
    thread.start()
    try:
        assert made.wait(5)
        pid = graphsave.in_child(_ReportsCursor(refs[0]), tmp_path / "report")  # type: ignore[arg-type]
        assert pid is not None and graphsave.child_wrote(pid, tmp_path / "report")
        assert (tmp_path / "report").read_text() == "alive"
    finally:
        leave.set()
        thread.join()
        store.close()


# A server that forks an index writer (whose "save" takes a long time) and is then killed.
KILLED_PARENT = """
import os, signal, sys, time
from pathlib import Path
from hierarchy import graphsave

class SlowSave:
    def save(self, path):
        time.sleep(60)

pid = graphsave.in_child(SlowSave(), Path(sys.argv[1]))
print(pid, flush=True)
time.sleep(0.5)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a parent-death signal is Linux's")
def test_an_index_writer_dies_with_a_killed_server(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    server = subprocess.Popen(
        [sys.executable, "-c", KILLED_PARENT, str(tmp_path / "g.tmp")], env=env, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    child = int(server.stdout.readline())
    server.wait(30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.05)
    outlived = _alive(child)
    if outlived:
        os.kill(child, 9)
    server.stdout.close()
    assert not outlived, "the index writer outlived its server"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not: it has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
