"""The Python client SDK for Strata.

>>> with StrataClient("localhost:50051") as client:
...     client.create_collection("games", text_encoder="default")
...     client.create_video("games", "match-1", duration_ms=5_400_000)
...     client.append_segments("games", [{"video_id": "match-1", "start_ms": 0, "end_ms": 2000,
...                                       "text": "kick-off"}])
...     hits = client.search("games", "kick-off").hits

Failed calls raise :class:`StrataRpcError`, which carries the status code and the
fields the server named.
"""

from __future__ import annotations

import copy
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import grpc
import numpy as np
from google.protobuf import struct_pb2
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service import convert as cv
from service import feed
from service.channel import channel
from service.gen.strata.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    collection_pb2,
    collection_pb2_grpc,
    common_pb2,
    graph_pb2,
    graph_pb2_grpc,
    hierarchy_pb2,
    hierarchy_pb2_grpc,
    search_pb2,
    search_pb2_grpc,
    segment_pb2,
    segment_pb2_grpc,
    video_pb2,
    video_pb2_grpc,
)
from service.messages import message
from service.rows import GRANULARITIES as GRANULARITIES  # the level names search takes
from service.rows import (
    METRICS,
    append_request,
    attributes_struct,
    choice,
    granularity,
    path,
    request_pair,
    seconds,
    structure_hints,
    time_span,
    vector_of,
    whole,
    whole_ms,
)
from service.rows import attribute_filters as attribute_filters  # users build filters with it
from service.rows import names as _names
from service.rows import segment_from_dict as segment_from_dict  # users build Segment messages with it
from service.rpcerror import ClientClosedError as ClientClosedError
from service.rpcerror import StrataRpcError as StrataRpcError

T = TypeVar("T")
M = TypeVar("M", bound=Message)

# Failures after which a batch is sent again (append_segments' retries): the server could
# not be reached or was recovering, or the answer did not come in time.
RETRIED = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def attributes_of(message: Any) -> dict[str, Any]:
    """The attributes of a Node, Video or Segment message (or a Struct) as Python values:
    whole numbers as ints (a Struct holds every number as a double: 3 reads 3.0)."""
    struct = message if isinstance(message, struct_pb2.Struct) else message.attributes
    return cv.from_proto_struct(struct)


