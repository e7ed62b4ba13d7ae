"""What a level index is built and searched with: its HNSW parameters (stored beside
its file) and the graph precisions it may keep."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexParams:
    """HNSW parameters of a level index (stored with the file). A saved graph is reused
    when the parameters it was built with (``BUILT_WITH``) match; the others apply to
    searches and may change between runs."""

    dtype: str = "f16"
    connectivity: int = 16
    expansion_add: int = 128
    expansion_search: int = 256
    exact_below: int = 20_000
    live_expansion_add: int = 0  # for writes of a live stream (0: ``expansion_add``; see indexes.narrowed)


BUILT_WITH = ("dtype", "connectivity", "expansion_add")

# Graph precisions coarser than the table's: the graph only finds candidates, and every
# answer is scored again from the table (see ``hierarchy.index.LevelIndex.search``). A
# graph of 8-bit integers links 1.5 times as fast as one of half floats (200 k benchmark
# vectors, two threads: 15.8 against 24.4 s) and finds as many of the true ten (0.709
# against 0.712 at a beam of 64), but its own scores are off by up to 0.01: ranking all
# of 100 k vectors by them put 0.88 of the true ten in the first ten.
QUANTIZED = frozenset({"i8"})
GRAPH_DTYPES = frozenset({"f64", "f32", "f16", "bf16", "i8"})  # precisions a graph may keep
# Candidates a quantized graph returns per answer wanted, for the table to rank.
RESCORE_FACTOR = 2
