"""Writing an HNSW graph to its file without holding up the process's other threads.

USearch holds the interpreter lock for a whole save. Where the system forks, a child
writes the graph (``in_child``) and the caller waits only for the fork; elsewhere, or
when the child fails, the save runs in process and lets go of the lock between nodes
(``in_process``)."""

from __future__ import annotations

import errno
import logging
import os
import time
from pathlib import Path

from usearch.index import Index

from hierarchy import process

log = logging.getLogger(__name__)

# A save in process lets the other threads run after every this many nodes written
# (see ``_let_others_run``).
SAVE_YIELD_NODES = 4096
# A child writing a graph (see ``in_child``) is given up after this long: a 1 M
# segment graph takes about a second.
SAVE_CHILD_TIMEOUT_S = 300


def in_child(index: Index, path: Path) -> int | None:
    """Start a child process that writes ``index`` to ``path``; its process id, or None
    when the system cannot fork (then the caller writes it).

    USearch holds the interpreter lock for a whole save, so every call to the server
    waited for it. A forked child writes the graph as it was at the fork while this
    process goes on: at 1 M segments (a 661 MB graph, 3.7 GB resident) another thread
    waited at most 15-17 ms, the fork's own 11-15, against 350-812 ms for a save in
    process (BENCHMARKS.md). The child has only this thread; it touches nothing but the
    graph and the file, and leaves without any clean-up that could reach shared state.
    Pages the parent changes meanwhile are copied, which the parent's memory pays for.
    A library's after-fork handler that fails with other threads running (gRPC's did:
    the service turns them off) makes the child fail; the caller then saves in process."""
    if not hasattr(os, "fork"):
        return None
    try:
        pid = os.fork()
    except OSError as exc:  # e.g. no memory to commit for the copy: save in process
        log.warning("cannot fork to save %s (%s); saving in process", path, exc)
        return None
    if pid == 0:  # the child
        code = 1
        try:
            # None of the parent's files: a child still writing when the server dies must
            # not keep the data directory's lock (or the store, or the port) held.
            process.forget_parent_files()
            index.save(str(path))
            code = 0
        finally:
            os._exit(code)
    return pid


def child_wrote(pid: int, path: Path) -> bool:
    """Wait for the child writing ``path``: whether it wrote it. A child that failed, or
    has not ended within ``SAVE_CHILD_TIMEOUT_S`` (stuck on a lock another thread held at
    the fork), is logged, and killed if still running."""
    code = process.wait_for_child(pid, SAVE_CHILD_TIMEOUT_S)
    if code is None:
        log.warning("the process writing %s took over %d s; killed, saving in process", path, SAVE_CHILD_TIMEOUT_S)
    elif code != 0:
        log.warning("the process writing %s ended with status %d; saving in process", path, code)
    return code == 0


def _let_others_run(written: int, total: int) -> bool:
    """For a save in process: USearch calls this twice for every node (its level, then its
    links), holding the interpreter lock throughout, so every call to the server waited
    for a whole save (a 1 M segment graph: 0.37-0.74 s). Letting go now and then leaves
    one pause, the graph's vectors, written first in one piece: 0.39-0.41 s at 1 M, the
    save 1.0 s long (BENCHMARKS.md)."""
    if written % SAVE_YIELD_NODES == 0:
        time.sleep(0)  # lets go of the interpreter lock, so a waiting thread takes it
    return True


# USearch checks a progress callback's annotations against the types themselves, and
# this module's are strings (postponed evaluation).
_let_others_run.__annotations__ = {"written": int, "total": int, "return": bool}


def in_process(index: Index, path: Path) -> None:
    """Write ``index`` to ``path`` in this process, letting other threads run between nodes.
    A file the system refuses raises OSError naming it (see ``_refused``)."""
    try:
        index.save(str(path), progress=_let_others_run)
    except RuntimeError as exc:
        if (refused := _refused(str(exc), path)) is None:
            raise
        raise refused from exc


# The system's words for each errno, as USearch quotes them.
_ERRNOS = {os.strerror(code): code for code in errno.errorcode}
# What USearch says when a write fails part-way (on a full disk, past a file size limit):
# the system's reason is lost.
_WRITE_FAILED = "Failed to serialize into stream"


def _refused(said: str, path: Path) -> OSError | None:
    """USearch's RuntimeError of a save as the OSError it stands for, or None when it is
    none: a file it cannot open is in the system's words ("Permission denied"), a write
    that failed part-way is ``_WRITE_FAILED`` (an I/O error, its cause unknown). As an
    OSError, with the file's name, it reads as every other write's: a recovery that
    cannot save a rebuilt index logs one line instead of a traceback."""
    if said in _ERRNOS:
        return OSError(_ERRNOS[said], said, str(path))
    if said == _WRITE_FAILED:
        return OSError(errno.EIO, f"the write failed part-way ({said}: is the disk full?)", str(path))
    return None
