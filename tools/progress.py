"""What a command shows on stderr while it works: bars for work the server counts
(``ingest``, ``build``), a spinner with the elapsed time for a call that tells nothing
until it ends (``verify``, ``snapshot``).

They are drawn only on an interactive terminal, so piped or redirected output gets none,
and they are transient: they go when the work ends, leaving the summary or the error alone."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def bars(console: Console) -> Progress:
    """Progress bars on ``console``: one task per stage, advanced as the work is counted."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return _progress(console, columns)


@contextmanager
def elapsed(console: Console, description: str) -> Iterator[None]:
    """A spinner, ``description`` (rich markup) and the time since it started, on
    ``console`` while the block runs: a call that can take minutes is seen to be running."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with _progress(console, columns) as progress:
        progress.add_task(description, total=None)
        yield


def _progress(console: Console, columns: tuple[ProgressColumn, ...]) -> Progress:
    # Off rather than left to rich off a terminal: rich draws nothing there while it runs,
    # but still ends with an empty line.
    return Progress(*columns, console=console, transient=True, disable=not console.is_interactive)