class StrataClient:
    """A connection to a Strata server."""

    def __init__(
        self,
        target: str = "localhost:50051",
        timeout: float | None = 60.0,
        max_message_mb: int = 64,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        client_certificate: tuple[bytes, bytes] | None = None,
        retries: int = 0,
    ) -> None:
        """Connect to ``target``; ``token`` goes with every call as a bearer token.
        ``timeout`` is each call's deadline in seconds (None: no deadline); :meth:`with_timeout`
        gives another for some calls. ``retries`` (0-4): how many times gRPC sends a call
        that only reads (a get, a listing's page, a search, stats, health) again after
        UNAVAILABLE, a server recovering or out of reach, waiting up to 0.2 s, then twice
        as long each time, within the call's deadline (writes: ``append_segments(retries=)``).

        TLS is used when ``tls`` is set or certificates are given: ``root_certificates``
        (PEM CA to verify the server; the system's roots when omitted) and
        ``client_certificate`` (PEM ``(private_key, certificate_chain)``, for servers that
        require one). An argument gRPC could not use is refused here, naming it, not by
        every call later: a token with a newline, ``max_message_mb`` below 1, certificates
        or a key that are not PEM.
        """
        self.timeout = seconds(timeout, "timeout")
        self.channel = channel(target, max_message_mb, token, tls, root_certificates, client_certificate, retries)
        self._max_bytes = int(max_message_mb) * 2**20  # (a whole number of megabytes: channel() checked it)
        self._closed = threading.Event()  # one for this client and every with_timeout view of it
        self.collections = collection_pb2_grpc.CollectionServiceStub(self.channel)
        self.videos = video_pb2_grpc.VideoServiceStub(self.channel)
        self.segments = segment_pb2_grpc.SegmentServiceStub(self.channel)
        self.searcher = search_pb2_grpc.SearchServiceStub(self.channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(self.channel)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)
        self.hierarchy = hierarchy_pb2_grpc.HierarchyServiceStub(self.channel)
        self.graph = graph_pb2_grpc.GraphServiceStub(self.channel)

    def __enter__(self) -> StrataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel; calls made after it raise :class:`ClientClosedError`."""
        self._closed.set()
        self.channel.close()

    def with_timeout(self, timeout: float | None) -> StrataClient:
        """This client with another deadline for each call, in seconds (None: none):
        ``client.with_timeout(0.5).get_node(...)``. It shares the connection: closing
        either closes both."""
        view = copy.copy(self)
        view.timeout = seconds(timeout, "timeout")
        return view

    def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        self._check_open()
        try:
            return method(request, timeout=self.timeout if timeout is None else seconds(timeout, "timeout"))
        except grpc.RpcError as exc:
            raise StrataRpcError.from_rpc_error(exc) from None

    def _check_open(self) -> None:
        # gRPC's own error names a channel the caller never sees.
        if self._closed.is_set():
            raise ClientClosedError()

    # collections

    def create_collection(
        self,
        name: str,
        dimension: int = 0,
        metric: str = "cos",
        text_encoder: str = "",
        model_name: str = "",
        model_version: str = "",
        hierarchy: dict[str, Any] | None = None,
    ) -> collection_pb2.Collection:
        """Create a collection; ``text_encoder="default"`` uses the built-in encoder.

        ``hierarchy`` sets tree-builder parameters (see ``HierarchyConfig`` in the API).
        """
        space = message(
            collection_pb2.EmbeddingSpace,
            dimension=whole(dimension, "dimension"),
            metric=choice(METRICS, metric, "metric"),
            text_encoder=text_encoder,
            model_name=model_name,
            model_version=model_version,
        )
        req = message(
            collection_pb2.CreateCollectionRequest,
            name=name,
            space=space,
            hierarchy=message(hierarchy_pb2.HierarchyConfig, "hierarchy.", **(hierarchy or {})),
        )
        return self._call(self.collections.CreateCollection, req).collection

    def get_collection(self, name: str) -> collection_pb2.Collection:
        """One collection with its counts."""
        return self._call(
            self.collections.GetCollection, message(collection_pb2.GetCollectionRequest, name=name)
        ).collection

    def list_collections(self, page_size: int = 100) -> Iterator[collection_pb2.Collection]:
        """Every collection, fetched a page at a time."""
        size = whole(page_size, "page_size")
        return _pages(
            lambda token: self._call(
                self.collections.ListCollections,
                message(collection_pb2.ListCollectionsRequest, page_size=size, page_token=token),
            ),
            "collections",
        )

    def delete_collection(self, name: str) -> None:
        """Delete a collection and everything in it."""
        self._call(self.collections.DeleteCollection, message(collection_pb2.DeleteCollectionRequest, name=name))

    # videos

    def create_video(
        self,
        collection: str,
        video_id: str,
        duration_ms: int = 0,
        attributes: dict[str, Any] | None = None,
        hints: dict[str, list[int]] | None = None,
    ) -> video_pb2.Video:
        """Register a video; ``hints`` maps scene/drive/half to cut times in ms."""
        req = message(
            video_pb2.CreateVideoRequest,
            collection=collection,
            video_id=video_id,
            duration_ms=whole_ms(duration_ms, "duration_ms"),
            attributes=attributes_struct({} if attributes is None else attributes),
            hints=structure_hints(hints),
        )
        return self._call(self.videos.CreateVideo, req).video

    def get_video(self, collection: str, video_id: str) -> video_pb2.Video:
        """One video."""
        req = message(video_pb2.GetVideoRequest, collection=collection, video_id=video_id)
        return self._call(self.videos.GetVideo, req).video

    def list_videos(self, collection: str, page_size: int = 100) -> Iterator[video_pb2.Video]:
        """Every video of a collection, fetched a page at a time."""
        size = whole(page_size, "page_size")
        return _pages(
            lambda token: self._call(
                self.videos.ListVideos,
                message(video_pb2.ListVideosRequest, collection=collection, page_size=size, page_token=token),
            ),
            "videos",
        )

    def delete_video(self, collection: str, video_id: str, only_if_empty: bool = False) -> None:
        """Delete a video and its nodes; with ``only_if_empty``, only a video that holds no
        segment (else FAILED_PRECONDITION, and it is kept): to undo one's own create after
        one's first append to it was refused, while another client may have written to it."""
        req = message(
            video_pb2.DeleteVideoRequest, collection=collection, video_id=video_id, only_if_empty=only_if_empty
        )
        self._call(self.videos.DeleteVideo, req)

    def seal_video(
        self, collection: str, video_id: str, hints: dict[str, list[int]] | None = None, timeout: float | None = None
    ) -> video_pb2.Video:
        """Mark a video complete and build its tree (answers when every level is indexed).

        ``hints`` maps a level name (scene, drive, half) to cut times in ms; given (not
        empty), they replace the video's stored hints. ``timeout`` defaults to the
        client's, and to at least 600 s: a long video's build takes a while (a client
        made with ``timeout=None`` sets no deadline here either).
        """
        req = message(
            video_pb2.SealVideoRequest, collection=collection, video_id=video_id, hints=structure_hints(hints)
        )
        if timeout is None and self.timeout is not None:  # None is no deadline, for seal_video too
            timeout = max(self.timeout, 600)
        return self._call(self.videos.SealVideo, req, timeout).video

    def reopen_video(self, collection: str, video_id: str) -> video_pb2.Video:
        """Let a sealed video take segments again."""
        req = message(video_pb2.ReopenVideoRequest, collection=collection, video_id=video_id)
        return self._call(self.videos.ReopenVideo, req).video

    # hierarchy

    def build_hierarchy(
        self, collection: str, video_ids: str | Sequence[str] = (), **config: Any
    ) -> hierarchy_pb2.Operation:
        """Start rebuilding trees (all videos when none named). ``config`` sets builder
        parameters (the fields of ``HierarchyConfig``, as ``scene_min_ms=4000``): they are
        stored with the collection first, and later builds (a sealed video's too) use them."""
        config_pb, names = message(hierarchy_pb2.HierarchyConfig, **config), _names(video_ids, "video_ids")
        req = message(hierarchy_pb2.BuildHierarchyRequest, collection=collection, video_ids=names, config=config_pb)
        return self._call(self.hierarchy.BuildHierarchy, req).operation

    def get_operation(self, name: str) -> hierarchy_pb2.Operation:
        """The state of a long-running operation."""
        return self._call(self.hierarchy.GetOperation, message(hierarchy_pb2.GetOperationRequest, name=name)).operation

    def wait_operation(
        self,
        name: str,
        on_progress: Callable[[hierarchy_pb2.Operation], None] = lambda op: None,
        poll: float = 0.2,
        timeout: float | None = None,
    ) -> hierarchy_pb2.Operation:
        """Poll an operation until it is done and return its final state (``error`` set
        when it failed); TimeoutError after ``timeout`` seconds (None: no limit; 0: one look)."""
        timeout = seconds(timeout, "timeout", zero=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            op = self.get_operation(name)
            on_progress(op)
            if op.done:
                return op
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"operation {name} not done after {timeout} s")
            time.sleep(poll)

    # graph

    def get_node(self, collection: str, node_id: str) -> common_pb2.Node:
        """One node."""
        return self._call(
            self.graph.GetNode, message(graph_pb2.GetNodeRequest, collection=collection, node_id=node_id)
        ).node

    def list_children(self, collection: str, node_id: str, page_size: int = 100) -> Iterator[common_pb2.Node]:
        """Every child of a node in time order, fetched a page at a time."""
        size = whole(page_size, "page_size")
        return _pages(
            lambda token: self._call(
                self.graph.ListChildren,
                message(
                    graph_pb2.ListChildrenRequest,
                    collection=collection,
                    node_id=node_id,
                    page_size=size,
                    page_token=token,
                ),
            ),
            "children",
        )

    def ancestors(self, collection: str, node_id: str) -> list[common_pb2.Node]:
        """Parent first, video root last."""
        req = message(graph_pb2.GetAncestorsRequest, collection=collection, node_id=node_id)
        return list(self._call(self.graph.GetAncestors, req).ancestors)

    def neighbors(
        self, collection: str, node_id: str, before: int = 1, after: int = 1
    ) -> graph_pb2.GetNeighborsResponse:
        """Up to ``before`` nodes just before it and ``after`` just after, at the same level
        of the video; 0 means 1 (the API's default), not none."""
        before, after = whole(before, "before"), whole(after, "after")
        req = message(graph_pb2.GetNeighborsRequest, collection=collection, node_id=node_id, before=before, after=after)
        return self._call(self.graph.GetNeighbors, req)

    def subtree(self, collection: str, node_id: str, depth: int = 1) -> list[graph_pb2.SubtreeNode]:
        """A node and its descendants down to ``depth`` levels below it; 0 means 1 (the API's
        default), not the node alone."""
        req = message(graph_pb2.GetSubtreeRequest, collection=collection, node_id=node_id, depth=whole(depth, "depth"))
        return list(self._call(self.graph.GetSubtree, req).nodes)

    def find_similar(self, collection: str, node_id: str, top_k: int = 0) -> list[graph_pb2.SimilarNode]:
        """Nodes of the same level most like this one: ``top_k`` of them (0: the server's
        default, 10, or its limit where that is lower)."""
        req = message(graph_pb2.FindSimilarRequest, collection=collection, node_id=node_id, top_k=whole(top_k, "top_k"))
        return list(self._call(self.graph.FindSimilar, req).nodes)

    # segments

    def append_segments(
        self,
        collection: str,
        segments: Sequence[dict[str, Any] | segment_pb2.Segment],
        request_id: str = "",
        retries: int = 0,
    ) -> segment_pb2.AppendSegmentsResponse:
        """Append one atomic batch (dicts in the JSONL ingest format, or Segment messages).

        ``retries``: how many times to send the batch again after UNAVAILABLE (the server
        recovering or out of reach) or DEADLINE_EXCEEDED (the server drops a batch unstored
        at the deadline; its answer may be lost after it stored it), waiting 0.5 s, then
        twice as long each time, up to 8 s, and after DEADLINE_EXCEEDED with twice the time.
        One request id (``request_id``, else one made here) for every attempt: a batch stored
        by an attempt whose answer was lost is answered ``replayed``, not stored twice."""
        if (retries := whole(retries, "retries")) < 0:
            raise ValueError(f"retries: is {retries}; give 0 (send once) or more")
        if retries and not request_id:
            request_id = f"retried-{uuid.uuid4().hex}"
        batch = _within(append_request(collection, segments, request_id), self._max_bytes, "segments")
        attempt, timeout = 0, self.timeout
        while True:
            try:
                return self._call(self.segments.AppendSegments, batch, timeout)
            except StrataRpcError as exc:
                if attempt == retries or exc.code not in RETRIED:
                    raise
                timeout = timeout * 2 if exc.code is grpc.StatusCode.DEADLINE_EXCEEDED and timeout else timeout
            time.sleep(min(0.5 * 2**attempt, 8.0))
            attempt += 1

    def stream_segments(
        self,
        collection: str,
        batches: Iterable[tuple[str, Sequence[dict[str, Any] | segment_pb2.Segment]]],
        timeout: float | None = None,
    ) -> segment_pb2.StreamAppendSegmentsResponse:
        """Append many ``(request_id, segments)`` batches over one client stream.

        ``batches`` is read in the calling thread (a sqlite3 cursor's rows may be read from
        it), a batch or two ahead of the server. ``timeout`` bounds the whole stream (None,
        the default: none, as a long ingest may take hours). An exception raised while
        reading ``batches`` (or a segment that is not one) ends the stream there: the
        batches sent before it are stored, then it is raised as it was (gRPC alone would
        cancel the stream and say UNKNOWN). An interrupt (KeyboardInterrupt) cancels it."""

        def messages() -> Iterator[segment_pb2.StreamAppendSegmentsRequest]:
            for number, pair in enumerate(batches):
                rid, segs = request_pair(pair, f"batch[{number}]")
                batch = append_request(collection, segs, rid, f"batch[{number}].segments")
                request = message(segment_pb2.StreamAppendSegmentsRequest, batch=batch)
                yield _within(request, self._max_bytes, f"batch[{number}].segments")

        self._check_open()
        timeout = seconds(timeout, "timeout")
        start = lambda requests: self.segments.StreamAppendSegments.future(requests, timeout=timeout)  # noqa: E731
        call, failed = feed.stream(start, messages())
        try:
            reply = call.result()
        except grpc.RpcError as exc:
            raise StrataRpcError.from_rpc_error(exc) from failed
        if failed:
            raise failed
        return reply

    # search

    def search(
        self,
        collection: str,
        text: str = "",
        vector: np.ndarray | None = None,
        level: str | None = None,
        top_k: int = 0,
        video_ids: str | Sequence[str] = (),
        time_range: tuple[int | None, int | None] | None = None,
        page_token: str = "",
        labels: str | Sequence[str] = (),
        attributes: dict[str, Any] | None = None,
        node_id: str = "",
        rerank: bool | None = None,
        include_ancestors: bool = False,
        reranker: str = "",
        diversity: float = 0.0,
        group_by_video: bool = False,
        group_size: int = 0,
        part_vectors: Sequence[np.ndarray] = (),
        include_evidence: bool | None = None,
        timeout: float | None = None,
    ) -> search_pb2.SearchResponse:
        """Search by text, vector and/or an example ``node_id`` at ``level``: ``auto`` (the
        router picks), ``all`` (one mixed list), or segment, scene, drive, half, video, in
        any case (``"SCENE"`` is ``"scene"``). Unset (None), a search answers as ``auto``,
        and a search by example at the example's own level; by example at ``auto`` or
        ``all``, the example's vector is routed as any vector query.

        ``time_range`` ``(start_ms, end_ms)`` keeps the answers that overlap it (``None``
        leaves a bound open). ``attributes`` maps a key to a value (equality) or to a
        ``(min, max)`` tuple (a numeric range; ``None`` leaves a bound open).
        ``group_by_video`` answers with ``groups`` (``top_k`` videos, up to ``group_size``
        answers each) instead of ``hits``; ``top_k`` 0 is the server's default (10, or its
        limit where that is lower). ``part_vectors``: a vector for each of the text's parts
        (:meth:`parse_query`), from the caller's own model, for a routed search.
        ``include_evidence=False`` leaves out the child hits that explain each answer (the
        server's default is to include them); ``timeout`` is the search's deadline
        (default: the client's).
        """
        req = message(
            search_pb2.SearchRequest,
            collection=collection,
            text=text,
            # Unset: the server's rule (AUTO; by example, the example's level).
            granularity=granularity(level),
            top_k=whole(top_k, "top_k"),
            page_token=page_token,
            node_id=node_id,
            include_ancestors=include_ancestors,
            reranker=reranker,
            diversity=diversity,
            group_by_video=group_by_video,
            group_size=whole(group_size, "group_size"),
            # Left out when None: unset, they take the server's defaults.
            **{
                name: flag
                for name, flag in (("rerank", rerank), ("include_evidence", include_evidence))
                if flag is not None
            },
        )
        if vector is not None:
            req.vector.CopyFrom(cv.to_proto_vector(vector_of(vector, "vector")))
        req.filter.video_ids.extend(_names(video_ids, "video_ids"))
        if time_range is not None:
            req.filter.time_range.CopyFrom(time_span(time_range))
        req.filter.labels.extend(_names(labels, "labels"))
        req.filter.attributes.extend(attribute_filters({} if attributes is None else attributes))
        req.part_vectors.extend(
            cv.to_proto_vector(vector_of(v, f"part_vectors[{i}]")) for i, v in enumerate(part_vectors)
        )
        return self._call(self.searcher.Search, req, timeout)

    def search_pages(self, collection: str, **search: Any) -> Iterator[search_pb2.SearchResponse]:
        """Every page of a search, in order: :meth:`search` with ``search``'s arguments,
        then again with each page's ``next_page_token``, until a page has none. Pages never
        repeat nor skip an answer, and answer as of the first page (see ``page_token`` in
        the API). The first page is fetched now: a search the server refuses raises here."""
        if search.pop("page_token", ""):
            raise TypeError("page_token: leave it out; search_pages follows the pages from the first")
        first = self.search(collection, **search)
        return _responses(first, lambda token: self.search(collection, **search, page_token=token))

    def parse_query(self, text: str) -> search_pb2.QueryParse:
        """How a routed search reads ``text``; ``parts`` lists what ``part_vectors`` embed."""
        return self._call(self.searcher.ParseQuery, message(search_pb2.ParseQueryRequest, text=text)).parse

    # operations

    def stats(self, collection: str = "") -> admin_pb2.GetStatsResponse:
        """Counts, index coverage and disk use."""
        return self._call(self.admin.GetStats, message(admin_pb2.GetStatsRequest, collection=collection))

    def verify(self, collection: str = "", timeout: float | None = None) -> admin_pb2.VerifyResponse:
        """Check that store, indexes and trees agree; an empty ``problems`` list means they do."""
        return self._call(self.admin.Verify, message(admin_pb2.VerifyRequest, collection=collection), timeout)

    def create_snapshot(
        self, destination_dir: str | os.PathLike[str], timeout: float | None = None
    ) -> admin_pb2.CreateSnapshotResponse:
        """Write a consistent copy of the server's data to ``destination_dir`` (a str or a
        Path), an absolute path on the server's machine that does not exist yet or is empty."""
        request = message(admin_pb2.CreateSnapshotRequest, destination_dir=path(destination_dir, "destination_dir"))
        return self._call(self.admin.CreateSnapshot, request, timeout)

    def health(self, service: str = "") -> str:
        """The health status name (SERVING, NOT_SERVING, ...)."""
        reply = self._call(self.health_stub.Check, message(health_pb2.HealthCheckRequest, service=service))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def _within(request: M, limit: int, field: str) -> M:
    """``request`` when gRPC can send it (``limit`` bytes), else the RESOURCE_EXHAUSTED gRPC
    would raise, with the batch named as a field: gRPC's own ("Sent message larger than
    max (74577231 vs. 67108864)") says neither which batch nor what to do."""
    if (size := request.ByteSize()) > limit:
        said = (
            f"the batch is {size / 2**20:.1f} MB, past the {limit / 2**20:g} MB a message may carry (the "
            "client's max_message_mb); send its segments in smaller batches"
        )
        raise StrataRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{field}: {said}", {field: said})
    return request


