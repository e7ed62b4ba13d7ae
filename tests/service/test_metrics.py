"""Prometheus metrics: scraped over HTTP from a real server after real calls."""

from __future__ import annotations

import gc
import logging
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from hierarchy.types import Level
from service.client import StrataClient, StrataRpcError, segment_from_dict
from service.gen.strata.v1 import segment_pb2
from service.server import AccessLogInterceptor, StrataServer
from service.settings import Settings
from tests.service.conftest import rows, start_server, unit_vectors

APPEND = "/strata.v1.SegmentService/AppendSegments"
STREAM = "/strata.v1.SegmentService/StreamAppendSegments"
GET_COLLECTION = "/strata.v1.CollectionService/GetCollection"

Samples = dict[tuple[str, frozenset], float]


def scrape(server: StrataServer, query: str = "") -> Samples:
    """Every sample of the server's /metrics (``?query``: Prometheus' ``name[]`` filter),
    keyed by name and labels."""
    url = f"http://{server.settings.host}:{server.metrics_port}/metrics{query}"
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.fixture
def measured(tmp_path: Path) -> Iterator[StrataServer]:
    srv = start_server(tmp_path / "data", metrics_port=0)
    yield srv
    srv.stop(0)


@pytest.fixture
def busy(measured: StrataServer) -> StrataServer:
    """Collection ``c``: 50 segments, the same batch replayed, 20 streamed, one NOT_FOUND call."""
    with StrataClient(measured.address, timeout=30) as client:
        client.create_collection("c", dimension=16)
        client.create_video("c", "v1")
        client.append_segments("c", rows("v1", unit_vectors(50)), request_id="first")
        client.append_segments("c", rows("v1", unit_vectors(50)), request_id="first")  # replayed
        streamed = rows("v1", unit_vectors(20, seed=1), start_index=50)
        client.stream_segments("c", [("s1", streamed[:10]), ("s2", streamed[10:])])
        with pytest.raises(StrataRpcError):
            client.get_collection("missing")
        client.search("c", vector=unit_vectors(1)[0], level="segment", top_k=3)
    return measured


def test_calls_are_counted_by_method_and_code(busy: StrataServer) -> None:
    samples = scrape(busy)
    assert value(samples, "strata_requests_total", method=APPEND, code="OK") == 2
    assert value(samples, "strata_requests_total", method=STREAM, code="OK") == 1
    assert value(samples, "strata_requests_total", method=GET_COLLECTION, code="NOT_FOUND") == 1
    assert value(samples, "strata_request_duration_seconds_count", method=APPEND) == 2
    assert value(samples, "strata_request_duration_seconds_sum", method=APPEND) > 0
    assert value(samples, "strata_requests_in_flight", method=APPEND) == 0


def test_ingested_segments_exclude_replays(busy: StrataServer) -> None:
    assert value(scrape(busy), "strata_segments_ingested_total") == 70


def test_database_gauges_are_read_at_scrape_time(busy: StrataServer) -> None:
    samples = scrape(busy)
    assert value(samples, "strata_nodes", collection="c", level="segment") == 70
    assert value(samples, "strata_indexed_vectors", collection="c", level="segment") == 70
    assert value(samples, "strata_index_lag", collection="c", level="segment") == 0
    assert value(samples, "strata_videos", collection="c") == 1
    assert value(samples, "strata_disk_bytes") > 0
    assert value(samples, "strata_commit_sequence") == busy.db.commit_sequence()
    with StrataClient(busy.address) as client:
        client.seal_video("c", "v1")
    assert value(scrape(busy), "strata_nodes", collection="c", level="video") == 1


def test_a_scrape_may_ask_for_some_metrics_by_name(busy: StrataServer) -> None:
    """``name[]`` picks series by name (federation and debugging ask so), the database's
    gauges as much as the request counters."""
    samples = scrape(busy, "?name[]=strata_nodes&name[]=strata_requests_total")
    assert {name for name, _ in samples} == {"strata_nodes", "strata_requests_total"}
    assert value(samples, "strata_nodes", collection="c", level="segment") == 70


