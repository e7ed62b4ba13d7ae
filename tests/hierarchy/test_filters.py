"""Filters: the SQL form and the predicate form select exactly the same nodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hierarchy import filters, nodes
from hierarchy.errors import InvalidArgument
from hierarchy.filters import AttributeCondition
from hierarchy.store import Store
from hierarchy.types import Filter, Level, SearchQuery, TimeRange

KEYS = ["team", "period", "xg", "home"]
VALUES = st.one_of(
    st.sampled_from(["home", "away", "1"]),
    st.integers(-3, 3),
    st.sampled_from([0.5, 2.0, 1.5e308, -1.5e308]),  # past any stand-in for an open bound
    st.booleans(),
)
ATTRS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=3)
LABELS = st.lists(st.sampled_from(["goal", "corner kick", "foul"]), max_size=2, unique=True)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store(Path(tmp_path_factory.mktemp("filters")) / "f.duckdb")


def _load(store: Store, rows: list[tuple[dict, list[str], int]]) -> list:
    cur = store.cursor()
    cur.execute("DELETE FROM nodes")
    n = len(rows)
    batch = nodes.NodeBatch(
        keys=np.arange(1, n + 1, dtype=np.int64),
        node_ids=[f"n{i}" for i in range(n)],
        level=Level.SEGMENT,
        video_ids=[f"v{i % 3}" for i in range(n)],
        start_ms=np.array([r[2] for r in rows], np.int64),
        end_ms=np.array([r[2] + 1000 for r in rows], np.int64),
        texts=[""] * n,
        labels=[r[1] for r in rows],
        attributes=[r[0] for r in rows],
        shot_cuts=[False] * n,
        vectors=np.ones((n, 2), np.float32),
    )
    nodes.insert(cur, batch.to_arrow(1, 1))
    return list(nodes.by_keys(cur, list(range(1, n + 1))).values())


CONDITIONS = st.one_of(
    st.builds(AttributeCondition, st.sampled_from(KEYS), VALUES),
    st.builds(
        AttributeCondition,
        st.sampled_from(KEYS),
        st.none(),
        st.sampled_from([None, -1.0, 0.5]),
        st.sampled_from([None, 1.0, 3.0]),
    ).filter(lambda c: c.minimum is not None or c.maximum is not None),
)
FILTERS = st.builds(
    Filter,
    video_ids=st.lists(st.sampled_from(["v0", "v1", "v2"]), max_size=2, unique=True).map(tuple),
    time_range=st.one_of(st.none(), st.builds(TimeRange, st.integers(0, 5000), st.sampled_from([0, 3000, 9000]))),
    labels=LABELS.map(tuple),
    attributes=st.lists(CONDITIONS, max_size=2).map(tuple),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(ATTRS, LABELS, st.integers(0, 8000)), min_size=1, max_size=12), flt=FILTERS)
def test_sql_and_predicate_agree(store: Store, rows: list, flt: Filter) -> None:
    stored = _load(store, rows)
    by_sql = set(nodes.filtered_keys(store.cursor(), 1, Level.SEGMENT, flt, 1000).tolist())
    ids = {n.id: i + 1 for i, n in enumerate(sorted(stored, key=lambda n: int(n.id[1:])))}
    by_predicate = {ids[n.id] for n in stored if filters.passes(n, flt)}
    assert by_sql == by_predicate


@pytest.mark.parametrize(
    ("cond", "field"),
    [
        (AttributeCondition("bad key!", "x"), "filter.attributes[0].key"),
        (AttributeCondition("team"), "filter.attributes[0]"),
        (AttributeCondition("team", "home", minimum=1.0), "filter.attributes[0]"),
        (AttributeCondition("xg", minimum=2.0, maximum=1.0), "filter.attributes[0].range.min"),
    ],
    ids=["bad-key", "no-test", "both-tests", "reversed-range"],
)
def test_malformed_conditions_name_the_field(cond: AttributeCondition, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        filters.check(Filter(attributes=(cond,)))
    assert info.value.field == field


def test_a_parent_shares_only_values_its_segments_hold_alike(tmp_path: Path) -> None:
    """Filters keep booleans and numbers apart, so a parent built over segments of
    ``k: 1`` and ``k: true`` shares no ``k`` (Python's ``1 == True`` made it share 1)."""
    from hierarchy.db import Database
    from hierarchy.treerows import common_attributes
    from hierarchy.types import EmbeddingSpace, SegmentInput

    first, second = {"k": 1, "n": 2.0, "t": {"a": [1, True]}}, {"k": True, "n": 2, "t": {"a": [1.0, True]}}
    shared = common_attributes([first, second])
    assert shared == {"n": 2.0, "t": {"a": [1, True]}}
    db = Database.open(tmp_path / "data")
    try:
        db.create_collection("c", EmbeddingSpace(4))
        db.create_video("c", "v")
        rows = np.eye(4, dtype=np.float32)
        values = [1, True, True, True]
        db.append_segments(
            "c", [SegmentInput("v", i * 1000, i * 1000 + 1000, rows[i], attributes={"k": values[i]}) for i in range(4)]
        )
        db.seal_video("c", "v")
        assert "k" not in db.navigator.node("c", "v/video/0").attributes
        as_number = Filter(attributes=(AttributeCondition("k", 1.0),))
        found = db.search(SearchQuery("c", Level.VIDEO, vector=rows[0], filter=as_number))
        assert found.hits == []
    finally:
        db.close()


@pytest.mark.parametrize(("minimum", "maximum"), [(None, 0.0), (0.0, None), (None, -1e308), (1e308, None)])
def test_an_open_bound_is_open_past_any_number(store: Store, minimum: float | None, maximum: float | None) -> None:
    """An unset bound takes every number on its side, the largest doubles too."""
    values = [-1.5e308, -5.0, 5.0, 1.5e308]
    stored = _load(store, [({"x": v}, [], i * 1000) for i, v in enumerate(values)])
    flt = Filter(attributes=(AttributeCondition("x", None, minimum, maximum),))
    by_sql = set(nodes.filtered_keys(store.cursor(), 1, Level.SEGMENT, flt, 1000).tolist())
    low, high = -np.inf if minimum is None else minimum, np.inf if maximum is None else maximum
    assert by_sql == {i + 1 for i, v in enumerate(values) if low <= v <= high}
    assert by_sql == {int(n.id[1:]) + 1 for n in stored if filters.passes(n, flt)}
