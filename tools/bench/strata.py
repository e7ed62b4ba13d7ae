"""Strata's measurements over gRPC: bulk ingest, tree building, time to searchable,
live ingest lag and search latency, against a real server process on loopback."""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from hierarchy import warmer
from service import convert as cv
from service.client import StrataClient
from service.gen.strata.v1 import segment_pb2
from tools.bench.corpus import SEGMENT_MS, Corpus, generate
from tools.bench.measure import concurrent_calls, summarise, timed_calls
from tools.soccer import EVENTS

log = logging.getLogger(__name__)
COLLECTION = "bench"
TEXT_COLLECTION = "bench-text"
SEARCH_LEVELS = ("segment", "scene", "drive", "half", "video", "auto")
# Concurrent clients go through the queries this many times: one pass of 200 at 1 M took
# 0.7 s, and rounds that short spread by 10 % on this machine (284-313 q/s).
CONCURRENT_PASSES = 3


@dataclass(frozen=True)
class GrpcPlan:
    """What to run over gRPC."""

    streams: int = 2
    batch: int = 1000
    clients: int = 8
    live_samples: int = 50
    live_batch: int = 16


def create_collection(client: StrataClient, dim: int) -> None:
    """The vector collection the corpus goes into."""
    client.create_collection(COLLECTION, dimension=dim, metric="cos", model_name="bench", model_version="1")


def bulk_ingest(client_factory: Callable[[], StrataClient], corpus: Corpus, plan: GrpcPlan) -> dict[str, Any]:
    """Create every video, then append all segments over ``plan.streams`` concurrent
    client streams; the rate counts acknowledged segments over the whole wall time."""
    began = time.perf_counter()
    videos = _create_videos(client_factory, corpus)
    acked = [0] * plan.streams

    def stream(i: int) -> None:
        with client_factory() as client:
            reply = client.stream_segments(COLLECTION, _batches(corpus, videos[i :: plan.streams], plan.batch, i))
            acked[i] = int(reply.segment_count)

    _in_threads(stream, plan.streams)
    return _ingested(plan, len(videos), sum(acked), time.perf_counter() - began)


