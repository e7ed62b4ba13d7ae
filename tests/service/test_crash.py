"""Crashes and recovery: kill -9 of a real server during ingest and during a tree rebuild,
health while recovering, and health once the store fails.

Run with ``-s`` to see the one-line figures of each crash test.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import grpc
import pytest

from hierarchy import searcher
from hierarchy.db import Database
from hierarchy.errors import Unavailable
from service.client import StrataClient, StrataRpcError
from service.gen.strata.v1 import hierarchy_pb2, video_pb2
from service.readiness import RECOVERING
from service.server import StrataServer, create_server
from service.settings import Settings
from tests.service.conftest import DIM, rows, start_server, unit_vectors
from tools import crashtest
from tools.crashtest import CrashRun, ServerProcess
from tools.soccer import generate

# -- kill -9 during ingest -----------------------------------------------------------------


def test_kill_9_during_ingest_loses_no_acknowledged_segment(tmp_path: Path) -> None:
    with (tmp_path / "server.log").open("w") as log:
        figures = CrashRun(tmp_path / "data", seed=11, log=log).run(kills=4)
    print("\ncrash test (ingest):", json.dumps(asdict(figures)))
    assert figures.kills == 5  # four during ingest, one during a recovery
    assert figures.batches_in_flight >= 1 and figures.in_flight_present + figures.in_flight_absent >= 1
    assert figures.recall_at_10 >= 0.99  # exact search over f16 vectors against float32 numpy


# -- kill -9 during a tree rebuild ---------------------------------------------------------


Tree = list[tuple[str, int, int, int, str, int]]


def tree(client: StrataClient, collection: str, video_id: str) -> Tree:
    """Every node of a video's tree: id, level, span, parent and child count."""
    nodes = client.subtree(collection, f"{video_id}/video/0", depth=4)
    return sorted(
        (n.node.id, n.node.level, n.node.start_ms, n.node.end_ms, n.node.parent_id, n.node.child_count) for n in nodes
    )


def assert_indexes_match_store(client: StrataClient, collection: str) -> None:
    [stats] = client.stats(collection).collections
    for level in stats.levels:
        assert level.node_count == level.indexed_count, level


def rebuild(client: StrataClient, collection: str, video_id: str, penalty: float) -> hierarchy_pb2.Operation:
    """Start rebuilding one video's tree with another scene penalty."""
    return client.build_hierarchy(collection, [video_id], scene_penalty=penalty)


@pytest.fixture
def process(tmp_path: Path) -> Iterator[ServerProcess]:
    with (tmp_path / "server.log").open("w") as log:
        server = ServerProcess(tmp_path / "data", log)
        yield server
        server.close()
    # Shown with a failing test's captured output: what the server said before it failed.
    print(f"server log:\n{(tmp_path / 'server.log').read_text()[-4000:]}")


def served(process: ServerProcess) -> StrataClient:
    """Start the process and return a client once it reports SERVING."""
    process.start()
    client = StrataClient(process.address, timeout=60)
    process.wait_serving(client)
    return client


def test_kill_9_during_rebuild_leaves_the_old_tree_or_the_new_one(process: ServerProcess) -> None:
    match = generate(1, seed=3, vectors="random", dim=DIM)
    video_id = match.truth["matches"][0]["video_id"]
    penalties = {"old": 1.0, "new": 8.0}
    client = served(process)
    for name, penalty in [("subject", penalties["old"]), ("reference", penalties["new"])]:
        client.create_collection(name, dimension=DIM, hierarchy={"scene_penalty": penalty})
        client.create_video(name, video_id)
        client.append_segments(name, match.segments)
        client.seal_video(name, video_id)
    trees = {"old": tree(client, "subject", video_id), "new": tree(client, "reference", video_id)}
    assert trees["old"] != trees["new"]
    began = time.monotonic()
    client.wait_operation(rebuild(client, "reference", video_id, penalties["new"]).name, poll=0.01)
    build_seconds = time.monotonic() - began
    current, outcomes = "old", []
    # Kill at once (before the commit), after about a warm build's time (either side of the
    # commit: a build after a restart is slower), and once the build is done.
    for fraction in (0.0, 1.0, None):
        target = "new" if current == "old" else "old"
        operation = rebuild(client, "subject", video_id, penalties[target])
        if fraction is None:
            client.wait_operation(operation.name, poll=0.01)
        time.sleep((fraction or 0.0) * build_seconds)
        process.kill()
        client.close()
        client = served(process)
        found = tree(client, "subject", video_id)
        assert found in (trees["old"], trees["new"]), "the tree is neither the old one nor the new one"
        current = "old" if found == trees["old"] else "new"
        outcomes.append("rebuilt" if current == target else "unchanged")
        assert_indexes_match_store(client, "subject")
        assert client.get_video("subject", video_id).state == video_pb2.VIDEO_STATE_SEALED
    assert outcomes[-1] == "rebuilt"
    target = "new" if current == "old" else "old"
    client.wait_operation(rebuild(client, "subject", video_id, penalties[target]).name, poll=0.01)
    assert tree(client, "subject", video_id) == trees[target]  # running it again finishes the job
    client.close()
    process.stop()
    print(f"\ncrash test (rebuild): {len(outcomes)} kills in a {build_seconds:.2f}s build; trees after: {outcomes}")


