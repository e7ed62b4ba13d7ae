"""Search filters, stated once and applied two ways: as SQL over the store (to pick
candidates) and as a predicate over nodes (to screen over-fetched hits). Both follow
the same rules, which a property test holds them to.

Rules: every condition must hold. ``video_ids``: the node's video is one of them.
``time_range``: the node overlaps it. ``labels``: the node carries at least one of them.
``attributes``: for each condition, the attribute exists and equals the value (strings,
booleans and numbers compare by value), or is a number within [minimum, maximum].
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hierarchy import validate
from hierarchy.errors import InvalidArgument
from hierarchy.types import Filter, Node, TimeRange

_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Each condition is a JSON extraction per stored row: 1,000 conditions took 2.1 s and
# 2,000 took 10.2 s of the store's time, past any deadline (the store is not interrupted).
MAX_ATTRIBUTE_CONDITIONS = 64


@dataclass(frozen=True)
class AttributeCondition:
    """One attribute test: equality (``equals``) or a numeric range (inclusive bounds)."""

    key: str
    equals: str | float | bool | None = None
    minimum: float | None = None
    maximum: float | None = None

    def check(self, field: str) -> None:
        """Refuse malformed conditions, naming the field."""
        if not _KEY.fullmatch(self.key):
            raise InvalidArgument(f"{field}.key", "must be 1-64 letters, digits, '_' or '-'")
        ranged = self.minimum is not None or self.maximum is not None
        if (self.equals is None) == (not ranged):
            raise InvalidArgument(
                field, "give one condition: equals_string, equals_number, equals_bool, or a range with min and/or max"
            )
        # NaN compares false in the predicate but largest in the store's SQL: the two paths
        # would disagree on which nodes pass.
        for name, bound in (("range.min", self.minimum), ("range.max", self.maximum)):
            if bound is not None:
                validate.finite(bound, f"{field}.{name}")
        if isinstance(self.equals, int | float) and not isinstance(self.equals, bool):
            validate.finite(self.equals, f"{field}.equals_number")
        if ranged and self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise InvalidArgument(f"{field}.range.min", f"is {self.minimum:g}, above range.max {self.maximum:g}")


def check(flt: Filter) -> None:
    """Refuse a malformed filter, naming the field: an empty or unprintable video id, a
    time range that is negative or ends before it starts, a bad label or attribute
    condition."""
    for i, video_id in enumerate(flt.video_ids):
        validate.identifier(video_id, f"filter.video_ids[{i}]")
    span = flt.time_range
    if span is not None and (span.start_ms < 0 or span.end_ms < 0 or (span.end_ms and span.end_ms <= span.start_ms)):
        raise InvalidArgument("filter.time_range", "needs 0 <= start_ms < end_ms (end_ms 0 = open)")
    _check_conditions(flt.attributes, flt.labels)


def _check_conditions(attributes: tuple[AttributeCondition, ...], labels: tuple[str, ...]) -> None:
    """Validate the attribute and label conditions of a filter."""
    if len(attributes) > MAX_ATTRIBUTE_CONDITIONS:
        raise InvalidArgument(
            "filter.attributes",
            f"has {len(attributes)} conditions; at most {MAX_ATTRIBUTE_CONDITIONS} (a range takes min and max in one)",
        )
    for i, cond in enumerate(attributes):
        cond.check(f"filter.attributes[{i}]")
    for i, label in enumerate(labels):
        if not label or len(label) > 256:
            raise InvalidArgument(f"filter.labels[{i}]", "labels must be 1-256 characters")


def sql(flt: Any) -> tuple[str, list[Any]]:
    """A WHERE fragment (starting with AND, possibly empty) and its parameters."""
    parts: list[str] = []
    params: list[Any] = []
    if flt.video_ids:
        parts.append("video_id = ANY(?)")
        params.append(list(flt.video_ids))
    if flt.time_range is not None:
        parts.append("end_ms > ?")
        params.append(flt.time_range.start_ms)
        if flt.time_range.end_ms:
            parts.append("start_ms < ?")
            params.append(flt.time_range.end_ms)
    if flt.labels:
        parts.append("list_has_any(labels, ?)")
        params.append(list(flt.labels))
    for cond in flt.attributes:
        fragment, values = _attribute_sql(cond)
        parts.append(fragment)
        params.extend(values)
    return "".join(f" AND {p}" for p in parts), params


def _attribute_sql(cond: AttributeCondition) -> tuple[str, list[Any]]:
    # The key is validated to [A-Za-z0-9_-], so quoting it in the JSON path is safe.
    path = f"'$.\"{cond.key}\"'"
    value = f"json_extract(attributes, {path})"
    text = f"json_extract_string(attributes, {path})"
    number = f"(CASE WHEN json_type({value}) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN TRY_CAST({text} AS DOUBLE) END)"
    if isinstance(cond.equals, bool):
        return f"(json_type({value}) = 'BOOLEAN' AND {text} = ?)", ["true" if cond.equals else "false"]
    if isinstance(cond.equals, int | float):
        return f"{number} = ?", [float(cond.equals)]
    if cond.equals is not None:
        return f"(json_type({value}) = 'VARCHAR' AND {text} = ?)", [str(cond.equals)]
    # An unset bound is open (as ``passes`` holds it): infinite, so that the largest
    # doubles (1.5e308) fall inside it.
    low = -float("inf") if cond.minimum is None else float(cond.minimum)
    high = float("inf") if cond.maximum is None else float(cond.maximum)
    return f"{number} BETWEEN ? AND ?", [low, high]


def passes(node: Node, flt: Any) -> bool:
    """Whether ``node`` satisfies every condition of ``flt``."""
    if flt.video_ids and node.video_id not in flt.video_ids:
        return False
    if flt.time_range is not None and not _overlaps(node, flt.time_range):
        return False
    if flt.labels and not set(flt.labels) & set(node.labels):
        return False
    return all(_attribute_holds(node.attributes, cond) for cond in flt.attributes)


def _overlaps(node: Node, tr: TimeRange) -> bool:
    return node.end_ms > tr.start_ms and (not tr.end_ms or node.start_ms < tr.end_ms)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _attribute_holds(attributes: dict[str, Any], cond: AttributeCondition) -> bool:
    if cond.key not in attributes:
        return False
    value = attributes[cond.key]
    if isinstance(cond.equals, bool):
        return value is cond.equals
    if _is_number(cond.equals):
        return _is_number(value) and float(value) == float(cond.equals)
    if cond.equals is not None:
        return isinstance(value, str) and value == cond.equals
    low = -float("inf") if cond.minimum is None else cond.minimum
    high = float("inf") if cond.maximum is None else cond.maximum
    return _is_number(value) and low <= float(value) <= high