def test_resident_node_rows_and_store_reads_are_shown(busy: StrataServer) -> None:
    busy.db.node_cache.read_rows()
    samples = scrape(busy)
    assert value(samples, "strata_resident_nodes") == 70
    assert value(samples, "strata_resident_node_bytes") > 70 * 16  # ids, spans, labels and more per node
    reads = value(samples, "strata_node_store_reads_total")
    with StrataClient(busy.address) as client:
        client.append_segments("c", rows("v1", unit_vectors(5, seed=3), start_index=70))
        client.search("c", vector=unit_vectors(5, seed=3)[2], level="segment", top_k=1)  # written after the read
    assert value(scrape(busy), "strata_node_store_reads_total") == reads + 1


def test_the_scan_copies_memory_is_shown(busy: StrataServer) -> None:
    # The budget is the process's: copies of servers that earlier tests stopped count
    # until the collector frees them, which must not happen between the two scrapes.
    gc.collect()
    before = value(scrape(busy), "strata_scan_copy_bytes")
    with StrataClient(busy.address) as client:
        client.create_collection("small", dimension=16)
        client.create_video("small", "v1")
        client.append_segments("small", rows("v1", unit_vectors(5, seed=4)))
        client.search("small", vector=unit_vectors(5, seed=4)[0], level="segment", top_k=1)
    # Its segments scanned from a float32 copy: 16-d rows and their norms, room for 1,024.
    assert value(scrape(busy), "strata_scan_copy_bytes") >= before + 1024 * 17 * 4


def test_index_lag_shows_an_index_behind_the_store(busy: StrataServer) -> None:
    index = busy.db.indexes.find(busy.db.get_collection("c").id, Level.SEGMENT)
    index.watermark = 0
    assert value(scrape(busy), "strata_index_lag", collection="c", level="segment") == busy.db.commit_sequence()


def test_servers_in_one_process_keep_their_own_metrics(busy: StrataServer, tmp_path: Path) -> None:
    other = start_server(tmp_path / "other", metrics_port=0)
    try:
        assert other.metrics_port != busy.metrics_port
        samples = scrape(other)
        assert not any(name == "strata_requests_total" for name, _ in samples)
        assert not any(name == "strata_nodes" for name, _ in samples)
        assert value(scrape(busy), "strata_requests_total", method=APPEND, code="OK") == 2
    finally:
        other.stop(0)


def test_metrics_are_off_by_default(server: StrataServer) -> None:
    assert server.metrics is None and server.metrics_port is None


