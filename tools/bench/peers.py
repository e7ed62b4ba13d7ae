"""Peers on the same segment vectors, each in its own process (so its memory is its own):
exact search, FAISS (flat and HNSW), hnswlib, Milvus Lite and LanceDB (IVF_PQ and
IVF_FLAT); and, when named,
Strata's own segment graph alone (``usearch-graph``), a floor rather than a peer.

Each peer builds its index from the vectors, timed from the first write to searchable;
then its search parameter (ef, nprobe, refine) rises along a ladder until recall@10
reaches the target, and latency is measured there. A peer whose package is missing
answers "not installed"; one that fails says why, and the run goes on.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tools.bench.measure import recall_at_k, summarise, timed_calls
from tools.bench.server import process_memory

PEERS = ("exact-numpy", "faiss-flat", "faiss-hnsw", "hnswlib", "milvus-lite", "lancedb", "lancedb-flat")
RECALL_TARGET = 0.95
# Strata's connectivity, and the expansion of its levels the tree does not narrow: a peer
# has no tree to narrow its searches.
HNSW_M, HNSW_EF_CONSTRUCTION = 16, 128
EF_LADDER = (16, 32, 64, 128, 256, 512, 1024)


class Peer(Protocol):
    """One system under comparison."""

    ladder: tuple[Any, ...]  # search parameters, cheapest first

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        """Write every vector and make them searchable."""

    def search(self, query: np.ndarray, k: int, param: Any) -> list[int]:
        """Row numbers of the ``k`` best matches, best first."""


class ExactNumpy:
    """One float32 matrix product per query: the physical reference."""

    kind = "numpy matmul"
    ladder = (None,)

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        self.base = np.ascontiguousarray(vectors, np.float32)

    def search(self, query: np.ndarray, k: int, param: Any) -> list[int]:
        sims = self.base @ query
        top = np.argpartition(-sims, k)[:k]
        return top[np.argsort(-sims[top])].tolist()


class FaissFlat:
    """FAISS ``IndexFlatIP`` (exact)."""

    kind = "IndexFlatIP"
    ladder = (None,)

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        import faiss

        self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(np.ascontiguousarray(vectors, np.float32))
        faiss.omp_set_num_threads(1)  # one query at a time: OpenMP threads only contend

    def search(self, query: np.ndarray, k: int, param: Any) -> list[int]:
        return self.index.search(query[None, :], k)[1][0].tolist()


class FaissHnsw:
    """FAISS ``IndexHNSWFlat`` (inner product, M and efConstruction as Strata's)."""

    kind = "HNSW"
    ladder = EF_LADDER

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        import faiss

        self.faiss = faiss
        self.index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        self.index.add(np.ascontiguousarray(vectors, np.float32))
        faiss.omp_set_num_threads(1)  # one query at a time: threads only add overhead

    def search(self, query: np.ndarray, k: int, param: Any) -> list[int]:
        self.index.hnsw.efSearch = max(param, k)
        return self.index.search(query[None, :], k)[1][0].tolist()


class Hnswlib:
    """hnswlib (inner product, M and ef_construction as Strata's)."""

    kind = "HNSW"
    ladder = EF_LADDER

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        import hnswlib

        self.index = hnswlib.Index(space="ip", dim=vectors.shape[1])
        self.index.init_index(max_elements=len(vectors), M=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION)
        self.index.add_items(vectors, np.arange(len(vectors)))
        self.index.set_num_threads(1)

    def search(self, query: np.ndarray, k: int, param: Any) -> list[int]:
        self.index.set_ef(max(param, k))
        return self.index.knn_query(query, k)[0][0].tolist()


class UsearchGraph:
    """Strata's own segment graph with nothing around it: USearch with the parameters the
    server builds that graph with (precision, connectivity, expansion), linked in calls of
    ``BULK_LINK_CHUNK`` on ``BULK_LINK_THREADS`` threads, as a bulk load links it, and its
    candidates ranked again on the float32 vectors as the server ranks a quantized graph's
    (``RESCORE_FACTOR`` per answer). A floor for Strata's linking and graph search, not a
    peer: the targets leave it out."""

    kind = "USearch graph"
    ladder = EF_LADDER

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        from usearch.index import Index

        from hierarchy.index import BULK_LINK_CHUNK, BULK_LINK_THREADS
        from hierarchy.indexparams import RESCORE_FACTOR
        from hierarchy.options import DatabaseOptions

        self.vectors, self.factor = np.ascontiguousarray(vectors, np.float32), RESCORE_FACTOR
        params = DatabaseOptions().segment_index()
        self.kind = f"{params.dtype} M {params.connectivity}, efC {params.expansion_add}"
        self.index = Index(
            ndim=vectors.shape[1],
            metric="cos",
            dtype=params.dtype,
            connectivity=params.connectivity,
            expansion_add=params.expansion_add,
        )
        keys, step = np.arange(len(vectors), dtype=np.uint64), BULK_LINK_CHUNK
        for lo in range(0, len(vectors), step):
            self.index.add(keys[lo : lo + step], vectors[lo : lo + step], threads=BULK_LINK_THREADS)

    def search(self, query: np.ndarray, k: int, param: Any) -> list[int]:
        self.index.expansion_search = max(param, self.factor * k)
        found = np.asarray(self.index.search(query, self.factor * k, threads=1).keys, np.int64)
        sims = self.vectors[found] @ query
        return found[np.argsort(-sims, kind="stable")[:k]].tolist()


class MilvusLite:
    """Milvus Lite (pymilvus with a local file): HNSW when it accepts one, else IVF_FLAT."""

    ladder = EF_LADDER

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        from pymilvus import MilvusClient

        self.client = MilvusClient(str(workdir / "milvus.db"))
        self.kind = self._create(vectors.shape[1])
        for lo in range(0, len(vectors), 10_000):
            rows = [{"id": lo + i, "vector": v} for i, v in enumerate(vectors[lo : lo + 10_000].tolist())]
            self.client.insert("bench", rows)
        self.client.flush("bench")
        self._wait_indexed(len(vectors))
        self.client.load_collection("bench")

    def _wait_indexed(self, rows: int, timeout_s: float = 3600.0) -> None:
        """Milvus builds indexes after the flush, in the background; until then searches
        scan the raw segments. Searchable here means indexed."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = self.client.describe_index("bench", "vector")
            if int(info.get("indexed_rows", rows)) >= rows or self.kind == "FLAT":
                return
            time.sleep(0.5)

    def _create(self, dim: int) -> str:
        """Create the collection with its index declared up front (Milvus indexes on flush)."""
        from pymilvus import DataType

        if self.client.has_collection("bench"):  # left by an earlier run in the same directory
            self.client.drop_collection("bench")
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        hnsw = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
        for kind, params in (("HNSW", hnsw), ("IVF_FLAT", {"nlist": 1024}), ("FLAT", {})):
            index = self.client.prepare_index_params()
            index.add_index("vector", index_type=kind, metric_type="IP", params=params)
            try:
                self.client.create_collection("bench", schema=schema, index_params=index)
                return kind
            except Exception:  # an index type this build does not offer: try the next
                if self.client.has_collection("bench"):
                    self.client.drop_collection("bench")
        raise RuntimeError("Milvus Lite accepted none of HNSW, IVF_FLAT, FLAT")

    def search(self, query: np.ndarray, k: int, param: Any) -> list[int]:
        params = {"ef": max(param, k)} if self.kind == "HNSW" else {"nprobe": max(1, param // 4)}
        hits = self.client.search(
            "bench", [query.tolist()], limit=k, search_params={"metric_type": "IP", "params": params}
        )
        return [int(h["id"]) for h in hits[0]]


class LanceDb:
    """LanceDB: an IVF_PQ index refined on the raw vectors (brute force below 10,000 rows)."""

    kind_name = "IVF_PQ + refine"
    ladder: tuple[tuple[int, int], ...] = ((8, 1), (16, 5), (32, 10), (64, 20), (128, 40), (256, 80))

    def build(self, vectors: np.ndarray, workdir: Path) -> None:
        import lancedb
        import pyarrow as pa

        db = lancedb.connect(str(workdir / "lance"))
        dim = vectors.shape[1]
        flat = pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1))
        table = pa.table(
            {"id": pa.array(np.arange(len(vectors))), "vector": pa.FixedSizeListArray.from_arrays(flat, dim)}
        )
        self.table = db.create_table("bench", table)
        self.indexed = len(vectors) >= 10_000
        self.kind = self.kind_name if self.indexed else "flat"
        if self.indexed:
            partitions = int(np.sqrt(len(vectors)))
            self.table.create_index("vector", config=self._config(partitions, dim))

    def _config(self, partitions: int, dim: int) -> Any:
        from lancedb.index import IvfPq

        return IvfPq(distance_type="dot", num_partitions=partitions, num_sub_vectors=dim // 16)

    def search(self, query: np.ndarray, k: int, param: Any) -> list[int]:
        nprobes, refine = param
        q = self.table.search(query).metric("dot").limit(k).select(["id", "_distance"])
        if self.indexed:
            q = q.nprobes(nprobes)
            q = q.refine_factor(refine) if refine else q
        return q.to_arrow().column("id").to_pylist()


class LanceDbFlat(LanceDb):
    """LanceDB with an IVF_FLAT index: exact scores inside the partitions probed, so only
    the partitions probed set its recall; no codebooks to train, so it is ready sooner
    than IVF_PQ (100 k benchmark vectors at 6a869e1: 6.3 s against 35.9 s). The ladder
    reaches half of the partitions of a million vectors, where a search took longer than
    an exact one (85.88 against 71.93 ms)."""

    kind_name = "IVF_FLAT"
    ladder = tuple((nprobes, 0) for nprobes in (8, 16, 32, 64, 128, 256, 512))

    def _config(self, partitions: int, dim: int) -> Any:
        from lancedb.index import IvfFlat

        return IvfFlat(distance_type="dot", num_partitions=partitions)


FACTORIES: dict[str, tuple[str, Callable[[], Peer]]] = {
    "exact-numpy": ("numpy", ExactNumpy),
    "faiss-flat": ("faiss", FaissFlat),
    "faiss-hnsw": ("faiss", FaissHnsw),
    "hnswlib": ("hnswlib", Hnswlib),
    "milvus-lite": ("milvus_lite", MilvusLite),
    "lancedb": ("lancedb", LanceDb),
    "lancedb-flat": ("lancedb", LanceDbFlat),
    "usearch-graph": ("usearch", UsearchGraph),
}
# Measured beside the peers but not compared with as one (see ``UsearchGraph``); run
# only when named.
FLOORS = ("usearch-graph",)


def installed(name: str) -> bool:
    """Whether the peer's package can be imported."""
    import importlib.util

    return importlib.util.find_spec(FACTORIES[name][0]) is not None


def run_peer(name: str, workdir: Path, timeout_s: float) -> dict[str, Any]:
    """Run one peer in a fresh process over ``workdir``'s vectors, queries and truth."""
    if not installed(name):
        return {"name": name, "status": "not installed"}
    out = workdir / f"{name}.json"
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_child, args=(name, str(workdir), str(out)), name=f"peer-{name}")
    proc.start()
    proc.join(timeout_s)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return {"name": name, "status": f"timed out after {timeout_s:.0f} s"}
    if not out.exists():
        return {"name": name, "status": f"failed (exit code {proc.exitcode})"}
    return json.loads(out.read_text())


