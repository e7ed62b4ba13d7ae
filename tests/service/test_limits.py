"""Configured limits over gRPC: each breach is refused with the field and the limit named,
nothing is written, and the server goes on serving."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from hierarchy import validate
from hierarchy.errors import InvalidArgument
from service.client import StrataClient, StrataRpcError
from service.errors import MAX_MESSAGE_CHARS
from service.gen.strata.v1 import graph_pb2, search_pb2, segment_pb2, segment_pb2_grpc, video_pb2
from service.server import StrataServer
from service.settings import Settings
from tests.service.conftest import DIM, rows, start_server, unit_vectors

LIMITS = {
    "max_message_mb": 1,
    "max_batch": 5,
    "max_top_k": 50,
    "max_page_size": 2,
    "max_query_chars": 20,
    "memory_limit": "300MB",
}
VIDEO = "v1"
HEAVY = "heavy"
PROBE = unit_vectors(1, seed=9)[0]


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataServer]:
    """A server with small limits; collection ``c`` holds three sealed videos."""
    server = start_server(tmp_path_factory.mktemp("limits") / "data", **LIMITS)
    with StrataClient(server.address) as client:
        client.create_collection("c", dimension=DIM)
        for n, video in enumerate([VIDEO, "v2", "v3"]):
            client.create_video("c", video)
            for first in range(0, 20, LIMITS["max_batch"]):
                vectors = unit_vectors(LIMITS["max_batch"], seed=10 * n + first)
                client.append_segments("c", rows(video, vectors, start_index=first))
            client.seal_video("c", video)
    yield server
    server.stop(0)


@pytest.fixture
def client(limited: StrataServer) -> Iterator[StrataClient]:
    with StrataClient(limited.address, timeout=30) as c:
        yield c


def refusal(call) -> StrataRpcError:
    with pytest.raises(StrataRpcError) as info:
        call()
    return info.value


def test_an_oversized_message_is_refused_by_grpc_and_the_server_goes_on(
    limited: StrataServer, client: StrataClient
) -> None:
    stats = client.channel.unary_unary("/strata.v1.AdminService/GetStats", request_serializer=None)
    too_big = b"\x0a" + b"\x81\x80\x40" + b"x" * (LIMITS["max_message_mb"] * 2**20 + 1)
    with pytest.raises(grpc.RpcError) as info:
        stats(too_big, timeout=30)
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert client.health() == "SERVING"
    assert client.stats().commit_sequence > 0


def test_a_batch_over_the_limit_is_refused_whole(client: StrataClient) -> None:
    before = client.get_video("c", VIDEO).segment_count
    client.reopen_video("c", VIDEO)
    try:
        batch = rows(VIDEO, unit_vectors(LIMITS["max_batch"] + 1, seed=99), start_index=1000)
        error = refusal(lambda: client.append_segments("c", batch))
    finally:
        client.seal_video("c", VIDEO)
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "segments" in error.fields and f"limit of {LIMITS['max_batch']}" in error.fields["segments"]
    assert client.get_video("c", VIDEO).segment_count == before


@pytest.mark.parametrize("rpc", ["search", "find_similar"])
def test_top_k_over_the_limit_names_the_field_and_the_limit(client: StrataClient, rpc: str) -> None:
    too_many = LIMITS["max_top_k"] + 1
    if rpc == "search":
        error = refusal(lambda: client.search("c", vector=PROBE, level="segment", top_k=too_many))
    else:
        error = refusal(lambda: client.find_similar("c", f"{VIDEO}@0", top_k=too_many))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert str(LIMITS["max_top_k"]) in error.fields["top_k"]
    assert len(client.search("c", vector=PROBE, level="segment", top_k=LIMITS["max_top_k"]).hits) == 50


def test_page_sizes_over_the_limit_are_capped(client: StrataClient) -> None:
    cap = LIMITS["max_page_size"]
    videos = client.videos.ListVideos(video_pb2.ListVideosRequest(collection="c", page_size=1000))
    kids = client.graph.ListChildren(
        graph_pb2.ListChildrenRequest(collection="c", node_id=f"{VIDEO}/video/0", page_size=1000)
    )
    assert len(videos.videos) == cap and videos.next_page_token
    assert len(kids.children) <= cap
    around = client.graph.GetNeighbors(
        graph_pb2.GetNeighborsRequest(collection="c", node_id=f"{VIDEO}@20000", before=1000, after=2**31 - 1)
    )
    assert (len(around.before), len(around.after)) == (cap, cap)  # a walk's side is a page
    assert [v.id for v in client.list_videos("c", page_size=1000)] == [VIDEO, "v2", "v3"]  # pages still end


def test_a_negative_page_size_is_refused(client: StrataClient) -> None:
    request = video_pb2.ListVideosRequest(collection="c", page_size=-1)
    error = refusal(lambda: client._call(client.videos.ListVideos, request))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT and "page_size" in error.fields


def test_a_query_text_over_the_limit_names_the_field_and_the_limit(client: StrataClient) -> None:
    text = "x" * (LIMITS["max_query_chars"] + 1)
    error = refusal(lambda: client.search("c", text=text, vector=PROBE))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert f"limited to {LIMITS['max_query_chars']}" in error.fields["text"]
    assert client.search("c", text="x" * LIMITS["max_query_chars"], vector=PROBE).hits


def test_a_segment_text_over_the_limit_is_refused(client: StrataClient) -> None:
    row = rows("v-none", unit_vectors(1))[0] | {"text": "y" * (validate.MAX_TEXT_CHARS + 1)}
    error = refusal(lambda: client.append_segments("c", [row]))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert str(validate.MAX_TEXT_CHARS) in error.fields["segments[0].text"]


def test_an_error_quoting_a_huge_value_stays_small(client: StrataClient) -> None:
    error = refusal(lambda: client.get_collection("n" * 100_000))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert len(error.message) <= MAX_MESSAGE_CHARS and error.message.endswith("(truncated)")


def test_a_search_past_its_deadline_answers_deadline_exceeded(limited: StrataServer, client: StrataClient) -> None:
    request = search_pb2.SearchRequest(collection="c", text="the first half", granularity=search_pb2.GRANULARITY_ALL)
    request.vector.data, request.vector.dimension = PROBE.astype("<f4").tobytes(), DIM
    with pytest.raises(grpc.RpcError) as info:
        client.searcher.Search(request, timeout=1e-6)
    assert info.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
    assert client.searcher.Search(request, timeout=30).hits  # and the same search with time answers


def test_the_duckdb_memory_limit_is_applied(limited: StrataServer) -> None:
    (value,) = limited.db.store.cursor().execute("SELECT current_setting('memory_limit')").fetchone()
    number, unit = re.fullmatch(r"([\d.]+)\s*(\w+)", value).groups()  # DuckDB reports e.g. "286.1 MiB"
    scale = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9}[unit]
    assert float(number) * scale == pytest.approx(300 * 10**6, rel=0.01)


def test_limits_come_from_the_environment() -> None:
    env = {f"STRATA_{name.upper()}": str(value) for name, value in LIMITS.items()}
    options = Settings.load(env=env).database_options()
    assert (options.max_batch, options.max_top_k, options.max_page_size, options.max_query_chars) == (5, 50, 2, 20)
    assert options.memory_limit == "300MB"
    assert Settings.load(env=env).max_message_mb == 1


@pytest.mark.parametrize("name", ["max_batch", "max_top_k", "max_page_size", "max_query_chars", "max_message_mb"])
def test_a_limit_below_one_is_refused_at_start(name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Settings.load(env={f"STRATA_{name.upper()}": "0"})
    assert info.value.field == f"STRATA_{name.upper()}"


def test_vectors_of_garbage_bytes_name_the_field(client: StrataClient) -> None:
    request = search_pb2.SearchRequest(collection="c", granularity=search_pb2.GRANULARITY_SEGMENT)
    request.vector.data, request.vector.dimension = b"\x00\x01\x02", DIM
    error = refusal(lambda: client._call(client.searcher.Search, request))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT and "vector.data" in error.fields
    request.vector.data = np.full(DIM, np.nan, "<f4").tobytes()
    assert "vector" in refusal(lambda: client._call(client.searcher.Search, request)).fields


@pytest.fixture(scope="module")
def heavy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrataClient]:
    """A client of a server sending at most 1 MB a message (list pages of the default
    size), whose collection ``heavy`` holds three sealed videos of 20 segments, each
    segment with 150 labels of 100 characters, none shared; the segments of ``x`` also
    hold 60,000 characters of text. Parents carry every label of their subtree: a video,
    half, drive or scene node is ~0.6 MB, a segment ~15 KB (~75 KB in ``x``)."""
    server = start_server(tmp_path_factory.mktemp("heavy") / "data", max_message_mb=1, max_batch=5)
    with StrataClient(server.address, timeout=30) as client:
        client.create_collection(HEAVY, dimension=DIM)
        for n, video in enumerate(["v", "w", "x"]):
            client.create_video(HEAVY, video)
            for first in range(0, 20, 5):
                batch = rows(video, unit_vectors(5, seed=500 + 50 * n + first), start_index=first)
                for i, row in enumerate(batch):
                    row["labels"] = [f"{video}{first + i:03d}-{j:03d}-".ljust(100, "x") for j in range(150)]
                    row["text"] = "t" * 60_000 if video == "x" else ""
                client.append_segments(HEAVY, batch)
            client.seal_video(HEAVY, video)
        yield client
    server.stop(0)


def test_an_answer_too_large_to_send_is_refused_before_it_is_built(heavy: StrataClient) -> None:
    """Ancestors of a video with many long labels make an answer larger than a message may
    be. It is refused naming top_k and what to leave off; the same search without ancestors
    answers."""
    error = refusal(lambda: heavy.search(HEAVY, vector=PROBE, level="segment", include_ancestors=True))
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "top_k" in error.fields
    assert "1 MB a message may hold" in error.message and "include_ancestors" in error.message
    assert len(heavy.search(HEAVY, vector=PROBE, level="segment").hits) == 10


def test_graph_answers_too_large_to_send_name_the_field_that_sets_their_size(heavy: StrataClient) -> None:
    assert [n.node.id for n in heavy.subtree(HEAVY, "v/scene/0", depth=0)][:2] == ["v/scene/0", "v@0"]
    error = refusal(lambda: heavy.subtree(HEAVY, "v/video/0", depth=4))
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED and "depth" in error.fields
    assert "smaller depth" in error.message
    error = refusal(lambda: heavy.find_similar(HEAVY, "v/video/0", top_k=2))
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED and "top_k" in error.fields
    assert len(heavy.find_similar(HEAVY, "v/video/0", top_k=1)) == 1
    error = refusal(lambda: heavy.ancestors(HEAVY, "v@0"))
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED and "node_id" in error.fields
    assert "ListChildren" in error.message
    assert [n.id for n in heavy.ancestors(HEAVY, "v/half/0")] == ["v/video/0"]
    assert heavy.health() == "SERVING"


def test_neighbours_count_both_sides_against_one_message(heavy: StrataClient) -> None:
    def neighbours(before: int, after: int, node: str = "x@20000") -> graph_pb2.GetNeighborsResponse:
        request = graph_pb2.GetNeighborsRequest(collection=HEAVY, node_id=node, before=before, after=after)
        return heavy._call(heavy.graph.GetNeighbors, request)

    answer = neighbours(10, 1)  # 11 segments of ~75 KB
    assert len(answer.before) == 10 and len(answer.after) == 1
    assert len(neighbours(1, 9).after) == 9
    assert "after" in refusal(lambda: neighbours(10, 9)).fields  # the after side passes 1 MB
    error = refusal(lambda: neighbours(19, 1, "x@38000"))  # the before side alone does
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED and "before" in error.fields


def test_a_page_of_videos_larger_than_a_message_is_cut_short_not_refused(heavy: StrataClient) -> None:
    """Videos with large attributes: a page of 1,000 would pass the 1 MB a message may hold.
    The page is cut where it fits and its token continues: every video is listed once."""
    heavy.create_collection("attrs", dimension=DIM)
    for n in range(150):
        heavy.create_video("attrs", f"m{n:03d}", attributes={"notes": f"{n:03d}".ljust(9_000, "x")})
    listed = [v.id for v in heavy.list_videos("attrs", page_size=1000)]
    assert listed == [f"m{n:03d}" for n in range(150)]


def test_idle_streams_cannot_take_the_threads_other_calls_need(tmp_path: Path) -> None:
    """Streams that send nothing held a call thread each: as many as STRATA_WORKERS
    stalled every other call, health checks too. A quarter of them is kept from streams."""
    srv = start_server(tmp_path / "data", workers=4)  # at most three streams
    release = threading.Event()

    def idle() -> Iterator[segment_pb2.StreamAppendSegmentsRequest]:
        release.wait(30)
        yield from ()

    channel = grpc.insecure_channel(srv.address)
    stream = segment_pb2_grpc.SegmentServiceStub(channel).StreamAppendSegments
    try:
        held = [stream.future(idle(), timeout=60) for _ in range(3)]
        time.sleep(0.5)  # all taken by the server
        with pytest.raises(grpc.RpcError) as info:
            stream(idle(), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # type: ignore[attr-defined]
        assert "3 streams are open" in info.value.details()  # type: ignore[attr-defined]
        with StrataClient(srv.address, timeout=10) as client:
            assert client.health() == "SERVING" and list(client.list_collections()) == []
        release.set()
        assert all(h.result(timeout=30).batch_count == 0 for h in held)
        assert stream(iter(()), timeout=10).batch_count == 0  # a stream again once they ended
    finally:
        release.set()
        channel.close()
        srv.stop(0)
