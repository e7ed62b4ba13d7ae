"""Durable file helpers shared by the index saver and snapshots: checksums, fsync, and
atomic replacement (write a temporary file, fsync, rename)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync(path: Path) -> None:
    """Flush a file (or a directory's entries) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (a rename in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def tree_bytes(root: Path) -> int:
    """Bytes of the files under ``root``. Files and folders that vanish while it counts
    (an index save's temporary file, a collection being deleted) are not counted, where
    walking and then asking each file's size failed on them."""
    total = 0
    for folder, _, names in os.walk(root):  # an unreadable or vanished folder is passed over
        for name in names:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue
    return total


def read_sidecar(path: Path, counted: tuple[str, ...]) -> dict[str, Any] | None:
    """The JSON object saved in ``path`` beside a file it describes, if its ``counted``
    fields are counts; else None, with a warning (a sidecar missing, unreadable or
    malformed: the file it describes cannot be checked, and the caller rebuilds it)."""
    try:
        sidecar = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        sidecar = None
    if isinstance(sidecar, dict) and all(type(sidecar.get(k)) is int and sidecar[k] >= 0 for k in counted):
        return sidecar
    log.warning("%s is missing, unreadable or malformed: the file it describes is rebuilt", path)
    return None