# -- kill -9 the moment a seal or a reopen is acknowledged ----------------------------------

LEVEL_NAMES = {1: "segment", 2: "scene", 3: "drive", 4: "half", 5: "video"}
SEALED, OPEN = video_pb2.VIDEO_STATE_SEALED, video_pb2.VIDEO_STATE_OPEN


def assert_found_at_every_level(client: StrataClient, collection: str, video_id: str, nodes: Tree) -> None:
    """Every node of a video's tree is answered by a search of its level asking for the
    whole level, and a search of its level filtered to the video answers only its nodes."""
    [stats] = client.stats(collection).collections
    counts = {level.level: level.node_count for level in stats.levels}
    probe = unit_vectors(1, seed=77)[0]
    by_level: dict[int, set[str]] = {}
    for node_id, level, *_ in nodes:
        by_level.setdefault(level, set()).add(node_id)
    assert set(by_level) == set(LEVEL_NAMES)
    for level, ids in by_level.items():
        every = client.search(collection, vector=probe, level=LEVEL_NAMES[level], top_k=counts[level])
        assert ids <= {hit.node.id for hit in every.hits}, LEVEL_NAMES[level]
        mine = client.search(collection, vector=probe, level=LEVEL_NAMES[level], top_k=1000, video_ids=[video_id])
        assert {hit.node.id for hit in mine.hits} == ids, LEVEL_NAMES[level]


def assert_appends(client: StrataClient, collection: str, video_id: str, batch: list[dict], taken: bool) -> None:
    """An append to the video is taken (it is open) or refused as to a sealed video."""
    if taken:
        client.append_segments(collection, batch)
        return
    with pytest.raises(StrataRpcError) as refused:
        client.append_segments(collection, batch)
    assert refused.value.code is grpc.StatusCode.FAILED_PRECONDITION and "is sealed" in refused.value.message


def test_kill_9_right_after_an_acknowledged_seal_or_reopen_keeps_it(process: ServerProcess) -> None:
    """A seal commits its tree, hints and state in one transaction and a reopen its state,
    both before they answer: a kill -9 the moment the answer arrives loses neither. A
    reference collection, given the same writes with no kill, holds the trees expected."""
    video_id, first, more = "match", unit_vectors(160, seed=21), unit_vectors(40, seed=22)
    client = served(process)
    for name in ("reference", "subject"):
        client.create_collection(name, dimension=DIM)
        client.create_video(name, video_id)
        client.append_segments(name, rows(video_id, first))
    client.seal_video("reference", video_id)
    expected = tree(client, "reference", video_id)
    client.close()
    process.stop()  # the indexes saved before the seal: the restart loads files that predate it
    client = served(process)
    client.seal_video("subject", video_id)
    process.kill()
    client.close()
    client = served(process)
    sealed = client.get_video("subject", video_id)
    assert sealed.state == SEALED and sealed.hints == client.get_video("reference", video_id).hints
    assert tree(client, "subject", video_id) == expected
    assert_indexes_match_store(client, "subject")
    assert_found_at_every_level(client, "subject", video_id, expected)
    assert_appends(client, "subject", video_id, rows(video_id, more, start_index=len(first)), taken=False)

    client.reopen_video("subject", video_id)
    process.kill()
    client.close()
    client = served(process)
    assert client.get_video("subject", video_id).state == OPEN
    assert tree(client, "subject", video_id) == expected  # a reopen keeps the tree until the next seal
    assert_indexes_match_store(client, "subject")
    assert_found_at_every_level(client, "subject", video_id, expected)
    for name in ("subject", "reference"):
        if name == "reference":
            client.reopen_video(name, video_id)
        assert_appends(client, name, video_id, rows(video_id, more, start_index=len(first)), taken=True)
    client.seal_video("reference", video_id)
    resealed = tree(client, "reference", video_id)
    assert resealed != expected

    # Sealed again over the saved indexes of the old tree (the restarts saved them).
    client.seal_video("subject", video_id)
    process.kill()
    client.close()
    client = served(process)
    assert client.get_video("subject", video_id).state == SEALED
    assert tree(client, "subject", video_id) == resealed
    assert_indexes_match_store(client, "subject")  # the old tree's parents left the loaded indexes
    assert_found_at_every_level(client, "subject", video_id, resealed)
    assert client.get_collection("subject").segment_count == len(first) + len(more)
    assert list(client.verify("subject").problems) == []
    client.close()
    process.stop()


