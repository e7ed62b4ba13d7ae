"""The in-memory vector table agrees with a plain dictionary under any sequence of
adds and removes, in and out of key order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hierarchy.vectortable import BLOCK_ROWS, VectorTable

DIM = 4

operations = st.lists(
    st.tuples(st.sampled_from(["add", "remove"]), st.lists(st.integers(0, 300), min_size=1, max_size=40)),
    max_size=25,
)


def row(key: int) -> np.ndarray:
    return np.full(DIM, key / 8.0, np.float32)  # exact in float16 for these keys


@given(operations)
def test_table_matches_a_dictionary(ops: list[tuple[str, list[int]]]) -> None:
    table, truth = VectorTable(DIM), {}
    for op, keys in ops:
        keys_array = np.array(keys, np.int64)
        if op == "add":
            table.add(keys_array, np.stack([row(k) for k in keys]))
            for k in keys:
                truth.setdefault(k, row(k))
        else:
            table.remove(keys_array)
            for k in keys:
                truth.pop(k, None)
        assert len(table) == len(truth)
    present = sorted(truth)
    if present:
        got = table.get(np.array(present[::-1], np.int64))
        assert np.array_equal(got, np.stack([truth[k] for k in present[::-1]]))
        assert len(table.sample(10_000)) == len(present)
    ascending = np.array(sorted(set(k for _, keys in ops for k in keys)), np.int64)
    for asked in (ascending[::-1], ascending):  # ascending keys read runs of rows
        found, rows = table.rows_of(asked)
        assert found.tolist() == [k for k in asked.tolist() if k in truth]
        expected = np.stack([truth[k] for k in found.tolist()]) if len(found) else np.zeros((0, DIM), np.float32)
        assert rows.dtype == np.float16 and np.array_equal(rows.astype(np.float32), expected)
    assert table.contains(asked).tolist() == [k in truth for k in asked.tolist()]


def test_missing_keys_raise() -> None:
    table = VectorTable(DIM)
    table.add(np.array([1, 2]), np.stack([row(1), row(2)]))
    table.remove(np.array([2]))
    with pytest.raises(KeyError):
        table.get(np.array([1, 2]))
    assert np.array_equal(table.get(np.array([1])), row(1)[None])


def test_readers_keep_a_consistent_view_while_rows_are_appended() -> None:
    table = VectorTable(DIM)
    table.add(np.arange(10), np.stack([row(k) for k in range(10)]))
    before = table._state
    table.add(np.arange(10, 5000), np.stack([row(k % 300) for k in range(10, 5000)]))
    assert before.count == 10 and np.array_equal(before.keys[:10], np.arange(10))


def test_growth_keeps_the_rows_it_holds_in_place() -> None:
    """Appending past a block adds a block: the rows already held are never copied (a
    regrown array held the old and the new copy at once), and reads span blocks."""
    table = VectorTable(DIM)
    table.add(np.arange(100), np.stack([row(k % 300) for k in range(100)]))
    first = table._state.blocks[0]
    more = np.arange(100, BLOCK_ROWS + 200)
    table.add(more, np.stack([row(int(k) % 300) for k in more]))
    assert table._state.blocks[0] is first and len(table._state.blocks) == 2
    asked = np.array([BLOCK_ROWS + 150, 3, BLOCK_ROWS - 1, 99])
    assert np.array_equal(table.get(asked), np.stack([row(int(k) % 300) for k in asked]))
    found, rows = table.rows_of(asked)
    assert found.tolist() == asked.tolist() and rows.dtype == np.float16


def test_a_run_of_rows_is_read_in_place_and_stays_true() -> None:
    """One video's rows are read as a view of the table: read-only, and unchanged by later
    writes (rows are never rewritten in place)."""
    table = VectorTable(DIM)
    table.add(np.arange(50), np.stack([row(k) for k in range(50)]))
    found, rows = table.rows_of(np.arange(10, 30))
    assert found.tolist() == list(range(10, 30)) and not rows.flags.writeable
    with pytest.raises(ValueError):
        rows[0] = 0.0
    table.remove(np.arange(0, 40))  # compacts: a new layout
    table.add(np.array([5, 60]), np.stack([row(200), row(60)]))
    assert np.array_equal(rows.astype(np.float32), np.stack([row(k) for k in range(10, 30)]))
    assert np.array_equal(table.get(np.array([5])), row(200)[None])


def test_keys_and_rows_of_unequal_counts_are_refused_and_nothing_is_added() -> None:
    table = VectorTable(DIM)
    table.add(np.array([1, 2], np.int64), np.stack([row(1), row(2)]))
    with pytest.raises(ValueError, match="3 keys for 2 vectors"):
        table.add(np.array([3, 4, 5], np.int64), np.stack([row(3), row(4)]))
    assert len(table) == 2 and table.contains(np.array([3, 4, 5], np.int64)).tolist() == [False] * 3
