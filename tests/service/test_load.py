"""Concurrent readers and writers on a loopback server (appends, streams, deletes and
searches at once): no error, no lost write.

Run with ``-s`` to see the figures (calls, errors, throughput, latency).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from service.client import StrataClient
from tests.service.conftest import DIM, rows, start_server, unit_vectors

# (collection, video): two writers share collection "a"; "b" and "c" have one each.
WRITERS = [("a", "a-0"), ("a", "a-1"), ("b", "b-0"), ("c", "c-0")]
SEARCHERS = 4
BATCHES = 30  # per writer
BATCH_SIZE = 50
SEARCHES = 100  # per searcher
CHURN = 8  # videos created, filled, searched and deleted in collection "c" meanwhile


@dataclass
class Tally:
    """Calls, failures and latencies, shared by every thread."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, kind: str, call: Callable[[], object]) -> None:
        """Run one call and record its latency, or its error."""
        start = time.perf_counter()
        try:
            call()
        except Exception as exc:
            with self.lock:
                self.errors.append(f"{kind}: {exc}")
            return
        with self.lock:
            self.latencies.setdefault(kind, []).append(time.perf_counter() - start)


def writer_vectors(index: int) -> np.ndarray:
    """Every vector one writer sends, batch after batch."""
    return unit_vectors(BATCHES * BATCH_SIZE, seed=100 + index)


def write(client: StrataClient, tally: Tally, index: int) -> None:
    """One writer: its batches in order, every other one over a client stream."""
    collection, video = WRITERS[index]
    vectors = writer_vectors(index)
    for b in range(BATCHES):
        batch = rows(video, vectors[b * BATCH_SIZE : (b + 1) * BATCH_SIZE], start_index=b * BATCH_SIZE)
        rid = f"{video}-{b}"
        if b % 2:
            tally.timed("stream", lambda: client.stream_segments(collection, [(rid, batch)]))  # noqa: B023
        else:
            tally.timed("append", lambda: client.append_segments(collection, batch, request_id=rid))  # noqa: B023


def search(client: StrataClient, tally: Tally, index: int) -> None:
    """One searcher: vector searches over the collections being written, some routed."""
    rng = np.random.default_rng(index)
    for i in range(SEARCHES):
        collection = "abc"[i % 3]
        vector = rng.normal(size=DIM).astype(np.float32)
        level = "auto" if i % 4 == 0 else "segment"
        tally.timed("search", lambda: client.search(collection, vector=vector, level=level, top_k=10))  # noqa: B023


def churn(client: StrataClient, tally: Tally) -> None:
    """Videos that come and go in collection "c": searches must not trip over deletes."""
    for i in range(CHURN):
        video = f"churn-{i}"
        tally.timed("create", lambda: client.create_video("c", video))  # noqa: B023
        batch = rows(video, unit_vectors(BATCH_SIZE * 4, seed=1000 + i))
        tally.timed("append", lambda: client.append_segments("c", batch))  # noqa: B023
        tally.timed("delete", lambda: client.delete_video("c", video))  # noqa: B023


def listed_ids(client: StrataClient, collection: str) -> set[str]:
    """Every segment id of a collection, by paging one search over the whole level."""
    ids: list[str] = []
    token = ""
    while True:
        reply = client.search(collection, vector=np.ones(DIM), level="segment", top_k=1000, page_token=token)
        ids.extend(h.node.id for h in reply.hits)
        token = reply.next_page_token
        if not token:
            return set(ids)


def test_concurrent_readers_and_writers_lose_nothing(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data")
    try:
        with StrataClient(server.address, timeout=60) as client:
            for collection in "abc":
                client.create_collection(collection, dimension=DIM)
            for collection, video in WRITERS:
                client.create_video(collection, video)
            for seed, (collection, video) in enumerate(WRITERS[1:]):  # one segment each, so searches find something
                client.append_segments(collection, rows(video, unit_vectors(1, seed=seed), start_index=10**6))
            tally = Tally()
            threads = [threading.Thread(target=write, args=(client, tally, i)) for i in range(len(WRITERS))]
            threads += [threading.Thread(target=search, args=(client, tally, i)) for i in range(SEARCHERS)]
            threads.append(threading.Thread(target=churn, args=(client, tally)))
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            seconds = time.perf_counter() - began
            assert not tally.errors, tally.errors[:3]
            _assert_every_write_present(client)
        _report(tally, seconds)
    finally:
        server.stop(0)


def _assert_every_write_present(client: StrataClient) -> None:
    for collection in "abc":
        expected = {
            f"{video}@{i * 2000}" for c, video in WRITERS if c == collection for i in range(BATCHES * BATCH_SIZE)
        }
        found = listed_ids(client, collection)
        assert expected <= found and len(found) == len(expected) + 1  # + the first batch
        [stats] = client.stats(collection).collections
        [segments] = [lv for lv in stats.levels if lv.level == 1]
        assert segments.node_count == segments.indexed_count == len(found)
    for index, (collection, video) in enumerate(WRITERS):
        last = BATCHES * BATCH_SIZE - 1
        hit = client.search(collection, vector=writer_vectors(index)[last], level="segment", top_k=1).hits[0]
        assert hit.node.id == f"{video}@{last * 2000}"


def _report(tally: Tally, seconds: float) -> None:
    calls = sum(len(v) for v in tally.latencies.values())
    figures = {
        "calls": calls,
        "errors": len(tally.errors),
        "seconds": round(seconds, 2),
        "calls_per_second": round(calls / seconds, 1),
        "segments_per_second": round(len(WRITERS) * BATCHES * BATCH_SIZE / seconds, 1),
    }
    for kind, values in sorted(tally.latencies.items()):
        ms = np.array(values) * 1000
        figures[kind] = {
            "calls": len(values),
            "p50_ms": round(float(np.median(ms)), 1),
            "p99_ms": round(float(np.percentile(ms, 99)), 1),
        }
    print("\nload test:", json.dumps(figures))
