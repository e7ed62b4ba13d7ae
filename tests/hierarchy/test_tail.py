"""The unlinked tail holds, at every moment, exactly the writes not yet linked, oldest
first, whichever blocks they fall in; and a reader's view never changes under it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hierarchy import tail as tail_module
from hierarchy.tail import UnlinkedTail

DIM = 3

operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 2_500)),
        st.tuples(st.just("link"), st.just(0)),
        st.tuples(st.just("remove"), st.integers(0, 40)),
    ),
    max_size=30,
)


def row(key: int) -> np.ndarray:
    return np.array([key, -key, key % 7 + 1], np.float32)


def rows(keys: list[int]) -> np.ndarray:
    return np.array([row(k) for k in keys], np.float32).reshape(-1, DIM)


@settings(max_examples=60, deadline=None)
@given(operations)
def test_the_tail_holds_the_writes_not_yet_linked(ops: list[tuple[str, int]]) -> None:
    tail = UnlinkedTail(DIM)
    model: list[tuple[list[int], int]] = []  # writes waiting, oldest first: (keys, watermark)
    removed: set[int] = set()
    next_key = 0
    for step, (op, arg) in enumerate(ops):
        if op == "append":
            keys = np.arange(next_key, next_key + arg, dtype=np.int64)
            next_key += arg
            tail.append(keys, rows(keys.tolist()), step)
            model.append((keys.tolist(), step))
        elif op == "link" and model:
            batch = tail.oldest()
            assert batch is not None
            keys, watermark = model.pop(0)
            assert batch.keys.tolist() == keys and batch.watermark == watermark
            np.testing.assert_array_equal(batch.rows, rows(keys))
            tail.drop_oldest()
        elif op == "remove":
            waiting = [k for keys, _ in model for k in keys]
            gone = waiting[arg::41][:5]
            tail.remove(np.array(gone, np.int64))
            removed.update(gone)
        alive = [k for keys, _ in model for k in keys if k not in removed]
        assert len(tail) == sum(len(keys) for keys, _ in model)
        assert tail.keys().tolist() == alive
        query = np.array([0.5, 0.25, 1.0], np.float32)
        found, dots, norms = tail.scan(query)
        assert found.tolist() == alive
        expected = rows(alive)
        np.testing.assert_allclose(dots, expected @ query, rtol=1e-6)
        np.testing.assert_allclose(norms, np.linalg.norm(expected, axis=1), rtol=1e-6)
    assert (tail.oldest() is None) == (not model)


def test_linked_blocks_are_let_go_and_a_reader_s_view_stays_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk load's tail never copies its rows: the blocks every linked row is in are
    dropped, and a search that took the state before keeps reading what it took."""
    monkeypatch.setattr(tail_module, "BLOCK_ROWS", 1024)
    tail = UnlinkedTail(DIM)
    for w in range(6):
        keys = np.arange(w * 1000, (w + 1) * 1000, dtype=np.int64)
        tail.append(keys, rows(keys.tolist()), w)
    blocks = tail._state.blocks
    assert sum(len(b.keys) for b in blocks) == 6 * 1024  # room for 6,144 rows
    before = tail._state
    for _ in range(3):
        tail.drop_oldest()
    assert tail._state.blocks == blocks[2:]  # rows 3,000-3,071 are in the third block
    assert tail._state.blocks[0].keys is blocks[2].keys  # the same arrays, not copies
    assert tail.keys().tolist() == list(range(3000, 6000))
    assert [b.first for b in before.blocks] == [0, 1024, 2048, 3072, 4096, 5120]
    assert before.spans()[0][0] is blocks[0] and before.count - before.start == 6000
