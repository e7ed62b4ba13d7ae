"""Rows of the JSONL ingest format as Segment messages, the client's checks of the
Python values it is given (vectors, attributes, times, hints, filters, level and metric
names) and the request parts made of them: a value of the wrong kind is a TypeError
naming its field, where a cast would misread it."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from types import UnionType
from typing import Any

import numpy as np
from google.protobuf import struct_pb2

from hierarchy.validate import MAX_ATTRIBUTE_DEPTH
from service import convert as cv
from service.gen.strata.v1 import common_pb2, search_pb2, segment_pb2, video_pb2
from service.messages import message, shown

REQUIRED = ("video_id", "start_ms", "end_ms")
# Every field of the format. video_duration_ms is for the video a row creates (the CLI's
# ingest creates videos on first sight); a Segment does not carry it.
FIELDS = frozenset({*REQUIRED, "id", "text", "vector", "labels", "attributes", "shot_cut", "video_duration_ms"})
# Ints below it (in size) are what a Struct's doubles hold exactly, and come back as ints.
EXACT_INTS = 2**53
METRICS = {"cos": common_pb2.METRIC_COSINE, "ip": common_pb2.METRIC_INNER_PRODUCT, "l2sq": common_pb2.METRIC_L2_SQUARED}
GRANULARITIES = {
    "segment": search_pb2.GRANULARITY_SEGMENT,
    "scene": search_pb2.GRANULARITY_SCENE,
    "drive": search_pb2.GRANULARITY_DRIVE,
    "half": search_pb2.GRANULARITY_HALF,
    "video": search_pb2.GRANULARITY_VIDEO,
    "auto": search_pb2.GRANULARITY_AUTO,
    "all": search_pb2.GRANULARITY_ALL,
}


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
        raise TypeError(f"{field or 'segment'}: give a dict of segment fields or a Segment message, not {shown(row)}")
    for name in REQUIRED:
        if row.get(name) is None:
            raise TypeError(f"{at}{name}: is missing; a segment needs {', '.join(REQUIRED)}")
    if unknown := sorted(set(row) - FIELDS):
        raise TypeError(f"{at}{unknown[0]}: is not a segment field; use {', '.join(sorted(FIELDS))}")
    msg = message(
        segment_pb2.Segment,
        at,
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
        raise TypeError(f"{field}: give a list of segments, not {shown(segments)}")
    return [
        s if isinstance(s, segment_pb2.Segment) else segment_from_dict(s, f"{field}[{i}]")
        for i, s in enumerate(segments)
    ]


def request_pair(value: Any, field: str) -> tuple[str, Any]:
    """A stream's ``(request_id, segments)`` pair, or a TypeError naming it (``batch[2]``)."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"{field}: give a (request_id, segments) pair, not {shown(value)}")
    return kind(value[0], str, f"{field}[0]", "a request id string"), value[1]


def time_span(value: Any, field: str = "time_range") -> common_pb2.TimeRange:
    """A ``(start_ms, end_ms)`` pair as a TimeRange: whole milliseconds, ``None`` for an
    open bound (an end of 0 is the API's "to the end of the video")."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"{field}: give a (start_ms, end_ms) pair, not {shown(value)}")
    start, end = (0 if ms is None else whole_ms(ms, f"{field}[{i}]") for i, ms in enumerate(value))
    return message(common_pb2.TimeRange, f"{field}.", start_ms=start, end_ms=end)


def cut_times(hints: Any, field: str = "hints") -> dict[str, list[int]]:
    """Structure hints: a mapping of a level name to a list of cut times in whole ms."""
    if hints is None:
        return {}
    if not isinstance(hints, Mapping):
        raise TypeError(f"{field}: give a mapping of level names to lists of cut times, not {shown(hints)}")
    out = {}
    for name, cuts in hints.items():
        if isinstance(cuts, str | bytes | Mapping) or not isinstance(cuts, Iterable):
            raise TypeError(f"{field}.{name}: give a list of cut times in milliseconds, not {shown(cuts)}")
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
        raise TypeError(f"{name}: give {what}, not {shown(value)}")
    return int(value)


def seconds(value: Any, name: str, zero: bool = False) -> float | None:
    """A time limit in seconds: None (no limit) or a number above 0 (or 0 itself, with
    ``zero``); anything else is a TypeError or ValueError naming ``name`` (gRPC's own said
    "unsupported operand type(s) for +: 'float' and 'str'", and took a limit of 0 or less
    as one already past)."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: give a number of seconds (or None: no limit), not {shown(value)}")
    if not (0 <= float(value) if zero else 0 < float(value)) or not float(value) < math.inf:  # (NaN neither)
        least = "0 or more" if zero else "above 0"
        raise ValueError(f"{name}: is {value}; give a number of seconds {least} (or None: no limit)")
    return float(value)


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
                    raise TypeError(f"{field}[{i}]: give a number, not {shown(item)}")
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
    raise TypeError(f"{field}: give a 1-D list or array of numbers, not {shown(value)}")


