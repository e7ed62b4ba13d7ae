"""Rows of the JSONL ingest format as Segment messages, and the client's checks of the
Python values it is given (vectors, attributes, times, hints, filters): a value of the
wrong kind is a TypeError naming its field, where a cast would misread it."""

from __future__ import annotations

import numbers
import os
import reprlib
from collections.abc import Iterable, Mapping, Sequence
from types import UnionType
from typing import Any

import numpy as np
from google.protobuf import struct_pb2

from service import convert as cv
from service.gen.strata.v1 import common_pb2, search_pb2, segment_pb2

REQUIRED = ("video_id", "start_ms", "end_ms")
# Every field of the format. video_duration_ms is for the video a row creates (the CLI's
# ingest creates videos on first sight); a Segment does not carry it.
FIELDS = frozenset({*REQUIRED, "id", "text", "vector", "labels", "attributes", "shot_cut", "video_duration_ms"})
# Ints below it (in size) are what a Struct's doubles hold exactly, and come back as ints.
EXACT_INTS = 2**53


def segment_from_dict(row: Mapping[str, Any], field: str = "") -> segment_pb2.Segment:
    """One line of the JSONL ingest format -> a Segment message. A value of the wrong kind
    is a TypeError naming its field, where a cast would misread it (``"shot_cut": "false"``
    is true to ``bool``, ``start_ms`` 0.9 is 0); one string of labels is one label. A
    missing time or video id, or a field the format does not have (``"lables"``, which
    would be dropped unseen), is a TypeError naming it too. ``field`` names the row in
    those errors (``segments[50]`` gives ``segments[50].start_ms``): which row of a batch
    is at fault."""
    at = f"{field}." if field else ""
    if not isinstance(row, Mapping):
        raise TypeError(f"{field or 'segment'}: give a dict of segment fields or a Segment message, not {_shown(row)}")
    for name in REQUIRED:
        if row.get(name) is None:
            raise TypeError(f"{at}{name}: is missing; a segment needs {', '.join(REQUIRED)}")
    if unknown := sorted(set(row) - FIELDS):
        raise TypeError(f"{at}{unknown[0]}: is not a segment field; use {', '.join(sorted(FIELDS))}")
    msg = segment_pb2.Segment(
        id=kind(given(row, "id", ""), str, f"{at}id", "a string"),
        video_id=kind(row["video_id"], str, f"{at}video_id", "a string"),
        start_ms=whole_ms(row["start_ms"], f"{at}start_ms"),
        end_ms=whole_ms(row["end_ms"], f"{at}end_ms"),
        text=kind(given(row, "text", ""), str, f"{at}text", "a string"),
        labels=names(given(row, "labels", []), f"{at}labels"),
        shot_cut=bool(kind(given(row, "shot_cut", False), bool | np.bool_, f"{at}shot_cut", "True or False")),
    )
    attributes = given(row, "attributes", {})
    if attributes or not isinstance(attributes, Mapping):  # most rows have none: no Struct made
        msg.attributes.CopyFrom(attributes_struct(attributes, f"{at}attributes"))
    if row.get("vector") is not None:
        msg.vector.CopyFrom(cv.to_proto_vector(vector_of(row["vector"], f"{at}vector")))
    return msg


def segments_of(
    segments: Iterable[Mapping[str, Any] | segment_pb2.Segment], field: str = "segments"
) -> list[segment_pb2.Segment]:
    """A batch's rows (dicts of the ingest format, or Segment messages) as Segment
    messages; an error names the row (``segments[3].vector``). One row given alone, not
    in a list, is a TypeError: its keys would be read as rows."""
    if isinstance(segments, Mapping | segment_pb2.Segment | str | bytes) or not isinstance(segments, Iterable):
        raise TypeError(f"{field}: give a list of segments, not {_shown(segments)}")
    return [
        s if isinstance(s, segment_pb2.Segment) else segment_from_dict(s, f"{field}[{i}]")
        for i, s in enumerate(segments)
    ]


