"""Crash test: kill -9 a real ``strata serve`` while it ingests, restart it, check.

    python -m tools.crashtest --kills 20 --seed 7 --data-dir /tmp/strata-crash

Each round starts the server on the same data directory and waits for health SERVING,
checks everything written so far, then runs two writers until the process is killed
with SIGKILL at a random moment:

- **live**: small atomic batches (``AppendSegments``), each spanning two videos;
- **bulk**: client streams (``StreamAppendSegments``) of several large batches.

A batch is *acknowledged* when its call returned OK; batches whose call was cut by the
kill are *in flight*. Half way, one restart is killed at once, while it still recovers
its indexes. After every restart the checks are:

- every acknowledged segment is in the store (paged searches over the segment level,
  video by video, list it), and the store and index counts agree;
- an in-flight batch is entirely present or entirely absent, and a stream's present
  batches are a prefix of the stream (batches commit in order);
- retrying an in-flight batch with its ``request_id`` answers ``replayed`` exactly when
  it was present, with the same segment ids, and a second retry writes nothing;
- sampled segments find themselves at rank 1 by their own vector.

At the end, top-10 recall against an exact numpy search over every acknowledged vector,
and the same answers again after the indexes are deleted and rebuilt from the store.
The figures print as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
import numpy as np

from hierarchy.searcher import MAX_RESULT_WINDOW
from service.client import StrataClient, StrataRpcError

ROOT = Path(__file__).resolve().parents[1]
COLLECTION = "crash"
DIM = 16
SEGMENT_MS = 1000
LISTING_WINDOW_MS = 5_000 * SEGMENT_MS  # at most ~5,000 segments of a video: under the window
LIVE_VIDEOS = ("live-0", "live-1", "live-2")
BULK_VIDEOS = ("bulk-0", "bulk-1")


class ServerProcess:
    """``strata serve`` in a subprocess on a free loopback port, over one data directory."""

    def __init__(self, data_dir: Path, log: IO[str] | None = None, command: list[str] | None = None) -> None:
        """``command`` replaces ``strata serve`` (it must print ``listening on HOST:PORT`` too)."""
        self.data_dir = data_dir
        self.log = log
        self.command = command or [sys.executable, "-m", "tools.cli", "serve", "--data-dir", str(data_dir)]
        self.proc: subprocess.Popen[str] | None = None
        self.address = ""
        self._lines: queue.Queue[str] = queue.Queue()

    def start(self, timeout: float = 60) -> str:
        """Start the server; returns ``host:port`` once it prints that it is bound."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
        self.proc = subprocess.Popen(
            [*self.command, "--port", "0", "--log-level", "WARNING"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log or subprocess.DEVNULL,
            text=True,
        )
        self._lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout, self._lines), daemon=True).start()
        first = self.next_line(timeout)
        if not first.startswith("listening on "):
            raise RuntimeError(f"the server did not start: it printed {first!r}, exit status {self.proc.poll()}")
        self.address = first.removeprefix("listening on ")
        return self.address

    def wait_serving(self, client: StrataClient, timeout: float = 60) -> float:
        """Poll health until SERVING; returns the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if client.health() == "SERVING":
                    return time.monotonic() - start
            except StrataRpcError as exc:
                if exc.code is not grpc.StatusCode.UNAVAILABLE:
                    raise
            time.sleep(0.02)
        raise TimeoutError(f"the server at {self.address} did not report SERVING within {timeout}s")

    def kill(self) -> None:
        """SIGKILL: no drain, no index save, no checkpoint."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM: drain, save the indexes, checkpoint; the exit status must be 0."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        if code != 0:
            raise RuntimeError(f"the server exited with status {code} on SIGTERM")

    def close(self) -> None:
        """Kill the process if it still runs (after a failed check, say)."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()

    def next_line(self, timeout: float = 60) -> str:
        """The next line the server prints."""
        try:
            return self._lines.get(timeout=timeout).strip()
        except queue.Empty:
            raise TimeoutError(f"the server printed nothing within {timeout}s") from None

    @staticmethod
    def _read(stream: IO[str], lines: queue.Queue[str]) -> None:
        for line in stream:
            lines.put(line)
        lines.put("")  # the process closed its output: it ended


@dataclass
class Batch:
    """One atomic batch as sent: its request id and rows in the ingest format."""

    request_id: str
    rows: list[dict[str, Any]]

    @property
    def ids(self) -> list[str]:
        """The segment ids the server gives these rows."""
        return [f"{r['video_id']}@{r['start_ms']}" for r in self.rows]

    @property
    def vectors(self) -> np.ndarray:
        """The rows' vectors, one per row."""
        return np.stack([r["vector"] for r in self.rows])


