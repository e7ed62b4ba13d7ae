"""Request messages built from a caller's values, with errors that name the field.

protobuf refuses a value its field cannot hold without naming the field: ``top_k=2**40``
is "Value out of range: 1099511627776", an int attribute key "bad argument type for
built-in operation", ``diversity=10**400`` "int too large to convert to float". A caller
building a request of a dozen fields cannot tell which one is at fault. :func:`message`
builds the message in one call, as protobuf does, and only when that fails sets the
fields one at a time to find the one that cannot be held, then says which it is and
what it takes."""

from __future__ import annotations

import reprlib
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

_T = FieldDescriptor
_WHOLE = {
    _T.TYPE_INT32: (-(2**31), 2**31 - 1),
    _T.TYPE_SINT32: (-(2**31), 2**31 - 1),
    _T.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    _T.TYPE_INT64: (-(2**63), 2**63 - 1),
    _T.TYPE_SINT64: (-(2**63), 2**63 - 1),
    _T.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    _T.TYPE_UINT32: (0, 2**32 - 1),
    _T.TYPE_FIXED32: (0, 2**32 - 1),
    _T.TYPE_UINT64: (0, 2**64 - 1),
    _T.TYPE_FIXED64: (0, 2**64 - 1),
}


def message(cls: type[M], at: str = "", **fields: Any) -> M:
    """``cls(**fields)``; a value a field cannot hold is a TypeError or ValueError (as
    protobuf raises) naming the field, prefixed by ``at`` (``"hierarchy."`` names
    ``hierarchy.scene_min_ms``), and saying what it takes."""
    try:
        return cls(**fields)
    except (TypeError, ValueError, OverflowError):
        pass  # which field: found below, one at a time (protobuf's error names none)
    known = cls.DESCRIPTOR.fields_by_name
    for name, value in fields.items():
        if name not in known:
            raise ValueError(f"{at}{name}: is not a field of {cls.DESCRIPTOR.name}; use {', '.join(known)}")
        try:
            cls(**{name: value})
        except (TypeError, ValueError, OverflowError) as exc:
            kind = TypeError if isinstance(exc, TypeError) else ValueError
            raise kind(f"{at}{name}: give {takes(known[name])}, not {shown(value)}") from None
    return cls(**fields)  # (each field alone was held: the error, if any, is protobuf's own)


def takes(field: FieldDescriptor) -> str:
    """What a field holds, in words: "a whole number from 0 to 4294967295"."""
    if field.type in _WHOLE:
        low, high = _WHOLE[field.type]
        one = f"a whole number from {low} to {high}"
    elif field.type == _T.TYPE_BOOL:
        one = "True or False"
    elif field.type in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
        one = "a number (a float64)" if field.type == _T.TYPE_DOUBLE else "a number (a float32)"
    elif field.type == _T.TYPE_ENUM:
        one = f"one of {', '.join(v.name for v in field.enum_type.values)}"
    elif field.type == _T.TYPE_MESSAGE:
        one = f"a {field.message_type.name} message"
    else:
        one = "a string" if field.type == _T.TYPE_STRING else "bytes"
    return f"a list of which each is {one}" if field.is_repeated else one


def shown(value: Any) -> str:
    """A value's kind and a short repr of it (a long list would flood the error)."""
    return f"{type(value).__name__} {reprlib.repr(value)}"