def load_and_seal(
    client_factory: Callable[[], StrataClient], corpus: Corpus, plan: GrpcPlan, sealers: int = 2
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create every video, then stream each video's segments (``plan.streams`` streams,
    each taking the next video) and seal it once they are acknowledged, from ``sealers``
    clients, while the streams go on: a loader that seals each video as it ends, as a
    pipeline does. The ``ingest`` section (acknowledged segments over the wall time of the
    appends, seals running beside them) and the ``build`` section (from the first write
    to the last seal)."""
    began = time.perf_counter()
    videos = iter(_create_videos(client_factory, corpus))
    take = threading.Lock()
    finished: queue.Queue[str | None] = queue.Queue()
    acked = [0] * plan.streams
    seconds: list[float] = []
    failed = threading.Event()  # a stream or a sealer failed: the others stop at their next video

    def stream(i: int) -> None:
        with _failing(failed, "a stream"), client_factory() as client:
            while not failed.is_set():
                with take:
                    video = next(videos, None)
                if video is None:
                    return
                reply = client.stream_segments(COLLECTION, _batches(corpus, [video], plan.batch, i))
                acked[i] += int(reply.segment_count)
                finished.put(video[0])

    def sealer(_: int) -> None:
        with _failing(failed, "a sealer"), client_factory() as client:
            while (video_id := finished.get()) is not None and not failed.is_set():
                seconds.append(_timed_seal(client, video_id))

    with ThreadPoolExecutor(max(1, sealers)) as pool:
        sealing = [pool.submit(sealer, i) for i in range(max(1, sealers))]
        try:
            _in_threads(stream, plan.streams)
            appended = time.perf_counter() - began
        finally:  # the sealers stop after what is queued, whether the streams ended or failed
            for _ in sealing:
                finished.put(None)
        for future in sealing:
            future.result()
    ingest = _ingested(plan, len(corpus.video_ids), sum(acked), appended) | {"sealed_while_loading": True}
    build = _sealed(seconds, max(1, sealers), len(corpus), time.perf_counter() - began)
    return ingest, build | {"sealed_while_loading": True}


@contextmanager
def _failing(failed: threading.Event, who: str) -> Iterator[None]:
    """Set ``failed`` when the body raises (logged: of a stream's and a sealer's errors,
    only the first raised reaches the caller), and raise on."""
    try:
        yield
    except BaseException:
        failed.set()
        log.exception("%s of the load failed; the load stops", who)
        raise


def _create_videos(client_factory: Callable[[], StrataClient], corpus: Corpus) -> list[tuple[str, slice]]:
    """Create every video of the corpus (its duration known); its videos and their rows."""
    with client_factory() as client:
        for video_id, rows in corpus.video_slices():
            client.create_video(COLLECTION, video_id, duration_ms=(rows.stop - rows.start) * SEGMENT_MS)
    return list(corpus.video_slices())


def _ingested(plan: GrpcPlan, videos: int, total: int, seconds: float) -> dict[str, Any]:
    return {
        "segments": total,
        "videos": videos,
        "streams": plan.streams,
        "batch": plan.batch,
        "seconds": round(seconds, 2),
        "segments_per_s": round(total / seconds, 1),
    }


def _batches(
    corpus: Corpus, videos: list[tuple[str, slice]], size: int, stream: int
) -> Iterator[tuple[str, list[segment_pb2.Segment]]]:
    """``(request_id, segments)`` batches of the given videos; messages are built lazily,
    as a client reading its own source would."""
    for video_id, rows in videos:
        for lo in range(rows.start, rows.stop, size):
            hi = min(lo + size, rows.stop)
            yield f"s{stream}-{video_id}-{lo}", [_segment(corpus, video_id, r) for r in range(lo, hi)]


def _segment(corpus: Corpus, video_id: str, row: int) -> segment_pb2.Segment:
    start = int(corpus.start_ms[row])
    return segment_pb2.Segment(
        video_id=video_id,
        start_ms=start,
        end_ms=start + SEGMENT_MS,
        labels=[EVENTS[int(corpus.labels[row])]],
        vector=cv.to_proto_vector(corpus.vectors[row]),
    )


def seal_all(client_factory: Callable[[], StrataClient], corpus: Corpus, sealers: int = 2) -> dict[str, Any]:
    """Seal every video (each builds its tree and indexes its parents) from ``sealers``
    concurrent clients, each taking the next video not yet sealed."""
    videos = iter([video_id for video_id, _ in corpus.video_slices()])
    take = threading.Lock()
    seconds: list[float] = []

    def sealer(_: int) -> None:
        with client_factory() as client:
            while True:
                with take:
                    video_id = next(videos, None)
                if video_id is None:
                    return
                took = _timed_seal(client, video_id)
                with take:
                    seconds.append(took)
                    if len(seconds) % 50 == 0:
                        log.info("sealed %d videos, %.2f s each (median)", len(seconds), float(np.median(seconds)))

    began = time.perf_counter()
    _in_threads(sealer, max(1, sealers))
    return _sealed(seconds, max(1, sealers), len(corpus), time.perf_counter() - began)


def _timed_seal(client: StrataClient, video_id: str) -> float:
    began = time.perf_counter()
    client.seal_video(COLLECTION, video_id)
    return time.perf_counter() - began


def _sealed(seconds: list[float], sealers: int, segments: int, wall: float) -> dict[str, Any]:
    """The ``build`` section: ``seconds`` each seal took, ``wall`` the time they ran in."""
    per_video = np.asarray(seconds)
    return {
        "videos": len(seconds),
        "sealers": sealers,
        "segments_per_video": int(round(segments / max(1, len(seconds)))),
        "seconds": round(wall, 2),
        "per_video_p50_s": round(float(np.median(per_video)), 3),
        "per_video_max_s": round(float(per_video.max()), 3),
        # Wall time: with several sealers at once, a call's own time overstates the cost.
        "per_1000_videos_s": round(wall / max(1, len(seconds)) * 1000, 1),
    }


def _in_threads(work: Callable[[int], None], count: int) -> None:
    """Run ``work(0)`` … ``work(count - 1)`` on as many threads; once all have ended,
    raise the first error any of them met (in the order of their numbers)."""
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(work, i) for i in range(count)]
    for future in futures:  # the pool has waited for every one
        future.result()


def wait_searchable(client: StrataClient, timeout_s: float = 3600.0) -> dict[str, Any]:
    """Poll ``GetStats`` until every level's index holds every node; the counts then."""
    deadline = time.monotonic() + timeout_s
    while True:
        levels = level_counts(client)
        if all(c["indexed"] == c["nodes"] for c in levels.values()) or time.monotonic() > deadline:
            return levels
        time.sleep(0.05)


def wait_linked(client: StrataClient, timeout_s: float = 3600.0) -> dict[str, Any]:
    """Poll ``GetStats`` until no level has vectors waiting to join its HNSW graph."""
    deadline = time.monotonic() + timeout_s
    while True:
        levels = level_counts(client)
        if all(c["unlinked"] == 0 for c in levels.values()) or time.monotonic() > deadline:
            return levels
        time.sleep(0.05)