def attributes_struct(values: Any, field: str = "attributes") -> struct_pb2.Struct:
    """Attributes as a Struct: a mapping of string keys to strings, numbers, bools, None,
    and lists and mappings of them; numpy's numbers and 1-D arrays are taken as the Python
    values they hold (protobuf refused them, "Unexpected type", naming nothing). A value
    of another kind (bytes, a set, an object) is a TypeError naming ``field`` or its key
    (``attributes.minute``); an int a Struct's doubles cannot hold exactly is a ValueError."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{field}: give a mapping of names to values, not {shown(values)}")
    msg = struct_pb2.Struct()
    msg.update(_attribute(values, field, 0))
    return msg


def _attribute(value: Any, field: str, depth: int) -> Any:
    """``value`` (at ``depth`` inside the attributes) as a Struct holds it, or an error naming ``field``."""
    # The server's limit, checked here: past 32 levels protobuf's own decoder refuses the
    # message with a DecodeError naming nothing.
    if depth > MAX_ATTRIBUTE_DEPTH:
        raise ValueError(f"{field}: nests deeper than {MAX_ATTRIBUTE_DEPTH} levels; store deeper data as a JSON string")
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
                raise TypeError(f"{field}: give string keys, not {shown(key)}")
        return {key: _attribute(item, f"{field}.{key}", depth + 1) for key, item in value.items()}
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_attribute(item, f"{field}[{i}]", depth + 1) for i, item in enumerate(value)]
    what = f"a {value.ndim}-D array" if isinstance(value, np.ndarray) else shown(value)
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
        if not isinstance(key, str):  # protobuf's refusal names no key: "bad argument type"
            raise TypeError(f"attributes: give string keys, not {shown(key)}")
        msg = search_pb2.AttributeFilter(key=key)
        if isinstance(value, tuple | list) and len(value) == 2:
            if not all(bound is None or _number(bound) for bound in value):
                raise TypeError(f"attributes[{key!r}]: give numbers (or None) as the bounds of a range, not {value!r}")
            bounds = {name: bound for name, bound in zip(("min", "max"), value, strict=True) if bound is not None}
            msg.range.CopyFrom(message(search_pb2.NumberRange, f"attributes[{key!r}].", **bounds))
            msg.range.SetInParent()
        elif isinstance(value, bool | np.bool_):
            msg.equals_bool = bool(value)
        elif _number(value):
            msg.equals_number = _float(value, f"attributes[{key!r}]")
        elif isinstance(value, str):
            msg.equals_string = value
        else:
            raise TypeError(
                f"attributes[{key!r}]: give a string, a number, a bool or a (min, max) pair, not {type(value).__name__}"
            )
        out.append(msg)
    return out


def _float(value: Any, field: str) -> float:
    """A real number as a float; one past any float (``10**400``) is a ValueError naming ``field``."""
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{field}: {shown(value)} is past the largest float64") from None


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


def granularity(level: str | None) -> search_pb2.Granularity.ValueType:
    """The Granularity of a level name, whatever its case; unset (None): the server's rule."""
    if level is None:
        return search_pb2.GRANULARITY_UNSPECIFIED
    if not isinstance(level, str):
        raise TypeError(f"level: give a level name, not {type(level).__name__} {level!r}")
    if level.lower() not in GRANULARITIES:
        raise ValueError(f"unknown level {level!r}; choose one of: {', '.join(GRANULARITIES)}")
    return GRANULARITIES[level.lower()]


def choice(table: dict[str, Any], name: str, what: str) -> Any:
    """``table[name]``, or a ValueError listing the names ``what`` takes."""
    if name not in table:
        raise ValueError(f"unknown {what} {name!r}; choose one of: {', '.join(table)}")
    return table[name]


def structure_hints(hints: dict[str, list[int]] | None) -> list[video_pb2.StructureHint]:
    """Structure hints (a level name -> cut times in ms) as StructureHint messages."""
    levels = {name: common_pb2.Level.Value(f"LEVEL_{name.upper()}") for name in ("scene", "drive", "half")}
    return [
        message(video_pb2.StructureHint, f"hints.{name}.", level=choice(levels, name, "hint level"), cut_ms=cuts)
        for name, cuts in cut_times(hints).items()
    ]


def append_request(
    collection: str,
    segments: Sequence[dict[str, Any] | segment_pb2.Segment],
    request_id: str,
    field: str = "segments",
) -> segment_pb2.AppendSegmentsRequest:
    """One append's request; an error names the row as the server would:
    ``segments[50].start_ms``, or in a stream ``batch[2].segments[50].start_ms``."""
    msgs = segments_of(segments, field)
    return message(segment_pb2.AppendSegmentsRequest, collection=collection, request_id=request_id, segments=msgs)