def _child(name: str, workdir: str, out: str) -> None:
    work = Path(workdir)
    try:
        result = measure_peer(name, work)
    except Exception as exc:  # the report says why; the other peers still run
        result = {"name": name, "status": f"failed: {type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
    Path(out).write_text(json.dumps(result))


def measure_peer(name: str, work: Path) -> dict[str, Any]:
    """Build, tune to the recall target, then time single queries at that setting."""
    vectors = np.load(work / "vectors.npy")
    queries = np.load(work / "queries.npy")
    truth = np.load(work / "truth.npy")
    baseline = process_memory()["rss_bytes"]
    peer = FACTORIES[name][1]()
    (work / name).mkdir(exist_ok=True)
    began = time.perf_counter()
    peer.build(vectors, work / name)
    build_s = time.perf_counter() - began
    memory = _memory_with_children()
    param, recall = _tune(peer, queries, truth)
    latency = summarise(timed_calls(lambda q: peer.search(q, 10, param), list(queries)))
    return {
        "name": name,
        "status": "ok",
        "index": getattr(peer, "kind", ""),
        "build_s": round(build_s, 2),
        "searchable_s": round(build_s, 2),  # every write, then the index: first write to searchable
        "param": param,
        "recall_at_10": recall,
        **latency,
        "rss_bytes": memory,
        "index_rss_bytes": max(0, memory - baseline),
    }


def _tune(peer: Peer, queries: np.ndarray, truth: np.ndarray) -> tuple[Any, float]:
    recall = 0.0
    for param in peer.ladder:
        found = [peer.search(q, 10, param) for q in queries]
        recall = recall_at_k(found, truth.tolist())
        if recall >= RECALL_TARGET:
            return param, recall
    return peer.ladder[-1], recall


def _memory_with_children() -> int:
    """RSS of this process and its children (Milvus Lite serves from a child process)."""
    try:
        import psutil

        me = psutil.Process()
        return int(me.memory_info().rss + sum(c.memory_info().rss for c in me.children(recursive=True)))
    except ImportError:
        return process_memory()["rss_bytes"]
