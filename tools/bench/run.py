"""The benchmark run: corpus, Strata over gRPC, Strata in-process, peers, report.

Usage: ``python -m tools.bench --segments 100000 --out bench-100k.json`` (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from hierarchy.options import DatabaseOptions
from service.client import StrataClient
from tools.bench import corpus as corpora
from tools.bench import inprocess, peers, report, strata
from tools.bench.measure import exact_top_k, machine, versions
from tools.bench.profile import Sampler
from tools.bench.server import ServerProcess, disk_bytes
from tools.help_text import help_text

log = logging.getLogger(__name__)
PACKAGES = (
    "usearch",
    "duckdb",
    "grpcio",
    "numpy",
    "faiss-cpu",
    "hnswlib",
    "pymilvus",
    "milvus-lite",
    "lancedb",
    "pyarrow",
    "onnxruntime",  # runs the text encoder (text queries)
    "torch",
)


def _positive(text: str) -> int:
    """A whole number of at least 1 (argparse reports anything else as a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m tools.bench", description=help_text(__doc__ or "", None))
    p.add_argument("--segments", type=_positive, default=100_000, help="segments in the corpus")
    p.add_argument("--dim", type=_positive, default=512, help="vector dimension")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-video", type=int, default=2700, help="segments per video (2,700 x 2 s = 90 min)")
    p.add_argument("--queries", type=_positive, default=200, help="vector queries (recall, latency)")
    p.add_argument("--streams", type=int, default=2, help="concurrent ingest streams")
    p.add_argument("--batch", type=int, default=1000, help="segments per appended batch")
    p.add_argument("--clients", type=int, default=8, help="concurrent gRPC search clients")
    p.add_argument("--sealers", type=int, default=2, help="concurrent clients sealing videos after the ingest")
    p.add_argument(
        "--seal-while-loading",
        action="store_true",
        help="stream a video at a time and seal each once its segments are acknowledged, as the load goes on",
    )
    p.add_argument("--live-samples", type=int, default=50, help="live-ingest lag samples")
    p.add_argument("--memory-limit", default="2GB", help="the server's DuckDB memory limit")
    p.add_argument(
        "--peers",
        default=",".join(peers.PEERS),
        help=f"comma-separated peers, or 'none' (also: {', '.join(peers.FLOORS)}, Strata's segment graph alone)",
    )
    p.add_argument("--peer-timeout", type=float, default=3600.0, help="seconds before a peer is given up")
    p.add_argument("--no-text", action="store_true", help="skip the text-query collection (no encoder load)")
    p.add_argument("--profile", action="store_true", help="py-spy profiles of the server's ingest and search")
    p.add_argument("--work-dir", type=Path, default=None, help="scratch directory (default: a new temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--report", type=Path, default=None, help="only print the tables of a saved JSON result")
    return p.parse_args(argv)


def _stopped(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print its tables, write its JSON; 0 on success."""
    args = parse_args(argv)
    if args.report is not None:
        saved = json.loads(args.report.read_text())
        _ratios(saved)
        saved["targets"] = report.targets(saved)
        report.print_report(saved, Console(width=160))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Stopped by a signal, the run unwinds like an error: the server it started is stopped
    # and its work directory removed, not left running on a gigabyte of data.
    signal.signal(signal.SIGTERM, _stopped)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="strata-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)  # before the work, not after it
    try:
        result = run(args, work, lambda partial: _write(args.out, partial))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report.print_report(result, Console(width=160))
    _write(args.out, result)
    log.info("wrote %s", args.out)
    return 0


def _write(path: Path | None, result: dict[str, Any]) -> None:
    """Write the results so far (each phase adds its section, so a long run that stops
    early still leaves what it measured)."""
    if path is not None:
        path.write_text(json.dumps(result, indent=2, default=float) + "\n")


def run(args: argparse.Namespace, work: Path, save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Every phase, in order; the result dict (see BENCHMARKS.md for its sections).
    ``save`` is called with the partial result after each phase."""
    result: dict[str, Any] = {"config": _config(args), "machine": machine(), "versions": versions(PACKAGES)}
    began = time.perf_counter()
    corpus = corpora.generate(args.segments, args.dim, args.seed, args.per_video)
    vectors = corpora.queries(corpus, args.queries, args.seed)
    result["corpus"] = {"segments": len(corpus), "videos": len(corpus.video_ids), "generate_s": _since(began)}
    log.info("corpus: %d segments in %d videos", len(corpus), len(corpus.video_ids))
    texts = _serve_phase(args, work, corpus, vectors, result, save)
    save(result)
    _inprocess_phase(args, work, vectors, texts, result)
    save(result)
    result["memory"]["disk_bytes"] = disk_bytes(work / "data")
    result["memory"]["disk_bytes_per_segment"] = round(result["memory"]["disk_bytes"] / len(corpus), 1)
    result["peers"] = []
    _peer_phase(args, work, corpus, vectors, result["peers"], lambda: save(result))
    _ratios(result)
    result["targets"] = report.targets(result)
    result["machine"]["load_average_after"] = machine()["load_average"]
    return result


def _config(args: argparse.Namespace) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}


def _since(began: float) -> float:
    return round(time.perf_counter() - began, 2)


def _serve_phase(
    args: argparse.Namespace,
    work: Path,
    corpus: corpora.Corpus,
    vectors: np.ndarray,
    result: dict[str, Any],
    save: Callable[[dict[str, Any]], None],
) -> list[str]:
    """Everything measured over gRPC against a server process; returns the text queries."""
    server = ServerProcess(work / "data", args.memory_limit, work / "server.log")
    factory: Callable[[], StrataClient] = lambda: StrataClient(server.address, timeout=600)  # noqa: E731
    plan = strata.GrpcPlan(args.streams, args.batch, args.clients, args.live_samples)
    profiles: dict[str, Any] = {}
    result["profiles"] = profiles
    try:  # from the start: a stop signal just after it must still stop the server
        server.start()
        with factory() as client:
            strata.create_collection(client, args.dim)
            _ingest(args, work, server, factory, corpus, plan, profiles, result, save)
            result["levels"] = strata.level_counts(client)
            result["memory"] = server.memory()
            save(result)
            result["live"] = strata.live_lag(client, args.dim, plan, args.seed)
            texts = [] if args.no_text else strata.text_collection(client, args.seed)
        sampler = Sampler(server.pid, work / "search.raw").start() if args.profile else None
        result["search"] = strata.grpc_search(factory, strata.COLLECTION, list(vectors), "vector", args.clients)
        save(result)
        if sampler is not None:
            profiles["grpc_search"] = sampler.stop()
        if texts:
            result["search"] += strata.grpc_search(factory, strata.TEXT_COLLECTION, texts, "text", args.clients)
        mem = result["memory"]
        mem["peak_rss_bytes"] = max(mem["peak_rss_bytes"], server.memory()["peak_rss_bytes"])
    finally:
        result["server_stop_s"] = round(server.stop(), 2)
    return texts


def _ingest(
    args: argparse.Namespace,
    work: Path,
    server: ServerProcess,
    factory: Callable[[], StrataClient],
    corpus: corpora.Corpus,
    plan: strata.GrpcPlan,
    profiles: dict[str, Any],
    result: dict[str, Any],
    save: Callable[[dict[str, Any]], None],
) -> None:
    """Bulk ingest, then seal every video (or each as its segments are acknowledged, with
    ``--seal-while-loading``), then wait for every level's index; sets the ``ingest`` and
    ``build`` sections."""
    sampler = Sampler(server.pid, work / "ingest.raw").start() if args.profile else None
    if args.seal_while_loading:
        ingest, build = strata.load_and_seal(factory, corpus, plan, args.sealers)
        # The acknowledgement of the last segment, not of the last seal (the ingest's end).
        last_ack = time.perf_counter() - (build["seconds"] - ingest["seconds"])
    else:
        ingest = strata.bulk_ingest(factory, corpus, plan)
        last_ack = time.perf_counter()
    result["ingest"] = ingest
    if sampler is not None:
        profiles["ingest"] = sampler.stop()
    log.info("ingest: %s", ingest)
    save(result)
    sampler = Sampler(server.pid, work / "seal.raw").start() if args.profile else None
    if not args.seal_while_loading:
        build = strata.seal_all(factory, corpus, args.sealers)
    with factory() as client:
        strata.wait_searchable(client)
    if sampler is not None:
        profiles["seal"] = sampler.stop()
    ingest["searchable_after_last_ack_s"] = _since(last_ack)
    ingest["first_write_to_searchable_s"] = round(ingest["seconds"] + ingest["searchable_after_last_ack_s"], 2)
    with factory() as client:  # searches are measured on whole graphs, not exact scans of a tail
        strata.wait_linked(client)
    ingest["linked_after_last_ack_s"] = _since(last_ack)
    ingest["first_write_to_linked_s"] = round(ingest["seconds"] + ingest["linked_after_last_ack_s"], 2)
    result["build"] = build
    log.info("build: %s", build)


def _inprocess_phase(
    args: argparse.Namespace, work: Path, vectors: np.ndarray, texts: list[str], result: dict[str, Any]
) -> None:
    """Reopen the data directory in this process: restart time, latency, recall, profile."""
    db, result["restart_s"] = inprocess.open_database(work / "data", args.memory_limit)
    try:
        result["search"] += inprocess.search_latency(db, vectors, texts)
        result["recall"] = inprocess.recall(db, vectors)
        result["profiles"]["inprocess_segment"] = inprocess.profile(db, vectors, "segment")
        result["profiles"]["inprocess_auto"] = inprocess.profile(db, vectors, "auto")
    finally:
        db.close()
    result["restart_s"] = round(result["restart_s"], 2)


def _peer_phase(
    args: argparse.Namespace,
    work: Path,
    corpus: corpora.Corpus,
    vectors: np.ndarray,
    out: list[dict[str, Any]],
    save: Callable[[], None],
) -> None:
    """Each chosen peer in turn, appended to ``out`` (saved after each)."""
    names = [] if args.peers == "none" else [n.strip() for n in args.peers.split(",") if n.strip()]
    if not names:
        return
    unknown = set(names) - set(peers.FACTORIES)
    if unknown:
        raise SystemExit(f"unknown peers {sorted(unknown)}; choose from {', '.join(peers.FACTORIES)}")
    peer_dir = work / "peers"
    peer_dir.mkdir(exist_ok=True)
    np.save(peer_dir / "vectors.npy", corpus.vectors)
    np.save(peer_dir / "queries.npy", vectors)
    np.save(peer_dir / "truth.npy", exact_top_k(corpus.vectors, vectors, 10))
    for name in names:
        log.info("peer %s", name)
        out.append(peers.run_peer(name, peer_dir, args.peer_timeout))
        shutil.rmtree(peer_dir / name, ignore_errors=True)
        log.info("peer %s: %s", name, {k: v for k, v in out[-1].items() if k != "trace"})
        save()


def _segment_search_param(options: DatabaseOptions) -> str:
    """How the segment level is built and searched: the HNSW expansions, and the scenes
    narrowing scores."""
    index = options.index
    if options.narrow_parents > 0:
        beam = options.narrowed_expansion_search or index.expansion_search
        build = options.narrowed_expansion_add or index.expansion_add
        dtype = options.narrowed_dtype or index.dtype
        return f"{dtype} efC {build}, ef {beam} + {options.narrow_parents} scenes"
    return f"{index.dtype} efC {index.expansion_add}, ef {index.expansion_search}"


def _ratios(result: dict[str, Any]) -> None:
    """Peer / Strata for latency (in-process, segment level) and first write to searchable."""
    ref = next(r for r in result["search"] if (r["path"], r["kind"], r["level"]) == ("in-process", "vector", "segment"))
    result["strata_reference"] = {
        "p50_ms": ref["p50_ms"],
        "p99_ms": ref["p99_ms"],
        "recall_at_10": result["recall"]["segment"]["recall_at_10"],
        "param": _segment_search_param(DatabaseOptions()),  # the server runs with the defaults
    }
    ready = result["ingest"]["first_write_to_searchable_s"]
    for p in result["peers"]:
        if p.get("status") == "ok":
            p["latency_ratio"] = round(p["p50_ms"] / ref["p50_ms"], 3) if ref["p50_ms"] else 0.0
            p["ready_ratio"] = round(p["searchable_s"] / ready, 3) if ready else 0.0