@dataclass
class Figures:
    """What a crash run did and checked."""

    kills: int = 0
    kills_during_recovery: int = 0
    batches_acked: int = 0
    batches_in_flight: int = 0
    in_flight_present: int = 0
    in_flight_absent: int = 0
    retries_replayed: int = 0
    segments_acked: int = 0
    segments_checked: int = 0
    rank1_checked: int = 0
    recall_at_10: float = 0.0
    recall_queries: int = 0
    max_seconds_to_serving: float = 0.0
    wall_seconds: float = 0.0


@dataclass
class Writer:
    """Makes the batches of one writer: its videos, their time cursors, its random stream."""

    name: str
    videos: tuple[str, ...]
    sizes: tuple[int, int]
    rng: np.random.Generator
    cursors: dict[str, int] = field(default_factory=dict)
    count: int = 0

    def batch(self) -> Batch:
        """The next batch: consecutive segments of two of its videos (or its only one)."""
        size = int(self.rng.integers(*self.sizes))
        chosen = self.rng.choice(len(self.videos), size=min(2, len(self.videos)), replace=False)
        rows = []
        for i in range(size):
            video = self.videos[chosen[i % len(chosen)]]
            start = self.cursors.get(video, 0)
            self.cursors[video] = start + SEGMENT_MS
            vector = self.rng.normal(size=DIM).astype(np.float32)
            rows.append({"video_id": video, "start_ms": start, "end_ms": start + SEGMENT_MS, "vector": vector})
        self.count += 1
        return Batch(f"{self.name}-{self.count}", rows)


@dataclass
class Call:
    """One call's batches: ``live`` (one unary append) or ``bulk`` (a client stream)."""

    kind: str
    batches: list[Batch]


class Ledger:
    """Acknowledged batches, and the calls a kill cut short."""

    def __init__(self) -> None:
        self.acked: list[Batch] = []
        self.cut: list[Call] = []
        self._lock = threading.Lock()

    def record(self, call: Call, ok: bool) -> None:
        """Record a call that returned OK (``ok``) or was cut by a kill."""
        with self._lock:
            if ok:
                self.acked.extend(call.batches)
            else:
                self.cut.append(call)

    def acked_ids(self) -> set[str]:
        """Ids of every acknowledged segment."""
        return {i for b in self.acked for i in b.ids}

    def acked_vectors(self) -> tuple[list[str], np.ndarray]:
        """Ids and vectors of every acknowledged segment, in one order."""
        return [i for b in self.acked for i in b.ids], np.vstack([b.vectors for b in self.acked])


def send(client: StrataClient, call: Call) -> Any:
    """Send a call's batches as it was first sent; returns the server's answer."""
    if call.kind == "live":
        [batch] = call.batches
        return client.append_segments(COLLECTION, batch.rows, request_id=batch.request_id)
    return client.stream_segments(COLLECTION, ((b.request_id, b.rows) for b in call.batches))


class Writers:
    """The live and bulk writers, run in threads until the server is killed under them."""

    def __init__(self, seed: int, ledger: Ledger) -> None:
        self.live = Writer("live", LIVE_VIDEOS, (5, 40), np.random.default_rng([seed, 1]))
        self.bulk = Writer("bulk", BULK_VIDEOS, (40, 160), np.random.default_rng([seed, 2]))
        self.ledger = ledger
        self.killed = threading.Event()
        self.errors: list[BaseException] = []

    def start(self, client: StrataClient) -> list[threading.Thread]:
        """Start both writers on ``client``."""
        self.killed.clear()
        threads = [threading.Thread(target=self._loop, args=(client, kind)) for kind in ("live", "bulk")]
        for thread in threads:
            thread.start()
        return threads

    def _next(self, kind: str) -> Call:
        if kind == "live":
            return Call(kind, [self.live.batch()])
        return Call(kind, [self.bulk.batch() for _ in range(int(self.bulk.rng.integers(2, 5)))])

    def _loop(self, client: StrataClient, kind: str) -> None:
        while True:
            call = self._next(kind)
            try:
                send(client, call)
            except BaseException as exc:
                # A failure after the kill is the kill's doing; before it, a broken promise.
                if self.killed.is_set():
                    self.ledger.record(call, ok=False)
                else:
                    self.errors.append(exc)
                return
            self.ledger.record(call, ok=True)