# -- health while recovering ---------------------------------------------------------------


@pytest.fixture
def recovering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[StrataServer, threading.Event]]:
    """A server over a directory with data whose recovery waits until the event is set."""
    first = start_server(tmp_path / "data")
    with StrataClient(first.address) as client:
        client.create_collection("c", dimension=DIM)
        client.create_video("c", "v1")
        client.append_segments("c", rows("v1", unit_vectors(20)))
    first.stop(0)
    release = threading.Event()
    real_recover = Database.recover

    def slow_recover(db: Database) -> None:
        release.wait(30)
        real_recover(db)

    monkeypatch.setattr(Database, "recover", slow_recover)
    server = create_server(Settings.load(env={}, data_dir=tmp_path / "data", port=0)).start(wait=False)
    yield server, release
    release.set()
    server.stop(0)


def test_health_is_not_serving_and_calls_unavailable_while_recovering(
    recovering: tuple[StrataServer, threading.Event],
) -> None:
    server, release = recovering
    with StrataClient(server.address, timeout=10) as client:
        assert client.health() == client.health("strata.v1.SearchService") == "NOT_SERVING"
        with pytest.raises(StrataRpcError) as err:
            client.get_collection("c")
        assert err.value.code is grpc.StatusCode.UNAVAILABLE and err.value.message == RECOVERING
        with pytest.raises(StrataRpcError) as err:
            client.stream_segments("c", [("r1", rows("v1", unit_vectors(1, seed=1), start_index=20))])
        assert err.value.code is grpc.StatusCode.UNAVAILABLE
        assert server.wait_ready(timeout=0.1) is False
        release.set()
        assert server.wait_ready(timeout=30) is True
        assert client.health() == client.health("strata.v1.SearchService") == "SERVING"
        assert client.get_collection("c").segment_count == 20


def test_a_batch_sent_with_retries_waits_out_a_recovery(recovering: tuple[StrataServer, threading.Event]) -> None:
    """Sent once, a batch is UNAVAILABLE while the server recovers (as above); with
    retries it is sent again until the server serves, and stored once."""
    server, release = recovering
    threading.Timer(0.7, release.set).start()
    with StrataClient(server.address, timeout=10) as client:
        reply = client.append_segments("c", rows("v1", unit_vectors(1, seed=1), start_index=20), retries=5)
        assert not reply.replayed and client.get_collection("c").segment_count == 21


def test_a_client_with_retries_waits_out_a_recovery_for_reads_not_writes(
    recovering: tuple[StrataServer, threading.Event],
) -> None:
    """Reads are sent again after UNAVAILABLE (gRPC's retry policy); a write is not (it
    has its own retries, under one request id)."""
    server, release = recovering
    with StrataClient(server.address, timeout=10, retries=4) as client:
        with pytest.raises(StrataRpcError) as err:  # a write: refused at once, as without retries
            client.append_segments("c", rows("v1", unit_vectors(1, seed=1), start_index=20))
        assert err.value.code is grpc.StatusCode.UNAVAILABLE
        threading.Timer(0.3, release.set).start()
        began = time.monotonic()
        assert client.get_collection("c").segment_count == 20  # UNAVAILABLE, then sent again
        assert time.monotonic() - began >= 0.2


@pytest.mark.parametrize(("retries", "error"), [(5, ValueError), (-1, ValueError), (1.5, TypeError)])
def test_retries_past_what_grpc_sends_are_refused_as_the_client_is_made(retries: object, error: type) -> None:
    with pytest.raises(error, match="retries"):
        StrataClient("localhost:1", retries=retries)  # type: ignore[arg-type]