def level_counts(client: StrataClient, collection: str = COLLECTION) -> dict[str, dict[str, int]]:
    """``{level: {nodes, indexed, unlinked}}`` of a collection, from ``GetStats``."""
    stats = client.stats(collection)
    out = {}
    for coll in stats.collections:
        for lv in coll.levels:
            out[_level_name(lv.level)] = {
                "nodes": int(lv.node_count),
                "indexed": int(lv.indexed_count),
                "unlinked": int(lv.unlinked_count),
            }
    return out


def _level_name(value: int) -> str:
    from service.gen.strata.v1 import common_pb2

    return common_pb2.Level.Name(value).removeprefix("LEVEL_").lower()


def live_lag(client: StrataClient, dim: int, plan: GrpcPlan, seed: int, timeout_s: float = 10.0) -> dict[str, Any]:
    """Append small batches to an open video of a new match (vectors shaped like the
    corpus's); after each acknowledgement, search the segment level with the batch's first
    vector until that segment answers first, for at most ``timeout_s``. A batch whose
    segment never answers first counts as unfound, not as a lag."""
    vectors = generate(plan.live_samples * plan.live_batch, dim, seed=seed + 1, per_video=10**9).vectors
    video_id = "bench-live"
    client.create_video(COLLECTION, video_id, duration_ms=len(vectors) * SEGMENT_MS)
    # The server reads every level's spans and statistics ahead once writes have settled
    # for a second (hierarchy.warmer; a restart reads them before serving); a search
    # before that reads them itself. The first search comes 2 s after the load, timed on
    # its own.
    wait_s = warmer.QUIET_SECONDS + 1.0
    time.sleep(wait_s)
    began = time.perf_counter()
    client.search(COLLECTION, vector=vectors[0], level="segment", top_k=1)
    first_search_ms = (time.perf_counter() - began) * 1000
    lags, unfound = [], 0
    for sample in range(plan.live_samples):
        first = sample * plan.live_batch
        rows = [
            {"video_id": video_id, "start_ms": (first + j) * SEGMENT_MS, "end_ms": (first + j + 1) * SEGMENT_MS,
             "vector": vectors[first + j]}
            for j in range(plan.live_batch)
        ]  # fmt: skip
        reply = client.append_segments(COLLECTION, rows, request_id=f"live-{sample}")
        acked = time.perf_counter()
        want = reply.segment_ids[0]
        while client.search(COLLECTION, vector=vectors[first], level="segment", top_k=1).hits[0].node.id != want:
            if time.perf_counter() - acked > timeout_s:
                unfound += 1
                break
            time.sleep(0.001)
        else:
            lags.append(time.perf_counter() - acked)
    first = {"first_search_ms": round(first_search_ms, 1), "first_search_after_s": wait_s}
    return {**summarise(lags), "unfound": unfound, "timeout_s": timeout_s, **first}


def grpc_search(
    client_factory: Callable[[], StrataClient],
    collection: str,
    queries: list[Any],
    kind: str,
    clients: int,
) -> list[dict[str, Any]]:
    """Per level and AUTO: one client in sequence, then ``clients`` concurrent clients
    (``CONCURRENT_PASSES`` times through the queries)."""
    rows = []
    for level in SEARCH_LEVELS:
        with client_factory() as client:
            call = _search_call(client, collection, kind, level)
            single = summarise(timed_calls(call, queries))
        rows.append({"path": "grpc", "kind": kind, "level": level, "clients": 1, **single})
        many = concurrent_calls(
            lambda lv=level: _search_call(client_factory(), collection, kind, lv), queries, clients, CONCURRENT_PASSES
        )
        rows.append({"path": "grpc", "kind": kind, "level": level, **many})
    return rows


def _search_call(client: StrataClient, collection: str, kind: str, level: str) -> Callable[[Any], object]:
    if kind == "text":
        return lambda q: client.search(collection, text=q, level=level, top_k=10)
    return lambda q: client.search(collection, vector=q, level=level, top_k=10)


def text_collection(client: StrataClient, seed: int) -> list[str]:
    """A small collection embedded by the built-in encoder (one synthetic match), sealed;
    returns text queries for it."""
    from tools import soccer

    data = soccer.generate(matches=1, seed=seed, vectors="none")
    client.create_collection(TEXT_COLLECTION, text_encoder="default")
    video_id = data.segments[0]["video_id"]
    client.create_video(TEXT_COLLECTION, video_id, duration_ms=data.segments[0]["video_duration_ms"])
    rows = [{k: v for k, v in r.items() if k != "video_duration_ms"} for r in data.segments]
    for i in range(0, len(rows), 500):
        client.append_segments(TEXT_COLLECTION, rows[i : i + 500], request_id=f"text-{i}")
    client.seal_video(TEXT_COLLECTION, video_id)
    texts = [q["text"] for q in data.queries if q.get("text")]
    return list(itertools.islice(itertools.cycle(texts), 100))
