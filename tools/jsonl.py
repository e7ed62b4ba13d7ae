"""Lines of a JSONL segment file, each checked before its batch is sent, so that a line
that is not a segment is named by file and line (``FILE:LINE: field: problem``)."""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

from hierarchy import validate
from hierarchy.errors import InvalidArgument
from service.rows import FIELDS, REQUIRED

STDIN = "-"  # the file argument that reads standard input
STDIN_NAME = "<stdin>"  # how a place in standard input is named (``<stdin>:3``)


def count_rows(path: Path) -> int | None:
    """The lines of a JSONL file that are not blank (a progress bar's total); None for
    standard input, a pipe or a FIFO (``<(zcat f.gz)``), which can be read only once."""
    if str(path) == STDIN or not path.is_file():
        return None
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def read_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a JSONL file (``-``: standard input) with their places (``file:line``;
    blank lines skipped); ValueError names the file, line and field of one that is not a
    segment (see :func:`check_row`). The file is read once, as it is iterated."""
    with _opened(path) as (handle, name):
        for number, raw in enumerate(handle, start=1):
            if number == 1:  # a byte-order mark, as some editors on Windows write one, is no part of the JSON
                raw = raw.removeprefix(codecs.BOM_UTF8)
            if raw.strip():
                where = f"{name}:{number}"
                yield where, _row(raw, where)


@contextmanager
def _opened(path: Path) -> Iterator[tuple[BinaryIO, str]]:
    """``path`` open for reading bytes, and its name in places; standard input is left open."""
    if str(path) == STDIN:
        yield sys.stdin.buffer, STDIN_NAME
        return
    with path.open("rb") as handle:
        yield handle, str(path)


def _row(raw: bytes, where: str) -> dict[str, Any]:
    row = _parsed(raw, where)
    if not isinstance(row, dict):
        raise ValueError(f"{where}: a segment is a JSON object, not {type(row).__name__}")
    problem = check_row(row)
    if problem:
        raise ValueError(f"{where}: {problem}")
    return row


def _parsed(raw: bytes, where: str) -> Any:
    """A line's JSON value. orjson reads a line of a 512-d vector in 12 us where the json
    module took 79 (four fifths of reading and checking it): the CLI read 5,700 such lines
    a second, fewer than a server acknowledges. A line orjson refuses is read again by the
    json module, whose reading, and refusals, are the format's: it takes integers past 64
    bits, NaN and 1e400 (which the checks then refuse, naming the field), and says what
    is wrong with a line that is no JSON. orjson reads an integer past 64 bits as a float
    (2**64 as 1.8446744073709552e19), which an attribute would keep: a line with a whole
    float that large outside its vector is read again too."""
    try:
        row = orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    else:
        if not isinstance(row, dict) or not any(_past_int64(v) for k, v in row.items() if k != "vector"):
            return row
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{where}: not UTF-8 text (byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg})") from exc
    except ValueError as exc:  # an integer of thousands of digits; not the advice to a programmer after ";"
        raise ValueError(f"{where}: {str(exc).split(';')[0]}") from exc
    except RecursionError as exc:  # arrays in arrays thousands deep
        raise ValueError(f"{where}: nested too deeply") from exc


def _past_int64(value: Any) -> bool:
    """Whether ``value`` holds a whole float of 2**63 or more (an integer orjson widened).
    Walked with a stack, not by recursion: orjson reads arrays 1,023 deep, past the
    interpreter's recursion limit (a traceback, where the json module's line says "nests
    deeper than 16 levels")."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and abs(item) >= _INT64 and item.is_integer():
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


_INT64 = 2.0**63


def check_row(row: dict[str, Any]) -> str:
    """What is wrong with a segment row, as ``field: problem``; empty when nothing is.

    Checked before the row's batch is sent, so the error can name the file and line:
    the client would otherwise trip over some values (a duration of ``[1]`` or ``1e400``,
    a time past int64) and silently misread others (``"shot_cut": "no"`` is true)."""
    for name in REQUIRED:
        if row.get(name) is None:
            return f"{name}: is missing"
    if unknown := sorted(set(row) - FIELDS):  # a misspelt field ("label") would be dropped unseen
        return f"{unknown[0]}: is not a segment field; use {', '.join(sorted(FIELDS))}"
    for name, check in _FIELDS:
        if row.get(name) is not None and (problem := check(row[name])):
            return f"{name}: {problem}"
    if row["end_ms"] <= row["start_ms"]:
        return f"end_ms: must be after start_ms (is {row['end_ms']}, start_ms {row['start_ms']})"
    try:
        # The server's rules, which a line would otherwise break only once its batch is
        # sent: an id of the form of a tree's node ids, a label too long or empty, an
        # attribute of NaN or infinity, an empty key, one nested too deep.
        validate.segment_id(row.get("id") or "", "id", f"{row['video_id']}@{row['start_ms']}")
        validate.labels(row.get("labels") or [], "labels")
        validate.attributes(row.get("attributes") or {}, "attributes")
    except InvalidArgument as exc:
        return str(exc)
    return ""


def _time(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        return "must be an integer (milliseconds)"
    # The server's range: times stay exact in every client language, and the protobuf
    # int64 setter never sees a larger one.
    if not 0 <= value <= validate.MAX_TIME_MS:
        return f"must be between 0 and {validate.MAX_TIME_MS}, not {value}"
    return ""


def _video_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    try:  # the server's rule for ids (printable, 1-128 characters, no space at either end)
        validate.identifier(value, "video_id")
    except InvalidArgument as exc:
        return exc.message
    return ""


def _text(value: Any) -> str:
    if not isinstance(value, str):
        return "must be a string"
    try:  # the server's limit: a line past it could alone pass the size of a message
        validate.text(value, "text")
    except InvalidArgument as exc:
        return exc.message
    return ""


def _vector(value: Any) -> str:
    # A vector is sent as float32: a larger number would arrive as infinity. Checked as one
    # array, not number by number (0.6 ms a 512-d line, four fifths of reading it), once
    # every item is a JSON number (a bool is no int here: true would be 1.0).
    if isinstance(value, list) and set(map(type, value)) <= {float, int}:
        try:
            value = np.asarray(value, np.float64)
        except OverflowError:  # an int like 10**400
            return _NOT_A_VECTOR
    held = isinstance(value, np.ndarray) and value.ndim == 1 and bool(np.all(np.abs(value) <= _FLOAT32_MAX))
    return "" if held else _NOT_A_VECTOR  # NaN is not held either


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _kind(check: Callable[[Any], bool], what: str) -> Callable[[Any], str]:
    return lambda value: "" if check(value) else what


_FLOAT32_MAX = float(np.finfo(np.float32).max)
_NOT_A_VECTOR = "must be a list of numbers, each finite and within float32 range"
# Each field of a row, checked when present (not null): its problem, or "".
_FIELDS: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("video_id", _video_id),
    ("start_ms", _time),
    ("end_ms", _time),
    ("video_duration_ms", _time),
    ("id", _kind(lambda v: isinstance(v, str), "must be a string")),
    ("text", _text),
    ("shot_cut", _kind(lambda v: isinstance(v, bool), "must be true or false")),
    ("labels", _kind(_strings, "must be a list of strings")),
    ("attributes", _kind(lambda v: isinstance(v, dict), "must be an object")),
    ("vector", _vector),
)