def request_pair(value: Any, field: str) -> tuple[str, Any]:
    """A stream's ``(request_id, segments)`` pair, or a TypeError naming it (``batch[2]``)."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"{field}: give a (request_id, segments) pair, not {_shown(value)}")
    return kind(value[0], str, f"{field}[0]", "a request id string"), value[1]


def time_span(value: Any, field: str = "time_range") -> common_pb2.TimeRange:
    """A ``(start_ms, end_ms)`` pair as a TimeRange: whole milliseconds, ``None`` for an
    open bound (an end of 0 is the API's "to the end of the video")."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"{field}: give a (start_ms, end_ms) pair, not {_shown(value)}")
    start, end = (0 if ms is None else whole_ms(ms, f"{field}[{i}]") for i, ms in enumerate(value))
    return common_pb2.TimeRange(start_ms=start, end_ms=end)


def cut_times(hints: Any, field: str = "hints") -> dict[str, list[int]]:
    """Structure hints: a mapping of a level name to a list of cut times in whole ms."""
    if hints is None:
        return {}
    if not isinstance(hints, Mapping):
        raise TypeError(f"{field}: give a mapping of level names to lists of cut times, not {_shown(hints)}")
    out = {}
    for name, cuts in hints.items():
        if isinstance(cuts, str | bytes | Mapping) or not isinstance(cuts, Iterable):
            raise TypeError(f"{field}.{name}: give a list of cut times in milliseconds, not {_shown(cuts)}")
        out[name] = [whole_ms(ms, f"{field}.{name}[{i}]") for i, ms in enumerate(cuts)]
    return out


def path(value: Any, field: str) -> str:
    """A path given as a str or a Path (any ``os.PathLike`` of str)."""
    given_path = os.fspath(value) if isinstance(value, os.PathLike) else value
    return kind(given_path, str, field, "a path (a str or a Path)")


def given(row: dict[str, Any], name: str, default: Any) -> Any:
    """``row[name]``, or ``default`` when it is absent or None (JSON's null)."""
    value = row.get(name)
    return default if value is None else value


def kind(value: Any, expected: type | UnionType, name: str, what: str) -> Any:
    """``value`` when it is of the ``expected`` kind, else a TypeError naming the field."""
    if not isinstance(value, expected):
        raise TypeError(f"{name}: give {what}, not {type(value).__name__} {value!r}")
    return value


def whole(value: Any, name: str, what: str = "a whole number") -> int:
    """``value`` as an int: a whole number (numpy's too, or a float with nothing after the
    point, as a table's column of them gives), never a fraction cut down; anything else
    is a TypeError naming ``name``."""
    integral = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer())
    if isinstance(value, bool | np.bool_) or not integral:
        raise TypeError(f"{name}: give {what}, not {_shown(value)}")
    return int(value)


def whole_ms(value: Any, name: str) -> int:
    """A time in milliseconds: a whole number, as :func:`whole` takes one."""
    return whole(value, name, "a whole number of milliseconds")


