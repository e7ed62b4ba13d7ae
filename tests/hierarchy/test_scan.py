"""The float32 scan copy of a table holds, at every moment, exactly the table's rows:
caught up after appends, started over after a rebuild moves them; and the copies of a
process together hold no more than their budget."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hierarchy import scan as scan_module
from hierarchy.scan import ROW_GROUP, Budget, ScanCopy
from hierarchy.types import Metric
from hierarchy.vectortable import VectorTable

DIM = 3

operations = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "scan"]), st.lists(st.integers(0, 2_000), min_size=1, max_size=300)),
    max_size=20,
)


def row(key: int) -> np.ndarray:
    return np.array([key, -key, key % 7 + 1], np.float32)


def alive_rows(copy: ScanCopy) -> dict[int, np.ndarray]:
    scan = copy.current()
    assert scan is not None
    count = len(scan.keys)
    assert len(scan.alive) == count and len(scan.rows) >= count and len(scan.rows) % ROW_GROUP == 0
    rows, norms = scan.rows[:count], scan.norms[:count]
    np.testing.assert_allclose(norms, np.linalg.norm(rows, axis=1), rtol=1e-6)
    return {int(k): r for k, r, a in zip(scan.keys, rows, scan.alive, strict=True) if a}


@settings(max_examples=60, deadline=None)
@given(operations, st.booleans())
def test_the_copy_holds_the_tables_rows_after_any_writes(ops: list[tuple[str, list[int]]], columns: bool) -> None:
    # Scans between writes make the copy catch up from where it was; out-of-order adds
    # and compactions move rows, which a copy that only appended would miss.
    table = VectorTable(DIM)
    copy = ScanCopy(table, columns=columns)
    for op, keys in ops:
        keys_array = np.array(keys, np.int64)
        if op == "add":
            table.add(keys_array, np.stack([row(k) for k in keys]))
        elif op == "remove":
            table.remove(keys_array)
        else:
            alive_rows(copy)
    present = table.in_place()
    expected = {int(k) for k, a in zip(present.keys, present.alive, strict=True) if a}
    scanned = alive_rows(copy)
    assert set(scanned) == expected
    for key, scanned_row in scanned.items():
        np.testing.assert_array_equal(scanned_row, row(key).astype(np.float16).astype(np.float32))


def test_a_released_copy_is_rebuilt_on_the_next_scan() -> None:
    table = VectorTable(DIM)
    copy = ScanCopy(table)
    table.add(np.arange(5), np.stack([row(k) for k in range(5)]))
    assert len(alive_rows(copy)) == 5 and copy.held
    copy.release()
    assert not copy.held
    table.add(np.arange(5, 8), np.stack([row(k) for k in range(5, 8)]))
    assert sorted(alive_rows(copy)) == list(range(8))


def test_a_search_holding_an_older_state_scores_that_states_rows() -> None:
    # Searches read the table's state, then the shared copy: another search may have
    # caught the copy up past an append, or past a rebuild that moved every row.
    table = VectorTable(DIM)
    copy = ScanCopy(table)
    table.add(np.arange(10, 20), np.stack([row(k) for k in range(10, 20)]))
    before_append = table.in_place()
    table.add(np.arange(20, 25), np.stack([row(k) for k in range(20, 25)]))
    assert len(alive_rows(copy)) == 15
    before_rebuild = table.in_place()
    table.add(np.arange(0, 5), np.stack([row(k) for k in range(5)]))  # out of key order: rows move
    assert len(alive_rows(copy)) == 20
    for stale, keys in ((before_append, range(10, 20)), (before_rebuild, range(10, 25))):
        table.in_place = lambda stale=stale: stale  # type: ignore[method-assign]
        scanned = alive_rows(copy)
        assert sorted(scanned) == list(keys)
        for key, scanned_row in scanned.items():
            np.testing.assert_array_equal(scanned_row, row(key).astype(np.float16).astype(np.float32))


def filled(rows: int, first: int = 0) -> VectorTable:
    table = VectorTable(DIM)
    table.add(np.arange(first, first + rows), np.stack([row(k) for k in range(first, first + rows)]))
    return table


ONE_COPY = 1024 * (DIM + 1) * 4  # the bytes of a copy's first arrays (room for 1,024 rows)


def test_a_copy_that_does_not_fit_the_budget_is_not_made() -> None:
    budget = Budget(ONE_COPY)
    first, second = ScanCopy(filled(10), budget), ScanCopy(filled(10, 100), budget)
    assert first.current() is not None and budget.held == ONE_COPY
    assert second.current() is None and not second.held
    assert budget.held == ONE_COPY  # the first, still read, keeps its copy


def test_a_copy_idle_long_enough_gives_way() -> None:
    budget = Budget(ONE_COPY)
    first, second = ScanCopy(filled(10), budget), ScanCopy(filled(10, 100), budget)
    assert first.current() is not None
    first.read_at = time.monotonic() - scan_module.IDLE_SECONDS - 1
    assert second.current() is not None
    assert not first.held and second.held and budget.held == ONE_COPY
    assert first.current() is None  # and now the second is the one being read


def test_copies_growing_at_once_share_the_room_not_count_it_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each counted the others' bytes as they were before they grew: four were let in.
    slow = scan_module._caught_up
    monkeypatch.setattr(scan_module, "_caught_up", lambda *args: (time.sleep(0.1), slow(*args))[1])
    budget = Budget(ONE_COPY)
    copies = [ScanCopy(filled(10, 100 * i), budget) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda copy: copy.current() is not None, copies))
    assert made.count(True) == 1 and budget.held == ONE_COPY


def test_idle_copies_stay_when_dropping_them_would_not_make_room() -> None:
    budget = Budget(2 * ONE_COPY)
    idle = ScanCopy(filled(10), budget)
    assert idle.current() is not None
    idle.read_at = time.monotonic() - scan_module.IDLE_SECONDS - 1
    assert ScanCopy(filled(3000, 100), budget).current() is None  # larger than the whole budget
    assert idle.held and budget.held == ONE_COPY


def test_no_idle_copy_is_dropped_unless_enough_of_them_can_be() -> None:
    # One idle copy was dropped, then the next was being caught up (not to be waited on):
    # the room was still short, and the first had gone for nothing.
    budget = Budget(2 * ONE_COPY)
    first, busy = ScanCopy(filled(10), budget), ScanCopy(filled(10, 100), budget)
    for copy in (first, busy):
        assert copy.current() is not None
        copy.read_at = time.monotonic() - scan_module.IDLE_SECONDS - 1
    assert busy.claim()  # a read-ahead catching it up holds it
    try:
        assert ScanCopy(filled(1500, 1000), budget).current() is None  # needs both copies' room
    finally:
        busy.unclaim()
    assert first.held and busy.held and budget.held == 2 * ONE_COPY


def test_a_level_emptied_by_a_rebuild_gives_its_room_back() -> None:
    budget = Budget(ONE_COPY)
    table = filled(10)
    copy = ScanCopy(table, budget)
    assert copy.current() is not None and budget.held == ONE_COPY
    table.remove(np.arange(10))  # every row removed: the table is rebuilt empty
    assert copy.current(read=False) is not None and budget.held == 0


def test_keeping_a_copy_up_to_date_is_not_reading_it() -> None:
    budget = Budget(ONE_COPY)
    copy = ScanCopy(filled(10), budget)
    copy.read_at = long_ago = time.monotonic() - scan_module.IDLE_SECONDS - 1
    assert copy.current(read=False) is not None
    assert copy.read_at == long_ago


def test_a_copy_that_outgrows_the_budget_is_dropped() -> None:
    budget = Budget(ONE_COPY)
    table = filled(1000)
    copy = ScanCopy(table, budget)
    assert copy.current() is not None
    table.add(np.arange(1000, 1100), np.stack([row(k) for k in range(1000, 1100)]))
    assert copy.current() is None
    assert not copy.held and budget.held == 0


@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
@pytest.mark.parametrize("metric", list(Metric))
def test_identical_rows_score_alike_wherever_they_lie(metric: Metric, columns: bool) -> None:
    # BLAS sums a product's last 512-d rows in another order: a repeated caption appended at the
    # end of a level scored apart from its twin, and the tie was not left to the keys.
    rng = np.random.default_rng(3)
    twin = rng.standard_normal(512).astype(np.float32)
    query = rng.standard_normal(512).astype(np.float32)
    for count in range(40, 140):
        table = VectorTable(512, np.float32)
        rows = rng.standard_normal((count, 512)).astype(np.float32)
        rows[count // 2] = rows[count - 1] = twin  # keys count // 2 and count - 1
        table.add(np.arange(count), rows)
        scan = ScanCopy(table, Budget(1 << 30), columns).current()
        assert scan is not None
        for among in (None, np.array([count - 1, 0, count // 2, 5])):
            for top in (None, 1):
                keys, sims = scan.best(query + 9 * twin, top, metric, among)
                assert keys[0] == count // 2  # the twins first, by key
                if top is None:
                    assert keys[1] == count - 1 and sims[0] == sims[1]


@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_a_rows_score_does_not_move_when_rows_are_appended(columns: bool) -> None:
    # A page resumes a search by ranking again: rows written meanwhile must not nudge the
    # scores of those ranked before, or answers tied with a page's last could swap.
    rng = np.random.default_rng(4)
    query = rng.standard_normal(512).astype(np.float32)
    table = VectorTable(512, np.float32)
    copy = ScanCopy(table, Budget(1 << 30), columns)
    first = 0
    scores: dict[int, float] = {}
    for added in rng.integers(1, 40, size=30):
        table.add(np.arange(first, first + added), rng.standard_normal((added, 512)).astype(np.float32))
        first += added
        scan = copy.current()
        assert scan is not None
        run = np.arange(max(0, first - 50), first)  # the newest rows, read in place
        for among in (None, run):
            keys, sims = scan.best(query, None, Metric.INNER_PRODUCT, among)
            for key, sim in zip(keys.tolist(), sims.tolist(), strict=True):
                assert scores.setdefault(key, sim) == sim


@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_a_rows_score_is_the_same_in_a_long_level_of_narrow_rows(columns: bool) -> None:
    # Over more than 16,384 rows of fewer than 64 dimensions, BLAS summed a row's product
    # in another order than in a shorter product: rows found through a filter scored apart
    # from the same rows found by an unfiltered search.
    rng = np.random.default_rng(5)
    table = VectorTable(7, np.float32)
    table.add(np.arange(20_000), rng.standard_normal((20_000, 7)).astype(np.float32))
    scan = ScanCopy(table, Budget(1 << 30), columns).current()
    assert scan is not None
    query = rng.standard_normal(7).astype(np.float32)
    everywhere = dict(zip(*(a.tolist() for a in scan.best(query, None, Metric.INNER_PRODUCT)), strict=True))
    few, many = (rng.choice(20_000, size, replace=False) for size in (500, 5_000))  # gathered; scored all, picked
    for among in (np.arange(3_000, 9_000), few, many):
        keys, sims = scan.best(query, None, Metric.INNER_PRODUCT, among)
        assert sorted(keys.tolist()) == sorted(set(among.tolist()))
        assert [everywhere[key] for key in keys.tolist()] == sims.tolist()


asked_keys = st.one_of(
    st.builds(lambda lo, n: list(range(lo, lo + n)), st.integers(0, 400), st.integers(1, 120)),  # a video's run
    st.lists(st.integers(0, 500), min_size=1, max_size=60),  # any keys, any order, repeats
)


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(st.integers(0, 300), st.integers(1, 300)),
    st.lists(st.integers(0, 700), max_size=100),
    st.lists(st.integers(0, 700), max_size=20),
    asked_keys,
    st.booleans(),
)
@example(block=(0, 5), extra=[6, 7, 8], removed=[], asked=[3, 4, 5, 6], columns=True)  # 5 missing: not a run
@example(block=(0, 10), extra=[], removed=[], asked=[3, 3, 5], columns=True)  # as many keys as a run
@example(block=(0, 10), extra=[], removed=[], asked=[5, 4, 6], columns=False)  # not ascending
@example(block=(0, 10), extra=[], removed=[5], asked=[4, 5, 6], columns=True)  # a removed row inside
def test_the_rows_of_keys_asked_are_theirs_whether_or_not_they_run(
    block: tuple[int, int], extra: list[int], removed: list[int], asked: list[int], columns: bool
) -> None:
    # A run of consecutive keys in consecutive rows is read in place; a gap, a removed
    # row or keys out of order inside the run must fall back to looking each one up.
    added = list(range(block[0], block[0] + block[1])) + extra  # most runs asked are held
    table = VectorTable(DIM)
    table.add(np.array(added, np.int64), np.stack([row(k) for k in added]))
    if removed:
        table.remove(np.array(removed, np.int64))
    scan = ScanCopy(table, columns=columns).current()
    assert scan is not None
    held = set(added) - set(removed)
    keys = np.array(asked, np.int64)
    expected = [k for k in asked if k in held]
    wanted = np.array([row(k) for k in expected], np.float32).reshape(-1, DIM)

    picked = scan.among(keys)
    assert picked.keys.tolist() == expected
    rows = picked.matrix.T if picked.columns else picked.matrix
    assert len(rows) >= len(expected) and len(rows) % ROW_GROUP == 0
    rows = rows if picked.at is None else rows[picked.at]
    np.testing.assert_array_equal(rows[: len(expected)], wanted)
    norms = picked.norms
    np.testing.assert_allclose(norms, [np.linalg.norm(row(k)) for k in expected], rtol=1e-6)
    for axis in np.eye(DIM, dtype=np.float32):  # the products read the same rows
        np.testing.assert_array_equal(picked.dots(axis), wanted @ axis)

    live, gathered, gathered_norms = scan.rows_of(keys)
    assert keys[live].tolist() == expected
    np.testing.assert_array_equal(gathered, wanted)
    np.testing.assert_array_equal(gathered_norms, norms)
