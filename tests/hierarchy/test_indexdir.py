"""Damage to the shape of ``indexes/`` at open (hierarchy.indexdir): whatever stands where
an index file, a sidecar, a save's temporary file or an index directory belongs and is of
another shape is moved aside under ``aside/`` (kept as it was, and logged), the indexes
are rebuilt from the store and every search answers as before; a directory of the tree
the server cannot write is refused with the fix, before anything is moved or written."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from hierarchy.db import Database
from hierarchy.errors import FailedPrecondition
from hierarchy.types import EmbeddingSpace, Level, SearchQuery
from tests.hierarchy.helpers import DIM, ROOT, OpenDb, fast_options, segments, unit_vectors, unprivileged

COLLECTIONS = ("games", "clips")
MARK = "the operator's"  # what the damage leaves in what is in the way: it must be kept


def fill(db: Database) -> None:
    """Two collections (ids 1 and 2) of two sealed videos each."""
    for n, name in enumerate(COLLECTIONS):
        db.create_collection(name, EmbeddingSpace(DIM))
        for video in ("v1", "v2"):
            db.create_video(name, video)
            db.append_segments(name, segments(video, unit_vectors(40, seed=10 * n + len(video))))
            db.seal_video(name, video)


def answers(db: Database) -> dict[str, list[str]]:
    """The top five of one vector at every level of every collection."""
    vector = unit_vectors(1, seed=99)[0]
    return {
        f"{name}/{level.label}": [
            hit.node.id for hit in db.search(SearchQuery(name, level, vector=vector, top_k=5)).hits
        ]
        for name in COLLECTIONS
        for level in Level
    }


@pytest.fixture
def before(open_db: OpenDb, data_dir: Path) -> dict[str, list[str]]:
    """The answers of a filled directory, closed (its indexes saved)."""
    db = open_db()
    fill(db)
    found = answers(db)
    assert all(found.values())
    db.close()
    return found


def moved_aside(data_dir: Path, path: Path) -> list[Path]:
    """Where ``path`` went under ``aside/`` (a dangling link too, which a glob passes over)."""
    relative = path.relative_to(data_dir)
    return [stamp / relative for stamp in (data_dir / "aside").iterdir() if os.path.lexists(stamp / relative)]


@dataclass(frozen=True)
class Shape:
    """A damage: what is put at ``relative`` (under ``indexes/``), and how to tell that
    what was moved aside is what was put there."""

    relative: str
    make: Callable[[Path], None]
    kept: Callable[[Path], bool]


def _directory(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    path.mkdir()
    (path / "note.json").write_text(MARK)  # a name a snapshot would copy, were it left there


def _file(path: Path) -> None:
    shutil.rmtree(path)
    path.write_text(MARK)


def _dangling(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    path.symlink_to(path.parent / "elsewhere" / MARK)


SHAPES = {
    "dir-where-index-file": Shape("c1/segment.usearch", _directory, lambda p: (p / "note.json").read_text() == MARK),
    "dir-where-sidecar": Shape("c1/scene.json", _directory, lambda p: (p / "note.json").read_text() == MARK),
    "dir-where-save-tmp": Shape("c2/segment.tmp", _directory, lambda p: (p / "note.json").read_text() == MARK),
    "file-where-collection-dir": Shape("c1", _file, lambda p: p.read_text() == MARK),
    "file-where-indexes-dir": Shape(".", _file, lambda p: p.read_text() == MARK),
    "dangling-link-where-index-file": Shape("c2/video.usearch", _dangling, lambda p: os.readlink(p).endswith(MARK)),
    "dangling-link-where-collection-dir": Shape("c2", _dangling, lambda p: os.readlink(p).endswith(MARK)),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_what_is_in_the_way_is_moved_aside_and_the_indexes_rebuilt(
    before: dict[str, list[str]], open_db: OpenDb, data_dir: Path, shape: Shape, caplog: pytest.LogCaptureFixture
) -> None:
    # Before: recovery rebuilt the level and failed to save it over what was there (a
    # traceback, the server never served), or replaced a link it did not make unsaid.
    where = data_dir / "indexes" / shape.relative
    shape.make(where)
    with caplog.at_level(logging.WARNING, logger="hierarchy.indexdir"):
        db = open_db()
    assert answers(db) == before
    assert db.verify().ok
    [moved] = moved_aside(data_dir, where)
    assert shape.kept(moved)  # kept as it was, not deleted
    assert f"{where} was " in caplog.text and f"moved aside to {moved}" in caplog.text
    aside = sorted((data_dir / "aside").rglob("*"))
    db.close()
    assert answers(open_db()) == before  # the rebuilt indexes were saved where they belong
    assert sorted((data_dir / "aside").rglob("*")) == aside  # and nothing more was in the way


@pytest.mark.parametrize("name", ["segment.usearch", "segment.json"])
def test_an_empty_index_file_or_sidecar_is_rebuilt(
    before: dict[str, list[str]], open_db: OpenDb, data_dir: Path, name: str
) -> None:
    # A file a crash left empty (its rename reached the disk, its data did not) is Strata's
    # own, damaged: it is rebuilt over, as a file failing its checksum is.
    (data_dir / "indexes" / "c1" / name).write_bytes(b"")
    db = open_db()
    assert answers(db) == before
    assert not (data_dir / "aside").exists()
    db.close()
    assert answers(open_db()) == before


# -- what the server may not read or write ---------------------------------------------------
# As root, every file is readable and every directory writable (CAP_DAC_OVERRIDE): the
# database is opened in a process without that capability, as an ordinary user would be.


OPEN_AND_SEARCH = """
import json, logging, sys
from hierarchy.db import Database
from hierarchy.errors import StrataError
from tests.hierarchy.helpers import fast_options
from tests.hierarchy.test_indexdir import answers

logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
try:
    db = Database.open(sys.argv[1], fast_options())
except StrataError as exc:
    print(json.dumps({"refused": type(exc).__name__, "field": exc.field, "message": exc.message}))
    sys.exit(0)
try:
    print(json.dumps({"answers": answers(db)}))
finally:
    db.close()
"""


def open_unprivileged(data_dir: Path) -> tuple[dict, str]:
    """Open ``data_dir`` and search it in a process that file permissions apply to: (what
    it printed, its log)."""
    done = subprocess.run(
        [*unprivileged(), sys.executable, "-c", OPEN_AND_SEARCH, str(data_dir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_an_unreadable_index_file_is_moved_aside_and_rebuilt(
    before: dict[str, list[str]], open_db: OpenDb, data_dir: Path
) -> None:
    # Before: reading it for its checksum raised PermissionError out of recovery.
    unreadable = data_dir / "indexes" / "c1" / "segment.usearch"
    unreadable.chmod(0)
    opened, said = open_unprivileged(data_dir)
    assert opened == {"answers": before}
    [moved] = moved_aside(data_dir, unreadable)
    assert f"{unreadable} was an unreadable file" in said and str(moved) in said
    assert moved.stat().st_mode & 0o777 == 0  # kept as it was
    assert answers(open_db()) == before


def test_an_index_directory_the_server_cannot_write_is_refused_with_the_fix(
    before: dict[str, list[str]], open_db: OpenDb, data_dir: Path
) -> None:
    # Before: the server served, but no index could be saved (every start rebuilt what
    # changed), and one that had to be rebuilt failed recovery with a traceback.
    indexes = data_dir / "indexes"
    shutil.rmtree(indexes / "c2")  # to be rebuilt: saved into indexes/, which refuses it
    indexes.chmod(0o555)
    files = {path: path.read_bytes() for path in data_dir.rglob("*") if path.is_file() and path.name != "LOCK"}
    try:
        opened, said = open_unprivileged(data_dir)
    finally:
        indexes.chmod(0o755)
    assert opened["refused"] == "FailedPrecondition" and opened["field"] == "data_dir"
    assert f"the index directory {indexes} is not writable" in opened["message"]
    assert f"chown -R {os.geteuid()} {indexes}" in opened["message"]
    assert "Traceback" not in said
    # Nothing written: no store checkpointed, no index saved, nothing moved aside.
    assert {path: path.read_bytes() for path in data_dir.rglob("*") if path.is_file() and path.name != "LOCK"} == files
    assert answers(open_db()) == before  # writable again, it opens (the directory was released)


def test_an_unwritable_index_directory_is_refused_in_process_too(
    before: dict[str, list[str]], data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (Where the test runs as root, this is how a read-only file system looks to it.)
    real = os.access
    indexes = data_dir / "indexes"
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != indexes and real(p, mode, **kw))
    with pytest.raises(FailedPrecondition, match="is not writable by this server"):
        Database.open(data_dir, fast_options())
    monkeypatch.undo()
    Database.open(data_dir, fast_options()).close()  # released: nothing stays locked


def test_paths_in_the_way_are_only_collection_and_level_names(
    before: dict[str, list[str]], open_db: OpenDb, data_dir: Path
) -> None:
    # What is no name of Strata's is in nobody's way: left where it is, untouched.
    indexes = data_dir / "indexes"
    (indexes / "README").mkdir()
    (indexes / "cache").mkdir()
    (indexes / "cache" / "x.tmp").mkdir()  # once globbed as a save's leftover, and unlinked
    (indexes / "c1" / "notes.txt").mkdir()
    # Strata writes c<id> in ASCII digits from 1: these were taken for deleted collections'
    # directories and removed (c07), or crashed the start (c², int() of a superscript).
    for other in ("c07", "c\u00b2", "c0"):
        (indexes / other).mkdir()
        (indexes / other / "precious.tmp").write_text(MARK)
    assert answers(open_db()) == before
    assert not (data_dir / "aside").exists()
    assert (indexes / "cache" / "x.tmp").is_dir() and (indexes / "c1" / "notes.txt").is_dir()
    assert all((indexes / other / "precious.tmp").read_text() == MARK for other in ("c07", "c\u00b2", "c0"))


def test_a_link_where_a_collection_directory_belongs_is_moved_aside_and_what_it_points_at_kept(
    before: dict[str, list[str]], open_db: OpenDb, data_dir: Path, tmp_path: Path
) -> None:
    # A link to a directory outside the data directory was followed: its *.tmp files
    # removed as a save's leftovers, and the rebuilt indexes written there.
    outside = tmp_path / "outside"
    shutil.copytree(data_dir / "indexes" / "c1", outside)
    (outside / "important.tmp").write_text(MARK)
    shutil.rmtree(data_dir / "indexes" / "c1")
    (data_dir / "indexes" / "c1").symlink_to(outside)
    held = sorted(path.name for path in outside.iterdir())
    assert answers(open_db()) == before
    assert (outside / "important.tmp").read_text() == MARK and sorted(p.name for p in outside.iterdir()) == held
    assert [path.is_symlink() for path in moved_aside(data_dir, data_dir / "indexes" / "c1")] == [True]
    assert (data_dir / "indexes" / "c1").is_dir() and not (data_dir / "indexes" / "c1").is_symlink()
