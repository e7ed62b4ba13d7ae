"""The shape of a data directory's ``indexes/`` tree, settled when the directory opens.

Indexes are derived data: any level's can be rebuilt from the store. So whatever stands
where the tree needs a file or a directory of its own and is not of the shape Strata
writes there (a directory where an index file, its sidecar or a save's temporary file
belongs; a file or a dangling symbolic link where a collection's index directory, or the
``indexes`` directory itself, belongs; a file the server cannot read) is moved aside,
under ``<data dir>/aside/<UTC time>/`` at the same relative path, and logged: recovery
then rebuilds the index it stood for. Nothing found there is deleted: it may not be
Strata's. A directory of the tree the server cannot write is refused instead, before
anything is moved: an index rebuilt there could never be saved, and every start would
rebuild it again.

:func:`survey` only reads (it runs before the store opens); :func:`set_aside` moves
what it found (once the store has been read).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import time
from pathlib import Path
from typing import NamedTuple

from hierarchy.errors import FailedPrecondition
from hierarchy.types import Level

log = logging.getLogger(__name__)

ASIDE = "aside"  # under the data directory: what was found in the way of the index tree
# A level's graph and its sidecar (the temporary files their saves write end in .tmp).
LEVEL_FILES = frozenset(level.label + suffix for level in Level for suffix in (".usearch", ".json"))
# Whether os.access may be asked about the effective user (a server run setuid, say).
EFFECTIVE = os.access in os.supports_effective_ids
SAVED = "the indexes could not be saved there"
_COLLECTION_DIR = re.compile(r"c[1-9][0-9]*")  # collection ids start at 1


class InTheWay(NamedTuple):
    """Something of the wrong shape where the index tree needs a file or directory."""

    path: Path
    why: str  # e.g. "a directory where an index file belongs"


def is_collection_dir(name: str) -> bool:
    """Whether ``name`` is that of a collection's index directory: ``c<id>`` as Strata
    writes it (ASCII digits, no leading zero; ``str.isdigit`` also took ``c²`` and
    ``c07``, whose contents a start then removed as a deleted collection's)."""
    return _COLLECTION_DIR.fullmatch(name) is not None


def is_level_file(name: str) -> bool:
    """Whether ``name`` is one Strata writes in a collection's index directory: a level's
    files, or a temporary file (every ``*.tmp`` there is removed as a save's leftover)."""
    return name in LEVEL_FILES or name.endswith(".tmp")


def survey(data_dir: Path, root: Path) -> list[InTheWay]:
    """What in ``root`` (the ``indexes`` directory of ``data_dir``) is in the way of the
    index tree. Reads only. Raises FailedPrecondition, naming the directory and the fix,
    where the server could not write: a directory of the tree, or the data directory when
    something must be moved aside into it or ``root`` made there."""
    if os.path.lexists(root) and not root.is_dir():
        found = [InTheWay(root, f"{_shape(root)} where the index directory belongs")]
        _check_writable(data_dir, "the data directory", f"{root} could not be moved aside, nor the indexes saved")
        return found
    if not root.is_dir():
        _check_writable(data_dir, "the data directory", f"{root} could not be made")
        return []
    _check_writable(root, "the index directory")
    found = []
    for entry in sorted(root.iterdir()):
        if not is_collection_dir(entry.name):
            continue  # not Strata's, and in nobody's way
        # A link is in the way too, even to a directory: Strata makes none, and the tree
        # beneath one lies outside the data directory (its leftovers would be removed there).
        if entry.is_symlink() or not entry.is_dir():
            found.append(InTheWay(entry, f"{_shape(entry)} where a collection's index directory belongs"))
            continue
        _check_writable(entry, "the index directory")
        for child in sorted(entry.iterdir()):
            if is_level_file(child.name) and not _readable_file(child):
                found.append(InTheWay(child, f"{_shape(child)} where {_role(child.name)} belongs"))
    if found:  # the aside directory is made there
        _check_writable(data_dir, "the data directory", f"{found[0].path} could not be moved aside")
    return found


def set_aside(data_dir: Path, found: list[InTheWay]) -> list[Path]:
    """Move each of ``found`` under ``<data_dir>/aside/<UTC time>/`` at its path relative
    to ``data_dir``, logging where it went; returns where each went. A move that fails (a
    tree on another file system than the data directory) is FailedPrecondition naming
    the path to move by hand."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = []
    for path, why in found:
        target = _free(data_dir / ASIDE / stamp / path.relative_to(data_dir))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(path, target)
        except OSError as exc:
            raise FailedPrecondition(
                f"{path} is {why}, and it could not be moved aside to {target}: {exc.strerror or exc}; "
                "move it out of the way and start again (the index is rebuilt from the store)",
                "data_dir",
            ) from exc
        # A warning: it says where something the operator may want back went.
        log.warning(
            "%s was %s: moved aside to %s (Strata does not read it; any index it stood for is rebuilt from the store)",
            path,
            why,
            target,
        )
        moved.append(target)
    return moved


def _role(name: str) -> str:
    """What a file of a collection's index directory named ``name`` is, in words."""
    if name.endswith(".tmp"):
        return "a save's temporary file"
    return "an index's sidecar" if name.endswith(".json") else "an index file"


def _free(target: Path) -> Path:
    """``target``, or ``target.1``, ``target.2`` ... if something is there (two moves of
    the same path within one second)."""
    free, n = target, 0
    while os.path.lexists(free):
        n += 1
        free = target.with_name(f"{target.name}.{n}")
    return free


def _readable_file(path: Path) -> bool:
    """Whether ``path`` is a regular file (not a link: Strata writes none, and a save would
    replace it) that this process can read."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return True  # gone meanwhile: in no one's way
    return stat.S_ISREG(mode) and os.access(path, os.R_OK, effective_ids=EFFECTIVE)


def _shape(path: Path) -> str:
    """What ``path`` is, in words, for the log and errors."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link" if path.exists() else "a dangling symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        if not os.access(path, os.R_OK, effective_ids=EFFECTIVE):
            return "an unreadable file"
        return "an empty file" if path.lstat().st_size == 0 else "a file"
    return "a special file"


def _check_writable(directory: Path, what: str, needed: str = SAVED) -> None:
    """Refuse ``directory`` unless this process may list it, and make and rename files in
    it (a read-only file system answers no too); ``needed`` says what for."""
    if os.access(directory, os.R_OK | os.W_OK | os.X_OK, effective_ids=EFFECTIVE):
        return
    uid = os.geteuid()
    raise FailedPrecondition(
        f"{what} {directory} is not writable by this server (uid {uid}): {needed}; "
        f"give uid {uid} read and write access to it (e.g. `chown -R {uid} {directory}`) and start again",
        "data_dir",
    )
