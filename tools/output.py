"""Where the ``strata`` commands print, and how one fails on its own input or set-up."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape as escape_markup

from tools.entry import INTERRUPTED

# Piped output (CI logs, files) gets room for the result tables instead of 80 columns.
# Text from users and the server (captions, labels, ids, queries, messages, paths) goes
# through escape(): rich reads "[...]" as markup, so "[/x]" crashed a command and
# "[red]a[/red]" printed as "a". No emoji either: ":smile:" in a caption stays as given.
console = Console(width=None if sys.stdout.isatty() else 120, emoji=False)
err = Console(stderr=True, emoji=False)

# Control characters but tab and newline (C0, DEL, C1), the line and paragraph
# separators, and the marks that reorder text on screen (bidirectional marks, overrides
# and isolates). Rich passes an ESC through, so a caption written by any client could
# drive the operator's terminal: clear it, retitle it, hide what follows, or make a line
# read differently than the bytes it holds.
_UNPRINTABLE = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
# A backslash that would read as the start of such an escape (the text \x1b typed in a
# caption), or run into one or into another backslash, is doubled, so that \\ is always a
# backslash and \x1b always the character; any other is printed as it is (C:\videos).
_ESCAPE_LIKE = rf"\\(?=\\|x[0-9a-fA-F]{{2}}|u[0-9a-fA-F]{{4}}|{_UNPRINTABLE})"
_SHOWN = re.compile(f"{_UNPRINTABLE}|{_ESCAPE_LIKE}")


def escape(text: str) -> str:
    """``text`` from users or the server, ready to print with rich: markup escaped, and
    control characters shown as escapes (``\\x1b``, ``\\u202e``) instead of acting; a
    backslash that would read as such an escape is doubled (``\\\\x1b``)."""
    return escape_markup(_SHOWN.sub(_shown, text))


def quoted(text: str) -> str:
    """``text`` in quotes, as a title or a message names a query or an id: in double quotes
    if it holds a single one (and no double one), else in single quotes. Nothing inside is
    changed, so that escape() on the whole line shows it as it shows the same text in a
    table (Python's quoting, !r, escaped it first: a backslash typed once showed as four)."""
    mark = '"' if "'" in text and '"' not in text else "'"
    return f"{mark}{text}{mark}"


def _shown(match: re.Match[str]) -> str:
    char = match[0]
    if char == "\\":
        return "\\\\"
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def many(count: int, noun: str, plural: str = "") -> str:
    """``1 segment``, ``2 segments``, ``3 batches``; ``plural`` where it is not regular
    (``many(2, "child", "children")``)."""
    if count == 1:
        return f"1 {noun}"
    return f"{count} {plural or noun + ('es' if noun.endswith('ch') else 's')}"


def stop(message: str) -> NoReturn:
    """Fail a command on a problem of its own input or set-up: one line, exit code 1."""
    err.print(f"[red]error[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


def interrupted(message: str) -> NoReturn:
    """End a command stopped by Ctrl-C (SIGINT) on one line saying what it left as it was:
    exit code 130 (128 + SIGINT), as any command so stopped ends."""
    err.print(f"[yellow]interrupted[/yellow]: {escape(message)}", soft_wrap=True)
    raise typer.Exit(INTERRUPTED)


def directory(raw: str) -> Path:
    """A directory option's value (``--data-dir``): an empty one is refused, as it would
    name the working directory (a restore ``--force`` would empty it)."""
    if not raw.strip():
        raise typer.BadParameter("is empty; name a directory")
    return Path(raw).expanduser()