class CrashRun:
    """One crash run over a data directory; see the module docstring."""

    def __init__(self, data_dir: Path, seed: int, log: IO[str] | None = None) -> None:
        self.data_dir = data_dir
        self.server = ServerProcess(data_dir, log)
        self.rng = np.random.default_rng(seed)
        self.ledger = Ledger()
        self.writers = Writers(seed, self.ledger)
        self.figures = Figures()
        self.queries = self.rng.normal(size=(50, DIM)).astype(np.float32)  # for recall, before and after

    def run(self, kills: int, ingest_seconds: tuple[float, float] = (0.2, 0.8), sample: int = 100) -> Figures:
        """``kills`` rounds of ingest then SIGKILL, one more kill during the recovery half
        way, then the final checks; raises AssertionError at the first broken promise."""
        began = time.monotonic()
        try:
            self._run(kills, ingest_seconds, sample)
        finally:
            self.server.close()
        self.figures.segments_acked = len(self.ledger.acked_ids())
        self.figures.batches_acked = len(self.ledger.acked)
        self.figures.wall_seconds = round(time.monotonic() - began, 1)
        return self.figures

    def _run(self, kills: int, ingest_seconds: tuple[float, float], sample: int) -> None:
        client = self._start()
        client.create_collection(COLLECTION, dimension=DIM)
        for video in LIVE_VIDEOS + BULK_VIDEOS:
            client.create_video(COLLECTION, video)
        for round_no in range(kills):
            self._ingest(client, float(self.rng.uniform(*ingest_seconds)))
            client.close()
            if round_no == kills // 2:
                self._kill_during_recovery()
            client = self._start()
            self.check(client, sample if round_no == kills - 1 else sample // 5)
        answers = self.check_recall(client)
        client.close()
        self.server.stop()
        shutil.rmtree(self.data_dir / "indexes")  # the next start rebuilds them from the store
        client = self._start()
        rebuilt = self._answers(client)
        assert rebuilt == answers, "search answers changed once the indexes were rebuilt from the store"
        client.close()
        self.server.stop()

    def _start(self) -> StrataClient:
        self.server.start()
        client = StrataClient(self.server.address, timeout=60)
        waited = self.server.wait_serving(client)
        self.figures.max_seconds_to_serving = max(self.figures.max_seconds_to_serving, round(waited, 2))
        return client

    def _ingest(self, client: StrataClient, seconds: float) -> None:
        """Run both writers, SIGKILL the server after ``seconds``, wait for the writers."""
        threads = self.writers.start(client)
        time.sleep(seconds)
        self.writers.killed.set()
        self.server.kill()
        self.figures.kills += 1
        for thread in threads:
            thread.join(timeout=60)
        if self.writers.errors:
            raise AssertionError(f"a write failed while the server was up: {self.writers.errors[0]}")

    def _kill_during_recovery(self) -> None:
        """Start the server and SIGKILL it at once, while it recovers what the last kill left."""
        self.server.start()
        with StrataClient(self.server.address, timeout=10) as client:
            state = client.health()
        self.server.kill()
        self.figures.kills += 1
        self.figures.kills_during_recovery += state == "NOT_SERVING"

    # -- checks ---------------------------------------------------------------------------

    def check(self, client: StrataClient, sample: int) -> None:
        """The checks after a restart (module docstring); settles the calls cut short."""
        present = listed_segment_ids(client)
        missing = self.ledger.acked_ids() - present
        assert not missing, f"{len(missing)} acknowledged segments are gone, e.g. {sorted(missing)[:3]}"
        cut_ids = {i for call in self.ledger.cut for b in call.batches for i in b.ids}
        ghosts = present - self.ledger.acked_ids() - cut_ids
        assert not ghosts, f"segments nobody sent are present, e.g. {sorted(ghosts)[:3]}"
        settled = [b for call in self.ledger.cut for b in self._settle(client, call, present)]
        self.ledger.cut.clear()
        acked = self.ledger.acked_ids()
        self._check_counts(client, len(acked))
        self.figures.segments_checked += len(acked)
        self._check_rank1(client, settled, sample)

    def _settle(self, client: StrataClient, call: Call, present: set[str]) -> list[Batch]:
        """Check a cut call's batches are whole or absent, retry it twice, acknowledge it."""
        states = [_whole_or_absent(b, present) for b in call.batches]
        assert states == sorted(states, reverse=True), f"a stream's batches committed out of order: {states}"
        self.figures.batches_in_flight += len(states)
        self.figures.in_flight_present += sum(states)
        self.figures.in_flight_absent += len(states) - sum(states)
        first, again = send(client, call), send(client, call)
        if call.kind == "live":
            [batch] = call.batches
            assert (first.replayed, again.replayed) == (states[0], True), "a retry did not replay as it should"
            assert list(first.segment_ids) == list(again.segment_ids) == batch.ids
        else:
            absent = sum(len(b.rows) for b, whole in zip(call.batches, states, strict=True) if not whole)
            assert (first.segment_count, again.segment_count) == (absent, 0), "a stream retry wrote twice"
            assert first.batch_count == again.batch_count == len(states)
        self.figures.retries_replayed += sum(states) + len(states)
        self.ledger.record(call, ok=True)
        return call.batches

    def _check_counts(self, client: StrataClient, expected: int) -> None:
        [stats] = client.stats(COLLECTION).collections
        [segments] = [lv for lv in stats.levels if lv.level == 1]
        assert segments.node_count == segments.indexed_count == expected, (
            f"store {segments.node_count}, index {segments.indexed_count}, acknowledged {expected}"
        )

    def _check_rank1(self, client: StrataClient, settled: list[Batch], sample: int) -> None:
        ids, vectors = self.ledger.acked_vectors()
        chosen = list(self.rng.choice(len(ids), size=min(sample, len(ids)), replace=False))
        probes = [(ids[i], vectors[i]) for i in chosen]
        probes += [(b.ids[j], b.vectors[j]) for b in settled for j in range(min(3, len(b.rows)))]
        for node_id, vector in probes:
            hits = client.search(COLLECTION, vector=vector, level="segment", top_k=1).hits
            assert hits and hits[0].node.id == node_id, f"{node_id} does not find itself at rank 1"
        self.figures.rank1_checked += len(probes)

    def check_recall(self, client: StrataClient) -> list[list[str]]:
        """Top-10 recall against exact numpy search over every acknowledged vector; returns
        the server's answers."""
        ids, vectors = self.ledger.acked_vectors()
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        answers = self._answers(client)
        found = 0
        for query, answer in zip(self.queries, answers, strict=True):
            exact = {ids[i] for i in np.argsort(-(unit @ query))[:10]}
            found += len(exact & set(answer))
        self.figures.recall_at_10 = round(found / (10 * len(self.queries)), 4)
        self.figures.recall_queries = len(self.queries)
        return answers

    def _answers(self, client: StrataClient) -> list[list[str]]:
        return [
            [h.node.id for h in client.search(COLLECTION, vector=q, level="segment", top_k=10).hits]
            for q in self.queries
        ]


def _whole_or_absent(batch: Batch, present: set[str]) -> bool:
    """True when every segment of the batch is present, False when none is; else fail."""
    found = sum(i in present for i in batch.ids)
    assert found in (0, len(batch.ids)), f"batch {batch.request_id} is half written: {found} of {len(batch.ids)}"
    return found == len(batch.ids)


def listed_segment_ids(client: StrataClient) -> set[str]:
    """Every segment id a search over the segment level lists, video by video.

    A search serves its first ``MAX_RESULT_WINDOW`` answers, so a video with more segments
    is listed in time windows that each hold fewer."""
    ids: set[str] = set()
    for video in LIVE_VIDEOS + BULK_VIDEOS:
        start = 0
        while True:
            found = _paged_ids(client, video, (start, 0))  # from ``start`` to the end
            if len(found) < MAX_RESULT_WINDOW:
                ids.update(found)
                break
            ids.update(_paged_ids(client, video, (start, start + LISTING_WINDOW_MS)))
            start += LISTING_WINDOW_MS
    return ids


def _paged_ids(client: StrataClient, video: str, time_range: tuple[int, int]) -> list[str]:
    """The ids of one search over the segment level, every page of it."""
    probe = np.ones(DIM, np.float32)
    ids: list[str] = []
    token = ""
    while True:
        reply = client.search(
            COLLECTION,
            vector=probe,
            level="segment",
            top_k=1000,
            video_ids=[video],
            time_range=time_range,
            page_token=token,
        )
        ids.extend(h.node.id for h in reply.hits)
        token = reply.next_page_token
        if not token or len(ids) >= MAX_RESULT_WINDOW:  # no page may start past the window
            break
    assert len(ids) == len(set(ids)), "a segment was listed twice"
    return ids


def main(argv: list[str] | None = None) -> None:
    """Run a crash test and print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="An empty or missing directory.")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log", type=Path, help="Where the server's log goes (default: nowhere).")
    args = parser.parse_args(argv)
    if args.data_dir.exists() and any(args.data_dir.iterdir()):
        parser.error(f"{args.data_dir} is not empty")
    with args.log.open("a") if args.log else open(os.devnull, "w") as log:
        figures = CrashRun(args.data_dir, args.seed, log).run(args.kills)
    print(json.dumps(asdict(figures)))


if __name__ == "__main__":
    main()
