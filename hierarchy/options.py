"""The settings of a :class:`hierarchy.db.Database`: memory, limits, index parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

from hierarchy import search
from hierarchy.errors import InvalidArgument
from hierarchy.indexes import narrowed
from hierarchy.indexparams import GRAPH_DTYPES, IndexParams


@dataclass(frozen=True)
class DatabaseOptions:
    """Tunables of an open database, with production defaults."""

    memory_limit: str = "2GB"
    threads: int = 2
    # Write-ahead log size at which a commit checkpoints the store. A checkpoint rewrites
    # the node table's key indexes whole, so its cost grows with the table: at DuckDB's
    # 16 MB, 300 batches of 1,000 512-d rows spent 22.3 s committing and inserting, with
    # commits of up to 4.1 s late in the load; at 256 MB, 11.2 s (1 GB: 7.6 s). At 1 M
    # over gRPC (same hour), 256 MB against 1 GB: bulk ingest 197.0 against 179.0 s,
    # sealing 121.7 against 110.8 s (the longest seal call, which waited for a commit's
    # checkpoint, 7.2 against 2.5 s), disk 3.57 against 3.08 GiB. The costs of a larger
    # log: memory, since the rows it holds wait in DuckDB's buffers until the checkpoint
    # (server RSS after that 1 M load 3.66 against 4.40 GiB, peak 4.57 against 4.71); a
    # longer replay after a crash (the 1 M store reopened after a crash in 1.2 s with
    # 0.5 GB of log, 5.7 s with 2.0 GB); the log's size on disk until then.
    checkpoint_threshold: str = "1GB"
    # Every level's graph keeps 8-bit vectors (cosine collections) and ranks its candidates
    # by the half-float table: as many of the true neighbours found, 1.5 times the linking
    # pace (see hierarchy.indexparams.QUANTIZED).
    index: IndexParams = field(default_factory=lambda: IndexParams(dtype="i8"))
    max_batch: int = 10_000
    max_top_k: int = 1000
    max_page_size: int = 1000  # larger page sizes are capped to it
    max_query_chars: int = 4096  # longer search texts are refused
    exact_filter_below: int = 50_000
    # An unfiltered segment search also scores exactly the segments of this many best
    # scenes (hierarchy.search.children_of_best), or of twice as many as a longer page's
    # answers (search.narrow_count); 0: the graph alone.
    narrow_parents: int = search.NARROW_PARENTS
    # The segment graph's search beam while narrowing is on: the graph then only has to
    # find what the best scenes do not hold, but segments of videos not yet built rely on
    # it alone. A graph built at an expansion of 64 leaves some vectors hard to reach: of
    # 2,000 live-ingested benchmark vectors (over 100 k), 74 did not find themselves at a
    # beam of 64, 10 at 128 (0.18 against 0.12 ms a search). 0: every level's beam.
    narrowed_expansion_search: int = 128
    # The segment graph's expansion while it is built (``expansion_add``) by bulk writes,
    # with narrowing on; 0: every level's. Linking is most of bulk ingest. On 400 k
    # benchmark vectors in an 8-bit graph (two threads, calls of 1,024): built in 36.6 s at
    # 64, 24.0 s at 48, 15.4 s at 32. The graph alone finds fewer of the true ten as it
    # gets cheaper (0.52, 0.43, 0.27 at a beam of 128) but the best scenes hold most of
    # them: narrowed, 0.997, 0.995, 0.990 (the 32 best scenes alone: 0.974). At 1 M the
    # graph is linked in 142.0 s at 48 and 91.3 s at 32 (connectivity 12 at 48: 124.0 s),
    # and over gRPC, in the same hour, bulk ingest took 232.9 s at 48 (profiled) and
    # 189.7 s at 32, at a narrowed recall of 0.989. The price: a bulk-loaded video not
    # yet sealed (no scenes to narrow by) is found by the weaker graph alone. Writes of
    # at most ``LIVE_WRITE_ROWS`` (live ingest) are linked at every level's expansion.
    # Changing it rebuilds the segment index on the next open (a graph keeps the
    # expansion it was built with).
    narrowed_expansion_add: int = 32
    # The segment graph's precision with narrowing on ("": every level's, ``index.dtype``),
    # in cosine collections. An 8-bit graph links 1.5 times as fast as one of half floats;
    # it only finds candidates, which the half-float table scores (hierarchy.indexparams.QUANTIZED).
    narrowed_dtype: str = "i8"
    # Nodes kept built for turning answers into hits (the most recently used; about 1.4 KB
    # each with a caption); 0: none. Beneath them the resident rows below answer the rest.
    node_cache_size: int = 65_536
    # Every node's fields but its vector held in memory (hierarchy.noderows: about 100 bytes
    # a node plus its text), so hits are not looked up in the store. At 100 k segments the
    # store's look-ups were 1.8 ms of a 4.4 ms segment search (profiled, in-process); with
    # the rows a search took 2.26 ms instead of 3.75 (the benchmark's p50), and 8 gRPC
    # clients got 381-402 answers/s against 315-328. False: only the node cache above.
    resident_nodes: bool = True
    # Acknowledged vectors that may wait for the HNSW graph (searched exactly meanwhile)
    # before writers wait for the background linker.
    max_unlinked: int = 100_000
    # Threads of numpy's BLAS for the whole process (0: the library's default, one per
    # core). Searches run side by side and a BLAS pool's threads spin after every small
    # product, taking the cores from other searches and from the text encoder's own pool:
    # with one, the slowest AUTO searches over gRPC at 100 k took 8.6 ms (p99, server side)
    # instead of 17, and first-time text queries 19 ms instead of 121 (p99, in-process).
    blas_threads: int = 1
    # Megabytes the float32 copies of small levels (hierarchy.scan) may hold together in
    # the process: each is four bytes a value (41 MB for 20,000 512-d rows), beside the
    # half-float table every level keeps, so a server of many small collections would
    # otherwise grow with their number. A level whose copy does not fit is scored by
    # USearch's exact kernels over the table (4-6 times slower a row). Process-wide: the
    # last Database opened sets it. 0: no copies.
    scan_memory_mb: int = 1024

    def __post_init__(self) -> None:
        for name in (
            "narrow_parents",
            "narrowed_expansion_search",
            "narrowed_expansion_add",
            "max_unlinked",
            "blas_threads",
        ):
            if getattr(self, name) < 0:  # USearch refused a negative expansion at the first write
                raise InvalidArgument(name, f"is {getattr(self, name)}; use 0 or more")
        if self.scan_memory_mb < 0:
            raise InvalidArgument("scan_memory_mb", f"is {self.scan_memory_mb}; use 0 (no copies) or more megabytes")
        for name, dtype in (("index.dtype", self.index.dtype), ("narrowed_dtype", self.narrowed_dtype)):
            if dtype and dtype not in GRAPH_DTYPES:
                raise InvalidArgument(name, f"is {dtype!r}; use one of {', '.join(sorted(GRAPH_DTYPES))}")

    def segment_index(self) -> IndexParams:
        """The segment level's index parameters: lighter where the tree narrows its searches."""
        if self.narrow_parents <= 0:
            return self.index
        return narrowed(self.index, self.narrowed_expansion_search, self.narrowed_expansion_add, self.narrowed_dtype)
