"""Where the ``strata`` commands print, and how one fails on its own input or set-up."""

from __future__ import annotations

import sys
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
