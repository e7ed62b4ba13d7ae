"""Help of the ``strata`` commands, taken from their docstrings: what reStructuredText
marks as a literal (between double backticks) is shown as a literal of the help, and
its backticks are not."""

from __future__ import annotations

import inspect
import re

import typer
from rich.markup import escape

_LITERAL = re.compile(r"``([^`]+)``")
_LINE_BREAK = re.compile(r"(?<!\n)\n(?!\n)")  # one inside a paragraph, not between two


def help_text(doc: str, markup: str | None) -> str:
    """``doc`` as help in ``markup`` (typer's: "rich", "markdown" or None for plain text):
    literals bold in rich markup, code in Markdown, as they are in plain text."""
    if markup == "rich":  # the rest is the docstring's text, not markup either
        parts = _LITERAL.split(doc)  # text, literal, text, ...
        return "".join(f"[bold]{escape(part)}[/bold]" if i % 2 else escape(part) for i, part in enumerate(parts))
    return _LITERAL.sub(r"`\1`" if markup == "markdown" else r"\1", doc)


def use_docstrings(app: typer.Typer) -> None:
    """Set the help of every command of ``app`` and of its groups from its docstring (or
    its help), each paragraph on one line, through :func:`help_text`. Call it once, when
    all are registered: the docstrings themselves stay as they are, for the reader of
    the code."""
    _set_help(app, app.rich_markup_mode)  # the groups draw their help as the top command does


def _set_help(app: typer.Typer, markup: str | None) -> None:
    for command in app.registered_commands:
        doc = command.help if command.help is not None else inspect.getdoc(command.callback)
        if doc:
            # A docstring's lines are cut for the code: under rich markup, typer's list of
            # commands kept those breaks inside a paragraph, mid-sentence.
            command.help = help_text(_LINE_BREAK.sub(" ", doc), markup)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            _set_help(group.typer_instance, markup)
