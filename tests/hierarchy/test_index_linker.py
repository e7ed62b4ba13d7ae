"""``LevelIndex``'s writes: searchable on acknowledgement from the unlinked tail, linked
into the HNSW graph by a background thread that yields the cores, in parallel for bulk
loads, never claiming what it did not link."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hierarchy import index as index_module
from hierarchy.index import LevelIndex
from hierarchy.indexparams import IndexParams
from hierarchy.types import Metric
from tests.hierarchy.helpers import DIM, keys, unit_vectors
from tests.hierarchy.helpers import INDEXED as COUNT
from tools.bench.corpus import generate


def _hnsw_index(path: Path, max_unlinked: int = 100_000) -> LevelIndex:
    return LevelIndex(path, DIM, Metric.COSINE, IndexParams(exact_below=0), max_unlinked)


def _finds_itself(index: LevelIndex, ids: np.ndarray, rows: np.ndarray) -> bool:
    return all(index.search(row, 1)[0].tolist() == [key] for key, row in zip(ids.tolist(), rows, strict=True))


def test_a_write_is_searchable_before_it_is_linked(path: Path, vectors: np.ndarray) -> None:
    index = _hnsw_index(path)
    index.add(keys(100), vectors[:100], watermark=1)
    index.link_all()
    # Holding the graph lock keeps the linker from taking the next write.
    with index._graph_lock:
        index.add(keys(100, first=101), vectors[100:], watermark=2)
        assert index.unlinked == 100 and len(index) == COUNT and index.watermark == 2
        assert index.linked_watermark == 1
        assert _finds_itself(index, keys(COUNT), vectors)
        waiting = index.search(vectors[150], 20)
    index.link_all()
    assert index.unlinked == 0 and index.linked_watermark == 2
    linked = index.search(vectors[150], 20)
    assert linked[0].tolist() == waiting[0].tolist()
    assert linked[1] == pytest.approx(waiting[1], abs=1e-6)  # the same scores before and after


def test_the_linker_drains_the_tail_in_the_background(path: Path, vectors: np.ndarray) -> None:
    index = _hnsw_index(path)
    for lo in range(0, COUNT, 50):
        index.add(keys(50, first=lo + 1), vectors[lo : lo + 50], watermark=lo + 1)
    deadline = time.monotonic() + 30
    while index.unlinked and time.monotonic() < deadline:
        time.sleep(0.01)
    assert index.unlinked == 0 and index.linked_watermark == index.watermark == COUNT - 49
    assert index.keys().tolist() == keys(COUNT).tolist()


def _drained(index: LevelIndex, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while (index.unlinked or index._linker is not None) and time.monotonic() < deadline:
        time.sleep(0.01)
    return index.unlinked == 0


def test_a_write_that_comes_as_the_linker_finishes_is_linked(
    path: Path, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The linker found nothing waiting and has not yet ended when a write joins the tail:
    that write sees a linker running and starts none, so the ending one must take it."""
    index = _hnsw_index(path)
    found_empty, written = threading.Event(), threading.Event()
    real = LevelIndex._link_oldest

    def link_oldest(self: LevelIndex) -> bool:
        linked = real(self)
        if not linked and not found_empty.is_set():
            found_empty.set()
            written.wait(5)  # the write below lands between the look and the linker's end
        return linked

    monkeypatch.setattr(LevelIndex, "_link_oldest", link_oldest)
    index.add(keys(50), vectors[:50], watermark=1)
    assert found_empty.wait(5)
    index.add(keys(50, first=51), vectors[50:100], watermark=2)
    written.set()
    assert _drained(index)
    assert index.linked_watermark == 2 and _finds_itself(index, keys(100), vectors[:100])