def vector_of(value: Any, field: str) -> np.ndarray:
    """A vector as float32: a 1-D list, tuple or array of real numbers (ints or floats,
    numpy's too). Anything else is a TypeError naming ``field`` (or ``field[i]``, the
    element), where a cast would misread it: strings read as numbers, a 2-D array sent
    as one long vector, bools as 1 and 0, complex numbers without their imaginary part."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        # One pass over the kinds, not an isinstance per number: 512-d lists are the usual.
        if not set(map(type, value)) <= {float, int}:  # bool is a kind of its own here
            for i, item in enumerate(value):
                if isinstance(item, bool | np.bool_) or not isinstance(item, numbers.Real):
                    raise TypeError(f"{field}[{i}]: give a number, not {_shown(item)}")
        try:
            return np.asarray(value, dtype=np.float32)
        except OverflowError:  # an int past any float, 10**400
            raise ValueError(f"{field}: holds a number too large for a float32 vector") from None
    if isinstance(value, np.ndarray) or (hasattr(value, "__array__") and not isinstance(value, np.generic)):
        arr = np.asarray(value)  # a numpy array, or one that gives one (a tensor, a Series)
        if arr.ndim == 1 and arr.dtype.kind == "O":
            return vector_of(arr.tolist(), field)
        if arr.ndim == 1 and arr.dtype.kind in "iuf":
            return arr.astype(np.float32, copy=False)
        what = f"an array of {arr.dtype}" if arr.ndim == 1 else f"a {arr.ndim}-D array of shape {arr.shape}"
        raise TypeError(f"{field}: give a 1-D list or array of numbers, not {what}")
    raise TypeError(f"{field}: give a 1-D list or array of numbers, not {_shown(value)}")


def attributes_struct(values: Any, field: str = "attributes") -> struct_pb2.Struct:
    """Attributes as a Struct: a mapping of string keys to strings, numbers, bools, None,
    and lists and mappings of them; numpy's numbers and 1-D arrays are taken as the Python
    values they hold (protobuf refused them, "Unexpected type", naming nothing). A value
    of another kind (bytes, a set, an object) is a TypeError naming ``field`` or its key
    (``attributes.minute``); an int a Struct's doubles cannot hold exactly is a ValueError."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{field}: give a mapping of names to values, not {_shown(values)}")
    msg = struct_pb2.Struct()
    msg.update(_attribute(values, field))
    return msg


def _attribute(value: Any, field: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        if abs(int(value)) >= EXACT_INTS:
            raise ValueError(
                f"{field}: {int(value)} is not below 2**53: attributes are stored as doubles, which do not "
                "hold every int past it, and it would not come back as this int; give it as a string"
            )
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{field}: give string keys, not {_shown(key)}")
        return {key: _attribute(item, f"{field}.{key}") for key, item in value.items()}
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_attribute(item, f"{field}[{i}]") for i, item in enumerate(value)]
    what = f"a {value.ndim}-D array" if isinstance(value, np.ndarray) else _shown(value)
    raise TypeError(f"{field}: give a string, a number, a bool, None, a list or a mapping, not {what}")


def attribute_filters(conditions: dict[str, Any]) -> list[search_pb2.AttributeFilter]:
    """``{"team": "home", "minute": (10, None)}`` -> AttributeFilter messages: a string,
    number (numpy's too) or bool is an equality, a ``(min, max)`` pair (tuple or list;
    ``None`` leaves a bound open) a range; anything else is a TypeError naming the key,
    rather than an equality with its text that nothing matches."""
    if not isinstance(conditions, Mapping):
        raise TypeError(f"attributes: give a mapping of keys to conditions, not {type(conditions).__name__}")
    out = []
    for key, value in conditions.items():
        msg = search_pb2.AttributeFilter(key=key)
        if isinstance(value, tuple | list) and len(value) == 2:
            low, high = value
            if not all(bound is None or _number(bound) for bound in value):
                raise TypeError(f"attributes[{key!r}]: give numbers (or None) as the bounds of a range, not {value!r}")
            if low is not None:
                msg.range.min = low
            if high is not None:
                msg.range.max = high
            msg.range.SetInParent()
        elif isinstance(value, bool | np.bool_):
            msg.equals_bool = bool(value)
        elif _number(value):
            msg.equals_number = float(value)
        elif isinstance(value, str):
            msg.equals_string = value
        else:
            raise TypeError(
                f"attributes[{key!r}]: give a string, a number, a bool or a (min, max) pair, not {type(value).__name__}"
            )
        out.append(msg)
    return out


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def names(value: str | Sequence[str], field: str) -> list[str]:
    """Ids or labels as a list: one string is one name, not its characters; anything but
    strings is a TypeError naming ``field`` (or ``field[i]``, the element)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes | dict) or not isinstance(value, Iterable):
        raise TypeError(f"{field}: give a string or a list of strings, not {type(value).__name__} {value!r}")
    return [kind(item, str, f"{field}[{i}]", "a string") for i, item in enumerate(value)]


def _shown(value: Any) -> str:
    """A value's kind and a short repr of it, for an error (a whole batch would flood it)."""
    return f"{type(value).__name__} {reprlib.repr(value)}"
