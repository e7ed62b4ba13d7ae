"""The help of the ``strata`` commands, drawn from their docstrings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer
from typer.testing import CliRunner

from tools.cli import app
from tools.help_text import help_text

runner = CliRunner()


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """The words that name ``command`` and each command under it (a group's are its
    ``commands``)."""
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _command_paths(sub, (*path, name))


def test_help_shows_no_restructuredtext_backticks() -> None:
    paths = list(_command_paths(typer.main.get_command(app)))
    assert ("serve",) in paths and ("collections", "create") in paths and ("bench",) in paths
    shown = {}
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (path, result.output)
        assert "``" not in result.output, (path, result.output)
        shown[path] = result.output
    # What was marked as a literal is still there, as the docstrings put it.
    assert "prints listening on HOST:PORT once bound" in shown[("serve",)]
    assert "(strata serve --data-dir)" in shown[("restore",)]
    assert "(--dim D for client vectors, --encoder default for text)" in shown[("collections", "create")]
    assert "Usage: python -m tools.bench --segments 100000" in shown[("bench",)]  # its own parser's help
    assert "strata bench --help for its options" in shown[()]


def test_the_list_of_commands_runs_each_paragraph_on() -> None:
    """A docstring's lines are cut for the code: the list shows them joined, wrapped to
    its own width."""
    listed = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    ingest = " ".join(line.strip("│ ") for line in listed.splitlines() if "│ ingest " in line)
    assert "created on first sight. Re-running the same file with the same --batch-size is safe" in ingest, listed


def test_literals_take_the_markup_of_the_help() -> None:
    doc = "Prints ``ready [x]`` once; see ``a``."
    assert help_text(doc, None) == "Prints ready [x] once; see a."
    assert help_text(doc, "markdown") == "Prints `ready [x]` once; see `a`."
    assert help_text(doc, "rich") == r"Prints [bold]ready \[x][/bold] once; see [bold]a[/bold]."
    assert help_text("A [red] text", "rich") == r"A \[red] text"  # the docstring's text is not markup either