def test_failed_recovery_stays_not_serving_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(db: Database) -> None:
        raise Unavailable("the store is unreadable")

    monkeypatch.setattr(Database, "recover", broken)
    settings = Settings.load(env={}, data_dir=tmp_path / "data", port=0)
    server = create_server(settings).start(wait=False)
    try:
        with pytest.raises(Unavailable):
            server.wait_ready(timeout=30)
        with StrataClient(server.address, timeout=10) as client:
            assert client.health() == "NOT_SERVING"
            with pytest.raises(StrataRpcError) as err:
                next(client.list_collections())
            assert err.value.code is grpc.StatusCode.UNAVAILABLE and "the store is unreadable" in err.value.message
    finally:
        server.stop(0)
    with pytest.raises(Unavailable):  # start() waits by default: it stops the server and raises
        create_server(settings).start()
    Database.open(tmp_path / "data", recover=False).close()  # the directory was released both times


def test_serve_prints_listening_then_ready(process: ServerProcess) -> None:
    process.start()
    assert process.next_line() == "ready"
    with StrataClient(process.address) as client:
        assert client.health() == "SERVING"
    process.stop()


# -- a fatal store error -------------------------------------------------------------------

# A server whose files may not grow past a limit (as on a full disk), with a low DuckDB
# checkpoint threshold so that a checkpoint, rather than a log write, meets the limit.
# DuckDB invalidates the database when a checkpoint fails half way.
FILE_LIMITED_SERVER = """
import resource, sys, threading
from pathlib import Path
from hierarchy.types import EmbeddingSpace
from service.server import create_server
from service.settings import Settings

data_dir = Path(sys.argv[1])
server = create_server(Settings.load(env={}, data_dir=data_dir, port=0)).start()
server.db.create_collection("c", EmbeddingSpace(int(sys.argv[2])))
server.db.create_video("c", "v1")
server.db.store.cursor().execute("SET checkpoint_threshold = '64KB'")
server.db.store.checkpoint()
limit = (data_dir / "strata.duckdb").stat().st_size + 2_000_000
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
print(f"listening on {server.address}", flush=True)
threading.Event().wait()
"""


def test_fatal_store_error_turns_health_not_serving(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with (tmp_path / "server.log").open("w") as log:
        limited = ServerProcess(
            data_dir, log, command=[sys.executable, "-c", FILE_LIMITED_SERVER, str(data_dir), str(DIM)]
        )
        restarted = ServerProcess(data_dir, log)
        try:
            with served(limited) as client:
                acked, failure = _append_until_failure(client)
                assert acked > 0
                assert failure.code is grpc.StatusCode.UNAVAILABLE and "the store failed" in failure.message
                assert client.health() == "NOT_SERVING"
                with pytest.raises(StrataRpcError) as err:
                    client.get_collection("c")
                assert err.value.code is grpc.StatusCode.UNAVAILABLE
            limited.kill()  # a clean stop would checkpoint into the full disk again
            with served(restarted) as client:
                count = client.get_collection("c").segment_count
            restarted.stop()
        finally:
            limited.close()
            restarted.close()
    assert count in (acked, acked + 200)  # the failed batch: whole or absent
    print(f"\nfatal store error after {acked} acknowledged segments; {count} present after restart")


def _append_until_failure(client: StrataClient) -> tuple[int, StrataRpcError]:
    for i in range(500):
        try:
            client.append_segments("c", rows("v1", unit_vectors(200, seed=i), start_index=200 * i))
        except StrataRpcError as exc:
            return 200 * i, exc
    raise AssertionError("the store never met its file size limit")


def test_the_crash_listing_reaches_past_the_result_window(
    client: StrataClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A search serves its first MAX_RESULT_WINDOW answers; the crash test's listing of
    # every segment must not stop there (it once reported 713 of 11,713 segments gone).
    monkeypatch.setattr(searcher, "MAX_RESULT_WINDOW", 100)
    monkeypatch.setattr(crashtest, "MAX_RESULT_WINDOW", 100)
    monkeypatch.setattr(crashtest, "LISTING_WINDOW_MS", 60 * crashtest.SEGMENT_MS)
    client.create_collection(crashtest.COLLECTION, dimension=crashtest.DIM)
    expected = set()
    for n, video in enumerate(crashtest.BULK_VIDEOS):
        client.create_video(crashtest.COLLECTION, video)
        batch = [
            {"video_id": video, "start_ms": i * 1000, "end_ms": (i + 1) * 1000, "vector": v}
            for i, v in enumerate(unit_vectors(250 + n, seed=n, dim=crashtest.DIM))
        ]
        expected |= set(client.append_segments(crashtest.COLLECTION, batch).segment_ids)
    assert len(expected) == 501
    assert crashtest.listed_segment_ids(client) == expected
