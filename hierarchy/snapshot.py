"""Snapshots: a consistent copy of a data directory taken while the server runs, and
its offline restore.

A snapshot directory holds the checkpointed store (``strata.duckdb``, with its
write-ahead log if one remained), every saved index with its sidecar under ``indexes/``,
and ``manifest.json``, written last, that lists each file's size and SHA-256 with the
commit sequence the copy holds. A directory without a manifest is an unfinished snapshot.

Taking one (:meth:`hierarchy.db.Database.snapshot`): the facade pauses every writer,
checkpoints DuckDB when its disk has room for it (on a full disk a checkpoint is a fatal
error to DuckDB, and the log is copied instead), saves the indexes and copies the files
(:func:`copy_files`); the checksums are computed after writers resume
(:func:`write_manifest`).

Restoring one (:func:`restore`) is offline: the manifest's checksums are checked first,
then the files are copied into an empty data directory (or, with ``force``, one whose
contents are replaced). A marker file (``RESTORING``) lies there from before the directory
is emptied until every file is flushed, so a directory a restore was cut off in is refused
on open. A server opened on a restored directory recovers as after any restart: the
indexes load when they match the store, and are caught up or rebuilt otherwise.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from hierarchy import process
from hierarchy.catalog import now_ms
from hierarchy.errors import FailedPrecondition, InvalidArgument
from hierarchy.files import fsync, fsync_dir, sha256

MANIFEST = "manifest.json"
CLAIM = MANIFEST + ".tmp"  # the manifest as it is written; made first, to claim the destination
# Written into a data directory before a restore empties it, removed once every file is
# copied and flushed: a directory that still holds it was cut off mid-restore (the old
# data gone, the new half there) and is refused until the restore is run again.
RESTORING = "RESTORING"
FORMAT = 1  # manifest layout version; a newer one is refused
STORE_FILES = ("strata.duckdb", "strata.duckdb.wal")
INDEX_SUFFIXES = (".usearch", ".json")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotFile:
    """One file of a snapshot: its path relative to the snapshot, size and SHA-256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Snapshot:
    """A finished snapshot as its manifest describes it."""

    directory: Path
    commit_sequence: int
    schema_version: int
    created_ms: int
    files: list[SnapshotFile]


DESTINATION = "destination_dir"  # the request field a bad destination is reported against
SOURCE = "snapshot_dir"  # the argument of a restore a bad snapshot is reported against


def check_destination(destination: str, data_dir: Path) -> Path:
    """The directory a snapshot may be written to, created if needed.

    It must be absolute (the server expands nothing, not even ``~``), outside the data
    directory, and absent or empty.
    """
    if not destination.strip():
        raise InvalidArgument(DESTINATION, "is empty; name a directory on the server's machine")
    if "\x00" in destination:
        raise InvalidArgument(DESTINATION, "contains a NUL character; name a directory on the server's machine")
    path = Path(destination)
    if not path.is_absolute():
        raise InvalidArgument(
            DESTINATION, f"{destination!r} is relative; give an absolute path on the server's machine"
        )
    try:
        return _prepare(path.resolve(), data_dir.resolve())
    except OSError as exc:  # too long a name, no permission, a read-only file system ...
        raise FailedPrecondition(f"cannot use {destination!r}: {exc.strerror or exc}", DESTINATION) from exc


def _prepare(path: Path, data_dir: Path) -> Path:
    if path.is_relative_to(data_dir):
        raise InvalidArgument(DESTINATION, f"{path} is inside the data directory {data_dir}; choose one outside it")
    if path.exists() and not path.is_dir():
        raise FailedPrecondition(f"{path} is a file; name a new or empty directory", DESTINATION)
    if path.is_dir():
        _empty(path)
    path.mkdir(parents=True, exist_ok=True)
    # Claimed by creating the manifest's temporary file, which only one creator can: two
    # snapshots to one new directory both saw it empty, both answered OK, and it held one.
    # The manifest replaces the file last (an unfinished snapshot still has no manifest).
    try:
        (path / CLAIM).open("x").close()
    except FileExistsError:
        _empty(path)  # (it holds the other's claim: refused, saying so)
        return _prepare(path, data_dir)  # the other's gone (failed) since: claim it again
    if any(child.name != CLAIM for child in path.iterdir()):  # one finished between the look and the claim
        (path / CLAIM).unlink()
        _empty(path)
    return path


def _empty(path: Path) -> None:
    """Refuse a destination directory that holds anything."""
    held = [child.name for child in path.iterdir()]
    if held == [CLAIM]:
        raise FailedPrecondition(
            f"{path} is being written by another snapshot (or by one cut off before it copied a file: then "
            "remove it); name a new or empty directory",
            DESTINATION,
        )
    if held:
        raise FailedPrecondition(f"{path} is not empty; name a new or empty directory", DESTINATION)


