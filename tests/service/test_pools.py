"""Thread pools of the server: searches run on their own pool, so streams that hold
every worker of the server's pool do not hold searches up, and the other way round."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.client import StrataClient, StrataRpcError
from service.server import StrataServer
from tests.service.conftest import DIM, rows, start_server, unit_vectors


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[StrataServer]:
    srv = start_server(tmp_path / "data", workers=2, search_workers=1)
    yield srv
    srv.stop(0)


def _held_stream(client: StrataClient, video: str, release: threading.Event, sent: threading.Event) -> None:
    """A client stream that sends one batch, then waits for ``release`` before ending."""

    def batches() -> Iterator[tuple[str, list[dict]]]:
        yield f"{video}-0", rows(video, unit_vectors(5, seed=len(video)))
        sent.set()
        release.wait(30)

    client.stream_segments("c", batches())


def test_a_search_answers_while_streams_hold_every_server_worker(small_server: StrataServer) -> None:
    threads_seen: list[str] = []
    search = small_server.db.search

    def recording_search(*args: object, **kwargs: object) -> object:
        threads_seen.append(threading.current_thread().name)
        return search(*args, **kwargs)  # type: ignore[arg-type]

    small_server.db.search = recording_search  # type: ignore[method-assign]
    release = threading.Event()
    with StrataClient(small_server.address, timeout=30) as client:
        client.create_collection("c", dimension=DIM)
        for video in ("v0", "v1", "v2"):
            client.create_video("c", video)
        client.append_segments("c", rows("v0", unit_vectors(10)))
        sent = [threading.Event(), threading.Event()]
        streams = [
            threading.Thread(target=_held_stream, args=(client, video, release, done))
            for video, done in zip(("v1", "v2"), sent, strict=True)
        ]
        for t in streams:
            t.start()
        try:
            assert all(done.wait(10) for done in sent)
            with StrataClient(small_server.address, timeout=5) as searcher:
                # Once both streams' first batches are searchable, both workers of the
                # server's pool wait inside a stream for the next message.
                probe = unit_vectors(1, seed=2)[0]
                deadline = time.monotonic() + 10
                while len(searcher.search("c", vector=probe, level="segment", video_ids=["v1", "v2"]).hits) < 10:
                    assert time.monotonic() < deadline, "the streams' first batches never became searchable"
                    time.sleep(0.05)
                found = searcher.search("c", vector=probe, level="segment", top_k=3, video_ids=["v0"])
            assert len(found.hits) == 3
            with pytest.raises(StrataRpcError) as info:  # any other call waits for a worker
                with StrataClient(small_server.address, timeout=1) as other:
                    other.get_collection("c")
            assert info.value.code.name == "DEADLINE_EXCEEDED"
        finally:
            release.set()
            for t in streams:
                t.join(30)
    assert threads_seen and all(name.startswith("strata-search") for name in threads_seen)
