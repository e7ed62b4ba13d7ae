"""A collection's tree builds hold its linkers back: they take the cores first, what
waits stays searchable, and a writer that needs room, a tail near its bound, or a stop
releases the linker at once; appends hold nothing back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hierarchy.building import Building
from hierarchy.db import Database
from hierarchy.index import HELD_UNTIL_SHARE, LevelIndex
from hierarchy.indexparams import IndexParams
from hierarchy.types import EmbeddingSpace, Level, Metric
from tests.hierarchy.helpers import DIM, keys, segments, unit_vectors
from tests.hierarchy.helpers import INDEXED as COUNT


class Switch:
    """A ``busy`` a test turns on and off."""

    def __init__(self, on: bool = True) -> None:
        self.on = on

    def __call__(self) -> bool:
        return self.on


def _index(path: Path, busy: Switch, max_unlinked: int = 100_000) -> LevelIndex:
    return LevelIndex(path, DIM, Metric.COSINE, IndexParams(exact_below=0), max_unlinked, busy)


def _until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.01)
    return check()


def test_a_build_holds_the_linker_and_its_end_lets_it_link(path: Path, vectors: np.ndarray) -> None:
    busy = Switch()
    index = _index(path, busy)
    index.add(keys(COUNT), vectors, watermark=1)
    time.sleep(0.3)  # several of the held linker's looks
    assert index.unlinked == COUNT and index.linked_watermark == 0
    assert index.search(vectors[7], 1)[0].tolist() == [8]  # searchable meanwhile, from the tail
    busy.on = False
    assert _until(lambda: index.unlinked == 0)
    assert index.linked_watermark == 1


def test_nodes_a_rebuild_replaced_before_they_were_linked_are_not_counted_as_waiting(
    path: Path, vectors: np.ndarray
) -> None:
    # GetStats' unlinked_count is "of indexed_count": a tree rebuilt while the build held
    # the linker counted its old nodes beside the new ones (349 scenes, 698 unlinked).
    busy = Switch()
    index = _index(path, busy)
    index.add(keys(100), vectors[:100], watermark=1)
    index.remove(keys(60), replaced=True)
    assert len(index) == 40 and index.unlinked == 40
    index.add(keys(60, first=101), vectors[100:160], watermark=2)
    assert len(index) == 100 and index.unlinked == 100
    busy.on = False
    assert _until(lambda: index.unlinked == 0)
    assert index.keys().tolist() == keys(40, first=61).tolist() + keys(60, first=101).tolist()


def test_a_writer_waiting_for_room_releases_the_held_linker(path: Path, vectors: np.ndarray) -> None:
    index = _index(path, Switch(), max_unlinked=60)
    done = threading.Event()

    def write() -> None:
        for lo in range(0, COUNT, 40):
            index.add(keys(40, first=lo + 1), vectors[lo : lo + 40], watermark=lo + 1)
        done.set()

    threading.Thread(target=write, daemon=True).start()
    assert done.wait(20), "a writer waited on a linker held by a build"
    assert index.unlinked <= 60 and len(index) == COUNT


def test_a_tail_near_its_bound_is_linked_beside_a_build(path: Path, vectors: np.ndarray) -> None:
    bound = 100
    index = _index(path, Switch(), max_unlinked=bound)
    index.add(keys(COUNT), vectors, watermark=1)  # above the bound: linked in the call
    waiting = int(HELD_UNTIL_SHARE * bound)
    index.add(keys(waiting, first=COUNT + 1), vectors[:waiting], watermark=2)
    assert _until(lambda: index.unlinked == 0)  # at the share, a build holds nothing back


def test_a_held_linker_stops_at_once(path: Path, vectors: np.ndarray) -> None:
    index = _index(path, Switch())
    index.add(keys(COUNT), vectors, watermark=1)
    linker = index._linker
    assert linker is not None
    began = time.monotonic()
    index.stop_linking(timeout=5.0)
    assert not linker.is_alive() and time.monotonic() - began < 1.0
    assert index.unlinked == COUNT  # what waits stays for the next open to link


def test_building_is_busy_while_a_build_runs_and_for_its_quiet_time() -> None:
    work = Building(quiet_s=0.2)
    assert not work.busy()
    with work.running():
        assert work.busy()
    assert work.busy()  # ended just now
    time.sleep(0.25)
    assert not work.busy()


def test_a_seal_holds_the_linkers_and_an_append_does_not(tmp_path: Path) -> None:
    db = Database.open(tmp_path)
    try:
        db.create_collection("c", EmbeddingSpace(DIM))
        db.create_video("c", "v")
        db.append_segments("c", segments("v", unit_vectors(600)))
        coll = db.get_collection("c")
        segment_index = db.indexes.get(coll, Level.SEGMENT)
        assert _until(lambda: segment_index.unlinked == 0, timeout=5.0)  # no build: linked at once
        db.seal_video("c", "v")
        scenes = db.indexes.get(coll, Level.SCENE)
        time.sleep(0.3)  # within the quiet time after the build
        assert scenes.unlinked == len(scenes) > 0  # searchable, not yet linked
        assert _until(lambda: scenes.unlinked == 0)  # linked once the quiet time has passed
    finally:
        db.close()
