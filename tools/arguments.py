"""What the command line is given: the address to dial, arguments no server could take,
and the syntax of the options of ``strata search`` that the API spells otherwise (times,
attribute conditions)."""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# An address to dial: a host name or an IPv4 address, or an IPv6 one in brackets, then
# maybe a port.
_ADDRESS = re.compile(r"([\w.-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]+))?")
# gRPC's addresses of a socket file, which have no port: dialled as given.
_SOCKETS = ("unix:", "unix-abstract:")
_SCHEME = re.compile(r"[A-Za-z][\w+.-]*://")
# Commands that run here and send no names to a server (their paths are local).
_LOCAL_COMMANDS = frozenset({"serve", "demo", "restore", "compact", "bench"})


def dialled(target: str, default: str) -> str:
    """The address to dial: ``target`` as host:port, a host given with no port getting
    ``default``'s port (gRPC would dial 443), or a socket's (``unix:PATH``) as given.
    Anything else is a ValueError saying what to give: gRPC would dial a port past 65535
    modulo 65536 (99999 dialled 34463), and fails to resolve a URL (``http://host:port``)."""
    if target.startswith(_SOCKETS):
        return target
    match = _ADDRESS.fullmatch(target)
    if match and match[2] is None:
        return f"{target}:{default.rpartition(':')[2]}"
    if match and len(match[2]) <= 5 and 1 <= int(match[2]) <= 65535:
        return target
    scheme = _SCHEME.match(target)
    if scheme:
        said = f"has a scheme ({scheme[0]})"
    elif match:
        said = f"has port {match[2]}"
    else:
        said = "is no address (an IPv6 one goes in brackets: [::1]:50051)"
    raise ValueError(f"{target!r} {said}: give the server's address as host:port, a port 1-65535 and no scheme")


def not_utf8(args: list[str]) -> str | None:
    """The first argument (shown as its bytes, ``x\\xff``) a server could not be sent,
    or None. The shell passes bytes that are not UTF-8 as surrogates, which no name, id,
    path or text sent to a server can hold: a usage error, not a traceback later. Local
    paths may hold them: those of the commands that run here, and the file ingest reads."""
    if not args or args[0] in _LOCAL_COMMANDS:
        return None
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            if not (args[0] == "ingest" and os.path.isfile(arg)):
                return repr(arg.encode("utf-8", "surrogateescape"))[2:-1]
    return None


# A time of --from and --to: seconds (90, 12.5), or a clock as the search table shows
# spans (1:30, 0:01:30, 1:02:03.5).
_CLOCK = re.compile(r"(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)")
_MAX_MS = 2**63 - 1  # a TimeRange bound is an int64 of milliseconds
TIME_FORMS = "seconds (90, 12.5) or a clock time (1:30, 0:01:30)"


def time_ms(raw: str) -> int:
    """A time typed in seconds from the start of a video (``90``, ``12.5``) or as a clock
    (``1:30``, ``0:01:30.5``), in integer milliseconds (rounded to the nearest); a
    ValueError names the forms taken."""
    match = _CLOCK.fullmatch(raw)
    if match is None:
        raise ValueError(f"{raw!r} is not a time: give {TIME_FORMS}")
    hours, minutes, seconds = match.groups()
    if (minutes is not None and Decimal(seconds) >= 60) or (hours is not None and int(minutes) >= 60):
        raise ValueError(f"{raw!r} is not a clock time: minutes and seconds after a ':' are below 60")
    total = Decimal(seconds) + 60 * int(minutes or 0) + 3600 * int(hours or 0)
    ms = int((total * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if ms > _MAX_MS:
        raise ValueError(f"{raw!r} is too far into a video")
    return ms


# An --attr condition: KEY=VALUE, KEY>=NUMBER or KEY<=NUMBER (the API's ranges are
# inclusive). A number as Python writes one, but for nan and inf, which no bound can be.
_CONDITION = re.compile(r"([^<>=]*)(>=|<=|=|>|<)(.*)", re.DOTALL)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
ATTRIBUTE_FORMS = "KEY=VALUE, KEY>=NUMBER or KEY<=NUMBER"
_PER_KEY = "one KEY=VALUE, or KEY>=NUMBER and/or KEY<=NUMBER"


def attribute_conditions(given: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """``--attr`` conditions as :meth:`service.client.StrataClient.search` takes them: a
    key to a value (``team=home`` a string, ``minute=80`` a number, ``var=true`` a
    boolean, ``code="80"`` a JSON string, for text that reads as a number), or to a
    ``(min, max)`` range, both ends inclusive (``minute>=80``, with ``minute<=90`` one
    range); and, key by key in that order, the conditions as typed. A condition that
    has none of these forms, or a key given two equalities, an equality and a bound or
    the same bound twice, is a ValueError naming the condition and the forms taken."""
    values: dict[str, Any] = {}
    typed: dict[str, list[str]] = {}
    for text in given:
        key, value = _condition(text)
        if key in values:
            value = _merged(text, values[key], value)
        values[key] = value
        typed.setdefault(key, []).append(text)
    return values, [" --attr ".join(shlex.quote(t) for t in texts) for texts in typed.values()]


def _condition(text: str) -> tuple[str, Any]:
    """One ``--attr`` condition: its key, and its value or its (min, max) range."""
    match = _CONDITION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is no condition (expected {ATTRIBUTE_FORMS})")
    key, operator, value = match.groups()
    if not key:
        raise ValueError(f"{text!r} names no attribute (expected {ATTRIBUTE_FORMS})")
    if operator in (">", "<"):
        raise ValueError(f"{text!r}: bounds are inclusive, write {operator}= (expected {ATTRIBUTE_FORMS})")
    if operator != "=":
        if not _NUMBER.fullmatch(value) or not math.isfinite(float(value)):
            raise ValueError(f"{text!r}: a bound is a finite number (expected {ATTRIBUTE_FORMS})")
        return key, (float(value), None) if operator == ">=" else (None, float(value))
    if value.startswith("="):
        raise ValueError(f"{text!r}: one '=' makes an equality (expected {ATTRIBUTE_FORMS})")
    if value in ("true", "false"):
        return key, value == "true"
    if _NUMBER.fullmatch(value):
        if not math.isfinite(float(value)):  # 1e400 reads as inf, which no stored value is
            raise ValueError(f"{text!r}: a number past a float's range (expected {ATTRIBUTE_FORMS})")
        return key, float(value)
    if value.startswith('"'):
        try:
            quoted = json.loads(value)
        except ValueError:
            quoted = None
        if not isinstance(quoted, str):
            raise ValueError(f'{text!r}: a quoted value is one JSON string, such as "80" (expected {ATTRIBUTE_FORMS})')
        return key, quoted
    return key, value


def _merged(text: str, before: Any, bound: Any) -> tuple[float | None, float | None]:
    """Two conditions on one key: a lower and an upper bound make one range."""
    if not (isinstance(before, tuple) and isinstance(bound, tuple)):
        raise ValueError(f"{text!r}: its key has another condition; a key takes {_PER_KEY}")
    low, high = before
    if (bound[0] is not None and low is not None) or (bound[1] is not None and high is not None):
        raise ValueError(f"{text!r}: its key has this bound already; a key takes {_PER_KEY}")
    return (low if bound[0] is None else bound[0], high if bound[1] is None else bound[1])
