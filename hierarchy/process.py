"""What an open database takes from its process: an exclusive lock on its data
directory, and numpy's BLAS pool capped (see ``DatabaseOptions.blas_threads``)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from threadpoolctl import threadpool_limits

from hierarchy.errors import Unavailable


def limit_blas_threads(threads: int) -> None:
    """Cap numpy's BLAS pool at ``threads`` for the whole process (0 leaves it alone).
    Through threadpoolctl: the pool is sized when numpy loads, before any setting here."""
    if threads > 0:
        threadpool_limits(threads, user_api="blas")


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
