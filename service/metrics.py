"""Prometheus metrics of one server, served over HTTP at ``/metrics``.

Per call (recorded by :class:`MetricsInterceptor`):

- ``strata_requests_total{method, code}``: finished calls by status code;
- ``strata_request_duration_seconds{method}``: latency histogram;
- ``strata_requests_in_flight{method}``: calls running now;
- ``strata_segments_ingested_total``: segments committed by acknowledged appends (replays
  excluded; a stream that fails part-way leaves its committed batches out).

Read from the database at scrape time (:class:`DatabaseCollector`):

- ``strata_nodes{collection, level}`` and ``strata_indexed_vectors{collection, level}``;
- ``strata_index_lag{collection, level}``: the store's highest sequence at that level
  minus the index's watermark (0 when the index has caught up);
- ``strata_videos{collection}``, ``strata_disk_bytes``, ``strata_commit_sequence``;
- ``strata_resident_nodes`` and ``strata_resident_node_bytes``: the nodes whose rows are
  held in memory and their size (``hierarchy.noderows``; 0 when turned off), and
  ``strata_node_store_reads_total``: nodes a search had to read from the store instead;
- ``strata_scan_copy_bytes``: the float32 copies small levels are scanned from, in the
  whole process (``hierarchy.scan``; at most ``STRATA_SCAN_MEMORY_MB``).

Each server has its own registry, so several servers in one process do not clash.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from hierarchy import scan
from hierarchy.db import Database
from service.gen.strata.v1 import segment_pb2

log = logging.getLogger(__name__)

_SEGMENTS = "/" + segment_pb2.DESCRIPTOR.services_by_name["SegmentService"].full_name
# Segments a successful response of each ingest RPC committed.
INGESTED: dict[str, Callable[[Any], int]] = {
    f"{_SEGMENTS}/AppendSegments": lambda reply: 0 if reply.replayed else len(reply.segment_ids),
    # A stream that fails part-way has committed its earlier batches, but its answer is an
    # error that carries no count: those segments go uncounted.
    f"{_SEGMENTS}/StreamAppendSegments": lambda reply: reply.segment_count,
}
# Latency buckets from a cached lookup (a millisecond) to a large batch or a snapshot.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class ServerMetrics:
    """The metrics of one server, in a registry of its own, and their HTTP endpoint."""

    def __init__(self, db: Database) -> None:
        # The database's gauges are named only when collected (describing them would query
        # the store at registration); without this flag a scrape that asks for some metrics
        # by name (?name[]=strata_nodes) never asked their collector.
        self.registry = CollectorRegistry(support_collectors_without_names=True)
        self.requests = Counter(
            "strata_requests", "Finished calls by method and status code.", ["method", "code"], registry=self.registry
        )
        self.latency = Histogram(
            "strata_request_duration_seconds",
            "Call latency by method.",
            ["method"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "strata_requests_in_flight", "Calls running now, by method.", ["method"], registry=self.registry
        )
        self.ingested = Counter(
            "strata_segments_ingested", "Segments committed by acknowledged appends.", registry=self.registry
        )
        self.registry.register(DatabaseCollector(db))
        self.interceptor = MetricsInterceptor(self)
        self._http: list[Any] = []

    def serve(self, hosts: list[str], port: int) -> int:
        """Serve ``/metrics`` on ``port`` (0: a free port) of each of ``hosts`` (as gRPC
        listens: ``localhost`` on 127.0.0.1 and ::1, where /metrics held 127.0.0.1 alone, and
        another process could take the other); returns the port bound. A host that cannot
        bind it is an OSError, and none is served."""
        try:
            for host in hosts:
                server, _ = start_http_server(port, addr=host.strip("[]"), registry=self.registry)
                self._http.append(server)
                port = int(server.server_port)  # the others take the port the first picked
        except OSError:
            self.stop()
            raise
        return port

    def stop(self) -> None:
        """Stop the HTTP endpoints (before the database closes under them)."""
        while self._http:
            server = self._http.pop()
            server.shutdown()
            server.server_close()


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts and times unary and client-streaming calls (every RPC of the Strata API)."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def intercept_service(self, continuation: Callable, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary:
            return handler._replace(unary_unary=self._measured(handler.unary_unary, method))
        if handler.stream_unary:
            return handler._replace(stream_unary=self._measured(handler.stream_unary, method))
        return handler

    def _measured(self, behaviour: Callable, method: str) -> Callable:
        m = self.metrics
        ingested = INGESTED.get(method)

        def wrapper(request: Any, context: grpc.ServicerContext) -> Any:
            start = time.perf_counter()
            code = "UNKNOWN"
            m.in_flight.labels(method).inc()
            try:
                reply = behaviour(request, context)
                code = returned_status(context)
                if ingested is not None and code == "OK":
                    m.ingested.inc(ingested(reply))
                return reply
            except Exception:
                code = status_name(context, "UNKNOWN")
                raise
            finally:
                m.in_flight.labels(method).dec()
                m.requests.labels(method, code).inc()
                m.latency.labels(method).observe(time.perf_counter() - start)

        return wrapper


def status_name(context: grpc.ServicerContext, default: str) -> str:
    """The status code a handler set (aborting sets it too), or ``default``."""
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else default


def returned_status(context: grpc.ServicerContext) -> str:
    """The status the caller sees of a handler that returned: the code it set, else OK,
    unless the call ended meanwhile. A deadline that passes after the last check of the
    search's budget (while the reply is built) still fails the call, and a client may
    hang up: gRPC then drops the reply, and the log and metrics must say so."""
    code = status_name(context, "OK")
    if code != "OK":
        return code
    if context.time_remaining() == 0:
        return "DEADLINE_EXCEEDED"
    return code if context.is_active() else "CANCELLED"


class DatabaseCollector:
    """Gauges read from the database at each scrape: sizes, index coverage and lag."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> list[Metric]:
        """Nothing up front: registering must not query the database."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The gauges, from :meth:`Database.stats` and :meth:`Database.index_lag`."""
        try:
            stats, lag = self.db.stats(), self.db.index_lag()
            disk, sequence = self.db.disk_bytes(), self.db.commit_sequence()
        except Exception as exc:  # a scrape must answer even when the store cannot
            log.warning("metrics: cannot read the database: %s", exc)
            return
        by_level = ["collection", "level"]
        nodes = GaugeMetricFamily("strata_nodes", "Nodes in the store.", labels=by_level)
        indexed = GaugeMetricFamily("strata_indexed_vectors", "Vectors in the level's index.", labels=by_level)
        behind = GaugeMetricFamily(
            "strata_index_lag", "Store's highest sequence minus the index's watermark.", labels=by_level
        )
        videos = GaugeMetricFamily("strata_videos", "Videos per collection.", labels=["collection"])
        for c in stats:
            videos.add_metric([c.name], c.video_count)
            for s in c.levels:
                labels = [c.name, s.level.label]
                nodes.add_metric(labels, s.node_count)
                indexed.add_metric(labels, s.indexed_count)
                behind.add_metric(labels, lag.get((c.name, s.level), 0))
        yield from (nodes, indexed, behind, videos)
        yield GaugeMetricFamily("strata_disk_bytes", "Bytes used by the data directory.", value=disk)
        yield GaugeMetricFamily("strata_commit_sequence", "Highest committed sequence.", value=sequence)
        yield from self._memory()

    def _memory(self) -> Iterator[Metric]:
        cache = self.db.node_cache
        held, size = (len(cache.rows), cache.rows.nbytes) if cache.rows is not None else (0, 0)
        yield GaugeMetricFamily("strata_resident_nodes", "Nodes whose rows are held in memory.", value=held)
        yield GaugeMetricFamily("strata_resident_node_bytes", "Bytes of the node rows held in memory.", value=size)
        yield CounterMetricFamily(
            "strata_node_store_reads", "Nodes searches read from the store (not held in memory).", value=cache.misses
        )
        yield GaugeMetricFamily(
            "strata_scan_copy_bytes",
            "Bytes of the float32 copies small levels are scanned from.",
            value=scan.BUDGET.held,
        )
