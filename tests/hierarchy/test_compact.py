"""Offline compaction: the store's file shrinks to its live rows, and the database
reopened on it holds and answers exactly what it did; a directory in use, or with no
store, is refused and left as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from hierarchy import compact as compact_module
from hierarchy.compact import LOG, PART, STORE, compact
from hierarchy.db import Database
from hierarchy.errors import AlreadyExists, FailedPrecondition, InvalidArgument, Unavailable
from hierarchy.types import EmbeddingSpace, Level, Mode, SearchQuery
from tests.hierarchy.helpers import COLLECTION, fast_options, segments, unit_vectors

DIM = 128
VIDEOS = 12


def answers(db: Database, probes: np.ndarray) -> list[list[tuple[str, float]]]:
    """Every probe's hits, searched at the segment level and routed."""
    found = []
    for probe in probes:
        for mode, level in ((Mode.LEVEL, Level.SEGMENT), (Mode.AUTO, Level.SEGMENT)):
            result = db.search(SearchQuery(COLLECTION, level, vector=probe, top_k=10, mode=mode))
            found.append([(h.node.id, h.score) for h in result.hits])
    return found


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[list[tuple[str, float]]]]:
    """A closed store that held 12 videos of 2,000 128-d segments, 10 of them deleted
    since; and the answers of its live ones before it was closed."""
    data_dir = tmp_path_factory.mktemp("churned") / "data"
    db = Database.open(data_dir, fast_options())
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    for v in range(VIDEOS):
        db.create_video(COLLECTION, f"v{v}")
        db.append_segments(COLLECTION, segments(f"v{v}", unit_vectors(2000, DIM, seed=v)))
        db.seal_video(COLLECTION, f"v{v}")
    for v in range(VIDEOS - 2):
        db.delete_video(COLLECTION, f"v{v}")
    db.searcher.settle(timeout=60)
    before = answers(db, unit_vectors(5, DIM, seed=99))
    db.close()
    return data_dir, before


@pytest.fixture
def churned(template: tuple[Path, list], tmp_path: Path) -> tuple[Path, list[list[tuple[str, float]]]]:
    """A copy of the template's data directory, for one test to change."""
    data_dir = tmp_path / "data"
    shutil.copytree(template[0], data_dir)
    return data_dir, template[1]


def test_a_compacted_store_is_smaller_and_answers_alike(churned: tuple[Path, list]) -> None:
    data_dir, before = churned
    size = (data_dir / STORE).stat().st_size
    done = compact(data_dir)
    assert done.before_bytes >= size and done.after_bytes == (data_dir / STORE).stat().st_size
    assert done.after_bytes < 0.5 * done.before_bytes, done
    assert done.rows["videos"] == 2 and done.rows["nodes"] > 4000
    assert sorted(p.name for p in data_dir.iterdir() if p.name.startswith(STORE)) == [STORE]
    db = Database.open(data_dir, fast_options())
    try:
        assert [v.id for v in db.list_videos(COLLECTION, 10)[0]] == ["v10", "v11"]
        assert answers(db, unit_vectors(5, DIM, seed=99)) == before
        assert not db.verify().problems
        db.create_video(COLLECTION, "v12")  # writes go on: keys, sequences and constraints were copied
        db.append_segments(COLLECTION, segments("v12", unit_vectors(50, DIM, seed=12)))
        with pytest.raises(AlreadyExists):
            db.create_video(COLLECTION, "v12")
        assert not db.verify().problems and db.get_video(COLLECTION, "v12").segment_count == 50
    finally:
        db.close()


def test_a_log_left_after_the_checkpoint_stops_it_before_the_swap(
    churned: tuple[Path, list], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Renamed over the old file, the new one would have the old file's log replayed into it.
    data_dir, _ = churned
    copy = compact_module._copied
    monkeypatch.setattr(compact_module, "_copied", lambda *a: (copy(*a), (data_dir / LOG).write_bytes(b"?"))[0])
    before = (data_dir / STORE).read_bytes()
    with pytest.raises(Unavailable, match="start a server on .* once .*and compact again"):
        compact(data_dir)
    assert (data_dir / STORE).read_bytes() == before and not (data_dir / PART).exists()


@pytest.mark.parametrize("limit", ["lots", "-1GB"])  # DuckDB reads a negative size as no cap
def test_a_memory_limit_that_is_no_cap_is_named(churned: tuple[Path, list], limit: str) -> None:
    size = (churned[0] / STORE).stat().st_size
    with pytest.raises(InvalidArgument) as info:
        compact(churned[0], memory_limit=limit)
    assert info.value.field == "memory_limit" and "give a size such as '2GB'" in str(info.value)
    assert (churned[0] / STORE).stat().st_size == size


def test_a_store_in_use_is_not_compacted(churned: tuple[Path, list]) -> None:
    data_dir, _ = churned
    db = Database.open(data_dir, fast_options())
    try:
        size = (data_dir / STORE).stat().st_size
        with pytest.raises(Unavailable, match="in use by a running Strata server; stop it before compacting it"):
            compact(data_dir)
        assert (data_dir / STORE).stat().st_size == size and not (data_dir / PART).exists()
    finally:
        db.close()


def test_a_copy_left_by_a_compaction_cut_off_is_replaced(churned: tuple[Path, list]) -> None:
    data_dir, _ = churned
    (data_dir / PART).write_bytes(b"half a file")  # the process was killed while copying
    done = compact(data_dir)
    assert done.rows["videos"] == 2 and not (data_dir / PART).exists()


def test_a_directory_with_no_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition) as info:
        compact(tmp_path)
    assert info.value.field == "data_dir" and "holds no store" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("limit", ["1MB", "256KB"])  # 256 KB: too little to open the store (a traceback)
def test_a_copy_out_of_memory_names_the_limit_to_raise_and_changes_nothing(
    churned: tuple[Path, list], limit: str
) -> None:
    data_dir = churned[0]
    before = (data_dir / STORE).read_bytes()
    with pytest.raises(Unavailable) as info:
        compact(data_dir, memory_limit=limit)
    message = str(info.value)
    assert "Out of Memory" in message and f"raise --memory-limit (now {limit})" in message
    assert "SET threads" not in message, "DuckDB's own settings are not the command's"
    assert (data_dir / STORE).read_bytes() == before and not (data_dir / PART).exists()
