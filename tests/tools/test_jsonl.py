"""Reading JSONL lines: what a line holds is what the JSON says, read fast or not."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tools.jsonl import _parsed, read_jsonl

SEGMENT = {"video_id": "v", "start_ms": 0, "end_ms": 1000}


def _read(tmp_path: Path, *lines: str) -> list[dict[str, Any]]:
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [row for _, row in read_jsonl(path)]


def _same(a: Any, b: Any) -> bool:
    """Equal, with the kinds of numbers too (1 is not 1.0 here), and NaN equal to NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def test_an_integer_past_64_bits_in_an_attribute_stays_that_integer(tmp_path: Path) -> None:
    # The fast reader widens it to the float 1.8446744073709552e19, which would be stored
    # as that number where the client refuses an int past 2**53 ("give it as a string").
    line = json.dumps({**SEGMENT, "attributes": {"n": 2**64, "m": [-(2**70)], "k": 2**62}})
    [row] = _read(tmp_path, line)
    assert _same(row["attributes"], {"n": 2**64, "m": [-(2**70)], "k": 2**62})


def test_a_line_nested_deeper_than_python_recurses_is_named_not_a_traceback(tmp_path: Path) -> None:
    line = '{"video_id": "v", "start_ms": 0, "end_ms": 1, "attributes": {"x": ' + "[" * 600 + "]" * 600 + "}}"
    with pytest.raises(ValueError, match=r"rows\.jsonl:1: attributes\.x(\[0\])+: nests deeper than 16 levels"):
        _read(tmp_path, line)


def test_a_vector_line_reads_as_the_json_module_reads_it(tmp_path: Path) -> None:
    vector = [0.1, -0.0, 1e-300, 3, 0.00012345678901234567, 123456789.125]
    [row] = _read(tmp_path, json.dumps({**SEGMENT, "vector": vector, "labels": ["é"], "text": "a\u0000b"}))
    assert _same(row["vector"], json.loads(json.dumps(vector))) and (row["labels"], row["text"]) == (["é"], "a\u0000b")


def test_a_line_the_fast_reader_refuses_is_read_as_json_reads_it(tmp_path: Path) -> None:
    # NaN and a lone surrogate: the json module takes them, and the checks decide.
    rows = _read(tmp_path, '{"video_id": "v", "start_ms": 0, "end_ms": 1000, "text": "\\ud83d"}')
    assert rows[0]["text"] == "\ud83d"
    with pytest.raises(ValueError, match=r"rows\.jsonl:1: attributes\.x: must be a finite number"):
        _read(tmp_path, '{"video_id": "v", "start_ms": 0, "end_ms": 1000, "attributes": {"x": NaN}}')
    with pytest.raises(ValueError, match=r"rows\.jsonl:1: not valid JSON \(Expecting ',' delimiter\)"):
        _read(tmp_path, '{"video_id": "v" "start_ms": 0}')


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(value=st.dictionaries(st.text(max_size=8).filter(lambda key: key != "vector"), _VALUES, max_size=5))
def test_any_line_reads_as_the_json_module_reads_it(value: dict) -> None:
    # Integers of any size (past 64 bits too), floats, strings of any characters, nesting;
    # not in a vector, whose numbers are read as floats whatever they were written as.
    line = json.dumps(value)
    assert _same(_parsed(line.encode(), "rows.jsonl:1"), json.loads(line))
