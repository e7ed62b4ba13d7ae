"""What an open database takes from its process: an exclusive lock on its data
directory, numpy's BLAS pool capped (see ``DatabaseOptions.blas_threads``), and a lower
CPU priority for its background threads."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import threading
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


def make_directory(data_dir: Path) -> None:
    """Create the data directory (and its parents) unless it exists."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FailedPrecondition(
            f"cannot use {data_dir} as a data directory: {exc.strerror}; choose another --data-dir", "data_dir"
        ) from exc


def lock_directory(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data directory for the life of the process."""
    handle = (data_dir / "LOCK").open("a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
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