def test_the_endpoint_closes_with_the_server(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", metrics_port=0)
    port = srv.metrics_port
    srv.stop(0)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_a_refused_batch_counts_as_failed_and_ingests_nothing(measured: StrataServer) -> None:
    with StrataClient(measured.address) as client:
        client.create_collection("c", dimension=16)
        client.create_video("c", "v1")
        bad = rows("v1", np.full((2, 16), np.nan, np.float32))
        with pytest.raises(StrataRpcError):
            client.append_segments("c", bad)
    samples = scrape(measured)
    assert value(samples, "strata_requests_total", method=APPEND, code="INVALID_ARGUMENT") == 1
    assert value(samples, "strata_segments_ingested_total") == 0


def test_a_stream_the_client_cancels_counts_as_cancelled_not_internal(measured: StrataServer) -> None:
    # The client gives up mid-stream: one batch committed, the stream then waits for more.
    gate = threading.Event()

    def requests() -> Iterator[segment_pb2.StreamAppendSegmentsRequest]:
        batch = rows("v1", unit_vectors(5))
        yield segment_pb2.StreamAppendSegmentsRequest(
            batch=segment_pb2.AppendSegmentsRequest(
                collection="c", request_id="b1", segments=[segment_from_dict(r) for r in batch]
            )
        )
        gate.wait(10)

    with StrataClient(measured.address, timeout=30) as client:
        client.create_collection("c", dimension=16)
        client.create_video("c", "v1")
        future = client.segments.StreamAppendSegments.future(requests())
        deadline = time.monotonic() + 10
        while client.get_video("c", "v1").segment_count < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        future.cancel()
        gate.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            samples = scrape(measured)
            codes = {
                dict(labels)["code"]: count
                for (name, labels), count in samples.items()
                if name == "strata_requests_total" and dict(labels)["method"] == STREAM
            }
            if codes:
                break
            time.sleep(0.05)
        # The server reads the cancellation as a failed read (CANCELLED), or, when gRPC
        # delivers the end of the read before the cancellation itself, as the end of the
        # stream (OK: the batches read are committed). Never as a server fault.
        assert codes in ({"CANCELLED": 1.0}, {"OK": 1.0}), codes
        assert client.get_video("c", "v1").segment_count == 5  # the committed batch stays


def test_the_access_log_records_a_status_set_without_raising(
    server: StrataServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The health service answers an unknown service NOT_FOUND by setting the code, not by
    raising: the access line says NOT_FOUND, as the client sees it."""
    channel = grpc.insecure_channel(server.address)
    check = health_pb2_grpc.HealthStub(channel).Check
    with caplog.at_level(logging.INFO, logger="strata.access"):
        with pytest.raises(grpc.RpcError) as info:
            check(
                health_pb2.HealthCheckRequest(service="no.such.Service"),
                timeout=10,
                metadata=[("x-request-id", "probe-404")],
            )
    channel.close()
    assert info.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("probe-404")]
    assert lines and " NOT_FOUND " in lines[0]


def test_a_request_id_that_could_forge_a_log_line_is_replaced(
    server: StrataServer, caplog: pytest.LogCaptureFixture
) -> None:
    forged = "deadbeef0000 /strata.v1.AdminService/CreateSnapshot OK 3.1ms"
    channel = grpc.insecure_channel(server.address)
    check = health_pb2_grpc.HealthStub(channel).Check
    with caplog.at_level(logging.INFO, logger="strata.access"):
        for given in (forged, "x" * 7000):
            check(health_pb2.HealthCheckRequest(), timeout=10, metadata=[("x-request-id", given)])
    channel.close()
    lines = [r.getMessage() for r in caplog.records if "/grpc.health.v1.Health/Check" in r.getMessage()]
    assert len(lines) >= 2 and not any("CreateSnapshot" in line or "xxxx" in line for line in lines)
    assert all(len(line.split()[0]) == 12 for line in lines[-2:])  # an id of the server's own


def _slow_echo(seconds: float) -> grpc.GenericRpcHandler:
    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        time.sleep(seconds)  # past the caller's deadline, with no check of it on the way
        return request

    handler = grpc.unary_unary_rpc_method_handler(echo)
    return grpc.method_handlers_generic_handler("probe.Slow", {"Echo": handler})


def test_a_reply_finished_after_the_deadline_is_logged_as_the_caller_saw_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler that returns once its deadline has passed did not answer: the caller got
    DEADLINE_EXCEEDED, and the access log says so, not OK (the request counter reads the
    status from the same function)."""
    server = grpc.server(futures.ThreadPoolExecutor(2), interceptors=[AccessLogInterceptor()])
    server.add_generic_rpc_handlers([_slow_echo(0.5)])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with caplog.at_level(logging.INFO, logger="strata.access"):
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                echo = channel.unary_unary("/probe.Slow/Echo")
                assert echo(b"in time", timeout=5, metadata=[("x-request-id", "probe-fast")]) == b"in time"
                assert echo(b"no deadline", metadata=[("x-request-id", "probe-open")]) == b"no deadline"
                with pytest.raises(grpc.RpcError) as info:
                    echo(b"late", timeout=0.1, metadata=[("x-request-id", "probe-late")])
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
            time.sleep(0.8)  # the handler finishes after the caller gave up
        lines = {r.getMessage().split()[0]: r.getMessage().split()[2] for r in caplog.records}
    finally:
        server.stop(0)
    assert lines == {"probe-fast": "OK", "probe-open": "OK", "probe-late": "DEADLINE_EXCEEDED"}


def test_the_access_log_can_be_turned_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # One line per call (1.4 MB in 5 minutes of searching) with no way to leave them out
    # but a log level that hid every other INFO line too.
    assert Settings.load(env={"STRATA_ACCESS_LOG": "off"}).access_log is False
    quiet = start_server(tmp_path / "data", access_log=False)
    try:
        with caplog.at_level(logging.INFO, logger="strata.access"), StrataClient(quiet.address) as client:
            assert list(client.list_collections()) == []
        assert not [r for r in caplog.records if r.name == "strata.access"]
    finally:
        quiet.stop(0)