def batches(segments: Iterable[T], size: int = 500, prefix: str = "batch-") -> Iterator[tuple[str, list[T]]]:
    """``segments`` (any iterable: read as the batches are) as ``(request_id, batch)``
    pairs of ``size`` for :meth:`StrataClient.stream_segments`, the ids ``prefix`` and the
    batch's number (``batch-0``, ``batch-1``, ...): the same rows, size and prefix sent
    again are answered ``replayed`` batch by batch, not stored twice (a prefix of its own
    per load, e.g. the file's name and date)."""
    if (size := whole(size, "size")) < 1:  # (checked at the call, not at the first batch)
        raise ValueError(f"size: is {size}; give 1 or more segments a batch")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix: give a string, not {type(prefix).__name__}")
    return _batched(iter(segments), size, prefix)


def _batched(rows: Iterator[T], size: int, prefix: str) -> Iterator[tuple[str, list[T]]]:
    for number in itertools.count():
        batch = list(itertools.islice(rows, size))
        if not batch:
            return
        yield f"{prefix}{number}", batch


def _pages(fetch: Any, attr: str) -> Iterator[Any]:
    """Every item of a listing; its first page is fetched now, so a listing that cannot
    be read (an unknown collection, a closed client) raises at the call, not later."""
    return _items(fetch(""), fetch, attr)


def _items(page: Any, fetch: Any, attr: str) -> Iterator[Any]:
    for each in _responses(page, fetch):
        yield from getattr(each, attr)


def _responses(page: Any, fetch: Any) -> Iterator[Any]:
    """``page`` and the pages after it, each fetched by the one before's token."""
    while True:
        yield page
        if not page.next_page_token:
            return
        page = fetch(page.next_page_token)
