"""What an open database takes from its process: an exclusive lock on its data
directory (held by offline work on it too), numpy's BLAS pool capped (see
``DatabaseOptions.blas_threads``), and a lower CPU priority for its background threads."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from threadpoolctl import threadpool_limits

from hierarchy.errors import FailedPrecondition, Unavailable


def limit_blas_threads(threads: int) -> None:
    """Cap numpy's BLAS pool at ``threads`` for the whole process (0 leaves it alone).
    Through threadpoolctl: the pool is sized when numpy loads, before any setting here."""
    if threads > 0:
        threadpool_limits(threads, user_api="blas")


def run_in_background(niceness: int) -> None:
    """Lower the calling thread's CPU priority by ``niceness`` (Linux, where priority is
    per thread; threads it starts inherit it). Elsewhere, or where refused, nothing."""
    if niceness > 0 and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + niceness)


# Descriptors a forked child may have inherited, all closed by forget_parent_files.
_PR_SET_PDEATHSIG = 1  # prctl(2): the signal the caller gets when its parent dies
_MAX_FDS = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536


def forget_parent_files() -> None:
    """In a forked child: close every descriptor above stderr, so that a child still
    running when its parent dies holds none of the parent's files (the data directory's
    lock, the store, a listening socket); and, on Linux, be killed when the parent dies
    (a server killed while its child wrote an index file left the child writing into a
    directory the next server owned)."""
    parent = os.getppid()
    os.closerange(3, _MAX_FDS)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)


def wait_for_child(pid: int, timeout: float, poll: float = 0.01) -> int | None:
    """The exit code of child ``pid`` (negative: the signal that ended it), or None when it
    had not ended within ``timeout`` seconds: it is then killed and reaped."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(poll)


def make_directory(data_dir: Path) -> None:
    """Create the data directory (and its parents) unless it exists."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FailedPrecondition(
            f"cannot use {data_dir} as a data directory: {_not_made(data_dir, exc)}; choose another --data-dir",
            "data_dir",
        ) from exc


def _not_made(data_dir: Path, exc: OSError) -> str:
    """Why a data directory could not be made: the file in its place or its path's way
    when there is one (mkdir says only "File exists" or "Not a directory"), else the error."""
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        for path in (data_dir, *data_dir.parents):
            if path.exists() and not path.is_dir():
                return f"{path} is a file, not a directory"
    return exc.strerror or str(exc)


def open_lock_file(data_dir: Path) -> IO[str]:
    """The data directory's lock file, opened (made when absent) but not yet locked: a
    directory that cannot hold it (read-only, not writable) is FAILED_PRECONDITION."""
    try:
        return (data_dir / "LOCK").open("a+")
    except OSError as exc:
        raise FailedPrecondition(
            f"cannot use {data_dir} as a data directory: {exc.strerror}; choose another --data-dir", "data_dir"
        ) from exc


@contextlib.contextmanager
def offline(data_dir: Path, work: str) -> Iterator[None]:
    """Hold a data directory's lock file, as a server does, for the length of ``work``
    done on it offline (a restore, a compaction). A lock file made here goes again when
    the work fails: a folder a restore refused (it holds something else) keeps nothing
    of it."""
    lock = data_dir / "LOCK"
    made = not lock.exists()
    try:
        handle = _flocked(data_dir)
    except BlockingIOError as exc:
        raise Unavailable(f"{data_dir} is in use by a running Strata server; stop it before {work}") from exc
    try:
        yield
    except BaseException:
        # Removed while still held: a server that opened it meanwhile finds, once it has
        # the lock, that it is no longer the directory's lock file, and opens that.
        if made:
            lock.unlink(missing_ok=True)
        raise
    finally:
        handle.close()


def _flocked(data_dir: Path) -> IO[str]:
    """The data directory's lock file, locked (BlockingIOError when another process holds
    it). A lock taken on a file unlinked meanwhile (a refused offline run removes the one
    it made) guards nothing: the file is opened again until the one locked is the one at
    ``LOCK``."""
    while True:
        handle = open_lock_file(data_dir)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _same_file(handle, data_dir / "LOCK"):
                return handle
        except BaseException:
            handle.close()
            raise
        handle.close()


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        there = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(handle.fileno())
    return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)


def lock_directory(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data directory for the life of the process."""
    try:
        handle = _flocked(data_dir)
    except BlockingIOError as exc:
        handle = open_lock_file(data_dir)
        handle.seek(0)
        owner = handle.read().strip() or "unknown"
        handle.close()
        raise Unavailable(
            f"data directory {data_dir} is in use by another Strata process (pid {owner}); "
            "stop it or choose another --data-dir"
        ) from exc
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