def copy_files(data_dir: Path, destination: Path) -> list[Path]:
    """Copy the store and the saved indexes; returns the paths copied, relative.

    The caller has paused every writer, checkpointed the store and saved the indexes.
    """
    sources = [data_dir / name for name in STORE_FILES if (data_dir / name).is_file()]
    index_dir = data_dir / "indexes"
    if index_dir.is_dir():
        sources += sorted(p for p in index_dir.rglob("*") if p.is_file() and p.suffix in INDEX_SUFFIXES)
    copied = []
    for source in sources:
        relative = source.relative_to(data_dir)
        _copy(source, destination / relative)
        copied.append(relative)
    return copied


def write_manifest(destination: Path, files: list[Path], commit_sequence: int, schema_version: int) -> Snapshot:
    """Checksum the copied files and write the manifest, which marks the snapshot complete."""
    entries = [SnapshotFile(p.as_posix(), (destination / p).stat().st_size, sha256(destination / p)) for p in files]
    snapshot = Snapshot(destination, commit_sequence, schema_version, now_ms(), entries)
    manifest = {
        "format": FORMAT,
        "commit_sequence": commit_sequence,
        "schema_version": schema_version,
        "created_ms": snapshot.created_ms,
        "files": [asdict(e) for e in entries],
    }
    tmp = destination / CLAIM
    tmp.write_text(json.dumps(manifest, indent=1))
    fsync(tmp)
    os.replace(tmp, destination / MANIFEST)
    fsync(destination)
    return snapshot


def refused(exc: OSError, target: Path, data_dir: Path) -> FailedPrecondition:
    """Why a snapshot into ``target`` failed on ``exc``: the data directory's fault when
    the files the system names are its own only (an index saved first, on a full disk:
    "cannot write the snapshot to DEST" sent the operator to the wrong disk), the
    destination's otherwise. A copy that fails names its source first and the file it was
    writing second (``filename2``): a full destination was blamed on the data directory."""
    named = [Path(os.fsdecode(n)) for n in (exc.filename2, exc.filename) if isinstance(n, str | bytes)]
    written = next((p for p in named if p.is_relative_to(target)), None)
    if written is None and any(p.is_relative_to(data_dir) for p in named):
        return FailedPrecondition(
            f"cannot save the data directory's own files before copying them: {exc}; fix that and snapshot again",
            "data_dir",
        )
    what = f"{exc.strerror or exc} writing {written or target}, on the disk mounted at {_mount_point(target)}"
    fix = _DESTINATION_FIXES.get(exc.errno or 0, "choose another destination")
    return FailedPrecondition(f"cannot write the snapshot to {target}: {what}; {fix}, then snapshot again", DESTINATION)


# What to do when the destination refuses a write, by errno; any other: choose another.
_DESTINATION_FIXES = {
    errno.ENOSPC: "free space on that disk or choose a destination on another",
    errno.EDQUOT: "raise the server's quota on that disk or choose a destination on another",
    errno.EFBIG: (
        "that disk, or the server's file size limit (ulimit -f), takes no file that large: "
        "choose a destination on another disk or raise the limit"
    ),
    errno.EROFS: "it is read-only: choose a destination on another disk",
    errno.EACCES: "give the server's user write access there or choose another destination",
}


def _mount_point(path: Path) -> Path:
    """The directory the file system holding ``path`` is mounted at: the disk to free."""
    while not os.path.ismount(path) and path != path.parent:
        path = path.parent
    return path


def clear(directory: Path, keep: tuple[str, ...] = ()) -> None:
    """Remove everything inside ``directory`` but the names in ``keep``."""
    for child in directory.iterdir():
        if child.name in keep:
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def discard(directory: Path) -> None:
    """Remove a failed snapshot's partial copy, as far as the disk lets it: a removal that
    fails too is logged, and the failure that stopped the snapshot is what its caller
    reports (it was replaced by the removal's own OSError, which named neither)."""
    try:
        clear(directory)
    except OSError as exc:
        log.warning("cannot remove the partial snapshot in %s: %s; remove it by hand", directory, exc)


def read_manifest(snapshot_dir: Path) -> Snapshot:
    """The manifest of a finished snapshot."""
    try:
        manifest = json.loads((snapshot_dir / MANIFEST).read_text())
    except FileNotFoundError:
        raise FailedPrecondition(
            f"{snapshot_dir} has no {MANIFEST}: it is not a snapshot, or its snapshot did not finish", SOURCE
        ) from None
    except (OSError, ValueError) as exc:
        raise FailedPrecondition(f"cannot read {snapshot_dir / MANIFEST}: {exc}", SOURCE) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise FailedPrecondition(f"{snapshot_dir} has manifest format {found!r}; this Strata reads {FORMAT}", SOURCE)
    try:
        return _parse_manifest(snapshot_dir, manifest)
    except (KeyError, TypeError, ValueError) as exc:
        raise FailedPrecondition(f"{snapshot_dir / MANIFEST} is damaged ({exc!r})", SOURCE) from exc


