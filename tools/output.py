"""Where the ``strata`` commands print, and how one fails on its own input or set-up."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# Piped output (CI logs, files) gets room for the result tables instead of 80 columns.
# Text from users and the server (captions, labels, ids, queries, messages, paths) goes
# through escape(): rich reads "[...]" as markup, so "[/x]" crashed a command and
# "[red]a[/red]" printed as "a". No emoji either: ":smile:" in a caption stays as given.
console = Console(width=None if sys.stdout.isatty() else 120, emoji=False)
err = Console(stderr=True, emoji=False)


def stop(message: str) -> NoReturn:
    """Fail a command on a problem of its own input or set-up: one line, exit code 1."""
    err.print(f"[red]error[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


def directory(raw: str) -> Path:
    """A directory option's value (``--data-dir``): an empty one is refused, as it would
    name the working directory (a restore ``--force`` would empty it)."""
    if not raw.strip():
        raise typer.BadParameter("is empty; name a directory")
    return Path(raw).expanduser()
