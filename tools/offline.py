"""The ``strata`` commands that work on a data directory itself, with no server running
on it: ``restore`` a snapshot into it, ``compact`` its store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hierarchy.errors import StrataError
from tools.output import console, directory, err, escape, interrupted, stop
from tools.progress import elapsed

offline_app = typer.Typer()
DataDir = Annotated[
    Path, typer.Option("--data-dir", parser=directory, help="The data directory (no server may be running on it).")
]


@offline_app.command()
def restore(
    snapshot_dir: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="A snapshot directory.")],
    data_dir: Annotated[Path, typer.Option("--data-dir", parser=directory, help="Data directory to restore into.")],
    force: Annotated[bool, typer.Option("--force", help="Replace the contents of a non-empty --data-dir.")] = False,
) -> None:
    """Restore a snapshot into a data directory, offline, after checking its checksums;
    then start a server on it (``strata serve --data-dir``)."""
    from hierarchy.snapshot import restore as restore_snapshot

    try:
        restored = restore_snapshot(snapshot_dir, data_dir.expanduser(), force)
    except StrataError as exc:
        stop(str(exc))
    restored_into = f"(commit sequence {restored.commit_sequence}) into {escape(str(data_dir))}"
    console.print(f"restored {len(restored.files)} files {restored_into}", soft_wrap=True)


@offline_app.command()
def compact(
    data_dir: DataDir,
    memory_limit: Annotated[
        str, typer.Option("--memory-limit", help="DuckDB's memory while it copies (it spills to disk past it).")
    ] = "1GB",
) -> None:
    """Rewrite the store of a data directory with only its live rows, offline: the space
    deleted videos and rebuilt trees left in it is given back to the file system (DuckDB
    reuses it, but never shrinks the file). Stop the server first; start it again after."""
    from hierarchy.compact import CompactInterrupted
    from hierarchy.compact import compact as compact_store

    try:
        with elapsed(err, "compact"):
            done = compact_store(data_dir.expanduser(), memory_limit)
    except StrataError as exc:
        stop(str(exc))
    except CompactInterrupted as exc:  # Ctrl-C: what was left as it was, not DuckDB's traceback
        interrupted(str(exc))
    rows = sum(done.rows.values())
    console.print(
        f"compacted {escape(str(data_dir))}: {done.before_bytes / 1e6:.1f} MB -> {done.after_bytes / 1e6:.1f} MB "
        f"({rows:,} rows kept)",
        soft_wrap=True,
    )