def _parse_manifest(snapshot_dir: Path, manifest: dict) -> Snapshot:
    files = [SnapshotFile(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in manifest["files"]]
    for entry in files:
        _check_relative(entry.path)
    sequence, schema, created = (int(manifest[k]) for k in ("commit_sequence", "schema_version", "created_ms"))
    return Snapshot(snapshot_dir, sequence, schema, created, files)


def restore(snapshot_dir: Path, data_dir: Path, force: bool = False) -> Snapshot:
    """Check a snapshot's checksums, then copy it into ``data_dir`` (offline).

    ``data_dir`` must be absent or empty; with ``force`` its contents are replaced. A
    server running on ``data_dir`` makes this fail, force or not.
    """
    source, target = snapshot_dir.resolve(), data_dir.resolve()
    if target.is_relative_to(source) or source.is_relative_to(target):
        raise InvalidArgument("data_dir", f"{data_dir} and the snapshot {snapshot_dir} overlap; keep them apart")
    snapshot = read_manifest(snapshot_dir)
    for entry in snapshot.files:
        verify_file(snapshot_dir, entry)
    process.make_directory(data_dir)  # a file of that name: FAILED_PRECONDITION naming it
    with process.offline(data_dir, "a restore"):
        existing = [p for p in data_dir.iterdir() if p.name != "LOCK"]
        if existing and not force:
            raise FailedPrecondition(
                f"{data_dir} is not empty; restore into an empty directory, or pass --force to replace it", "data_dir"
            )
        if existing and not {p.name for p in existing} & {STORE_FILES[0], RESTORING}:
            # --force replaces a data directory, never a folder that holds something else
            # (a mistyped or empty --data-dir is the working directory).
            raise FailedPrecondition(
                f"{data_dir} holds files but no Strata store ({STORE_FILES[0]}); --force replaces only a data "
                "directory: restore into an empty or new directory",
                "data_dir",
            )
        marker = data_dir / RESTORING
        marker.write_text(f"restoring {source} into this directory\n")
        fsync(marker)
        fsync_dir(data_dir)
        clear(data_dir, keep=("LOCK", RESTORING))
        for entry in snapshot.files:
            try:
                _copy(snapshot_dir / entry.path, data_dir / entry.path)
            except OSError as exc:  # a full disk: the marker stays, and says to run it again
                raise FailedPrecondition(
                    f"cannot copy {entry.path} into {data_dir}: {exc.strerror}; make room, then run "
                    f"`strata restore SNAPSHOT --data-dir {data_dir} --force` again",
                    "data_dir",
                ) from exc
        # The new files' entries, and those of the directories made for them (``indexes/c1``
        # inside ``indexes``), are on disk before the marker goes: deepest first.
        for directory in sorted(_made_directories(data_dir, snapshot), key=lambda d: -len(d.parts)):
            fsync_dir(directory)
        marker.unlink()
        fsync_dir(data_dir)
    return snapshot


def _made_directories(data_dir: Path, snapshot: Snapshot) -> set[Path]:
    """Every directory from ``data_dir`` down to each of the snapshot's files."""
    found = {data_dir}
    for entry in snapshot.files:
        found.update(p for p in (data_dir / entry.path).parents if p.is_relative_to(data_dir))
    return found


def check_not_restoring(data_dir: Path) -> None:
    """Refuse a data directory a restore was cut off in (it still holds the marker)."""
    marker = data_dir / RESTORING
    if marker.exists():
        raise FailedPrecondition(
            f"{data_dir} holds a restore that did not finish ({marker} is there); run "
            f"`strata restore SNAPSHOT --data-dir {data_dir} --force` again",
            "data_dir",
        )


def verify_file(snapshot_dir: Path, entry: SnapshotFile) -> None:
    """Raise unless a snapshot file exists with its recorded size and checksum."""
    path = snapshot_dir / entry.path
    if not path.is_file():
        raise FailedPrecondition(f"{path} is missing; the snapshot is incomplete", SOURCE)
    if path.stat().st_size != entry.size or sha256(path) != entry.sha256:
        raise FailedPrecondition(f"{path} fails its checksum; the snapshot is damaged", SOURCE)


def _check_relative(path: str) -> None:
    parts = PurePosixPath(path)
    if parts.is_absolute() or ".." in parts.parts:
        raise FailedPrecondition(f"the manifest names {path!r}, outside the snapshot; it is damaged", SOURCE)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    fsync(target)