def test_a_link_that_failed_part_way_is_finished_by_the_next_write(
    path: Path, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _hnsw_index(path)
    real = LevelIndex._link
    failures: list[int] = []

    def link(self: LevelIndex, ids: np.ndarray, rows: np.ndarray, chunk: int = 0, threads: int = 1) -> bool:
        if not failures:
            failures.append(1)
            self._index.add(ids[:20].astype(np.uint64), rows[:20])  # part of the write is in
            raise OSError("the graph could not grow")
        return real(self, ids, rows, chunk, threads)

    monkeypatch.setattr(LevelIndex, "_link", link)
    index.add(keys(50), vectors[:50], watermark=1)
    assert not _drained(index, timeout=1.0)  # the linker ended; the write waits, still searchable
    assert index.unlinked == 50 and _finds_itself(index, keys(50), vectors[:50])
    index.add(keys(10, first=51), vectors[50:60], watermark=2)
    assert _drained(index)
    assert index.linked_watermark == 2 and index.keys().tolist() == keys(60).tolist()
    assert _finds_itself(index, keys(60), vectors[:60])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a thread's own CPU priority is Linux's")
def test_the_linker_yields_the_cores_to_requests(
    path: Path, vectors: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = _hnsw_index(path)
    niceness: list[int] = []
    add = index._index.add

    def noted(ids: np.ndarray, rows: np.ndarray, threads: int = 1) -> object:
        niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return add(ids, rows, threads=threads)

    monkeypatch.setattr(index._index, "add", noted)
    index.add(keys(COUNT), vectors, watermark=1)
    deadline = time.monotonic() + 30
    while index.unlinked and time.monotonic() < deadline:
        time.sleep(0.01)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert niceness and min(niceness) > mine  # every insertion ran below the requests' priority
    assert set(niceness) == {mine + index_module.LINKER_NICENESS}


def test_writers_wait_while_the_tail_is_full(path: Path, vectors: np.ndarray) -> None:
    index = _hnsw_index(path, max_unlinked=60)
    for lo in range(0, COUNT, 40):
        index.add(keys(40, first=lo + 1), vectors[lo : lo + 40], watermark=lo + 1)
        assert index.unlinked <= 60
    assert _finds_itself(index, keys(COUNT), vectors)


def test_a_bulk_load_is_linked_in_parallel_and_found(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "BULK_LINK_MIN_GRAPH", 1000)  # the graph this test builds first
    rows = unit_vectors(2000, seed=12)
    index = _hnsw_index(path, max_unlinked=150)
    index.add(keys(1000), rows[:1000], watermark=1)
    index.link_all()
    calls: list[tuple[int, int]] = []
    add = index._index.add

    def counted(ids: np.ndarray, rows: np.ndarray, threads: int = 1) -> object:
        calls.append((len(ids), threads))
        return add(ids, rows, threads=threads)

    monkeypatch.setattr(index._index, "add", counted)
    for lo in range(1000, 2000, 100):
        index.add(keys(100, first=lo + 1), rows[lo : lo + 100], watermark=lo + 1)
    index.link_all()
    assert (100, index_module.BULK_LINK_THREADS) in calls, "a full tail is linked a write at a time, in parallel"
    assert index.unlinked == 0 and len(index.keys()) == 2000
    # HNSW is approximate whichever way it is built: nearly every vector finds itself.
    found = sum(index.search(row, 1)[0].tolist() == [key] for key, row in zip(keys(2000).tolist(), rows, strict=True))
    assert found >= 0.995 * 2000, found


def test_a_write_larger_than_the_tail_is_linked_at_once(path: Path, vectors: np.ndarray) -> None:
    index = _hnsw_index(path, max_unlinked=50)
    index.add(keys(COUNT), vectors, watermark=3)
    assert index.unlinked == 0 and index.linked_watermark == 3
    assert _finds_itself(index, keys(COUNT), vectors)


def test_a_rebuild_stopped_part_way_does_not_claim_its_writes(path: Path, vectors: np.ndarray) -> None:
    index = _hnsw_index(path, max_unlinked=50)
    index._stopping = True  # the process closes while a large write is being linked
    index.add(keys(COUNT), vectors, watermark=3)
    assert index.linked_watermark == 0, "a saved graph would claim vectors it does not hold"


def test_a_key_removed_while_waiting_is_never_linked_or_found(path: Path, vectors: np.ndarray) -> None:
    index = _hnsw_index(path)
    index._graph_lock.acquire()  # the write waits in the tail
    index.add(keys(COUNT), vectors, watermark=1)
    remover = threading.Thread(target=index.remove, args=(np.array([5, 6], np.int64),))
    remover.start()  # waits for the graph lock too
    index._graph_lock.release()
    remover.join()
    assert 5 not in index.search(vectors[4], COUNT)[0].tolist()
    index.link_all()
    assert 5 not in index.keys().tolist() and 6 not in index.keys().tolist()
    assert 5 not in index.search(vectors[4], COUNT)[0].tolist() and len(index) == COUNT - 2


def test_a_process_exiting_while_its_linker_runs_exits_cleanly(tmp_path: Path) -> None:
    script = f"""
import time
from dataclasses import replace
import numpy as np
from pathlib import Path
from hierarchy.index import LevelIndex
from hierarchy.indexparams import IndexParams
from hierarchy.types import Metric
index = LevelIndex(Path({str(tmp_path)!r}) / "s.usearch", 256, Metric.COSINE, IndexParams(exact_below=0))
index.add(np.arange(1, 5_001), np.random.default_rng(0).normal(size=(5_000, 256)).astype(np.float32), 1)
time.sleep(0.5)  # the linker is inside USearch now
assert index.unlinked > 0
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _self_found(index: LevelIndex, keys_: np.ndarray, rows: np.ndarray) -> int:
    return sum(int(index.search(row, 10)[0].tolist().count(int(key))) for key, row in zip(keys_, rows, strict=True))


@pytest.mark.parametrize("live_expansion", [4, 128])
def test_writes_linked_one_at_a_time_use_the_live_expansion(tmp_path: Path, live_expansion: int) -> None:
    # A graph built in bulk at a poor expansion (and searched with a narrow beam); live
    # writes linked at a wide expansion find themselves where the others often do not.
    corpus = generate(3400, dim=64, seed=5).vectors
    params = IndexParams(exact_below=0, connectivity=4, expansion_add=4, expansion_search=8)
    params = replace(params, live_expansion_add=live_expansion)
    index = LevelIndex(tmp_path / "s.usearch", 64, Metric.COSINE, params, max_unlinked=500)
    index.add(keys(3000), corpus[:3000], watermark=1)  # more than the tail holds: a bulk link
    for i in range(400):  # live writes, one vector each, linked one at a time
        index.add(keys(1, first=3001 + i), corpus[3000 + i : 3001 + i], watermark=2 + i)
        index.link_all()
    found = _self_found(index, keys(400, first=3001), corpus[3000:])
    bulk_found = _self_found(index, keys(400, first=1), corpus[:400])
    # Measured: 298 of 400 at the poor expansion, 359 at 128; the bulk-linked ones, 51.
    assert bulk_found < 100
    assert (found > 340) is (live_expansion == 128), found
