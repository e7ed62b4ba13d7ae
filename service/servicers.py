"""gRPC servicers: each method converts the request, calls the core, converts the answer."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import grpc

from hierarchy import deadlines
from hierarchy.db import Database
from hierarchy.errors import ResourceExhausted, StrataError
from service import convert as cv
from service.errors import map_errors
from service.gen.strata.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    collection_pb2,
    collection_pb2_grpc,
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
from service.version import VERSION

Ctx = grpc.ServicerContext


class CollectionServicer(collection_pb2_grpc.CollectionServiceServicer):
    """Collections: create, get, list, delete."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @map_errors
    def CreateCollection(
        self, request: collection_pb2.CreateCollectionRequest, context: Ctx
    ) -> collection_pb2.CreateCollectionResponse:  # noqa: N802, E501
        hierarchy = cv.from_proto_hierarchy(request.hierarchy)
        created = self.db.create_collection(request.name, cv.from_proto_space(request.space), hierarchy)
        return collection_pb2.CreateCollectionResponse(collection=cv.to_proto_collection(created))

    @map_errors
    def GetCollection(
        self, request: collection_pb2.GetCollectionRequest, context: Ctx
    ) -> collection_pb2.GetCollectionResponse:  # noqa: N802, E501
        found = self.db.get_collection(request.name)
        return collection_pb2.GetCollectionResponse(collection=cv.to_proto_collection(found))

    @map_errors
    def ListCollections(
        self, request: collection_pb2.ListCollectionsRequest, context: Ctx
    ) -> collection_pb2.ListCollectionsResponse:  # noqa: N802, E501
        page, token = self.db.list_collections(request.page_size, request.page_token)
        return collection_pb2.ListCollectionsResponse(
            collections=[cv.to_proto_collection(c) for c in page], next_page_token=token
        )

    @map_errors
    def DeleteCollection(
        self, request: collection_pb2.DeleteCollectionRequest, context: Ctx
    ) -> collection_pb2.DeleteCollectionResponse:  # noqa: N802, E501
        self.db.delete_collection(request.name)
        return collection_pb2.DeleteCollectionResponse()


class VideoServicer(video_pb2_grpc.VideoServiceServicer):
    """Videos: create, get, list, delete."""

    def __init__(self, db: Database, max_message_bytes: int = 0) -> None:
        self.db = db
        self.max_message_bytes = max_message_bytes  # the largest answer the server sends (0: no limit)

    @map_errors
    def CreateVideo(self, request: video_pb2.CreateVideoRequest, context: Ctx) -> video_pb2.CreateVideoResponse:  # noqa: N802
        attrs = cv.from_proto_struct(request.attributes)
        hints = cv.from_proto_hints(request.hints)
        video = self.db.create_video(request.collection, request.video_id, request.duration_ms, attrs, hints)
        return video_pb2.CreateVideoResponse(video=cv.to_proto_video(video))

    @map_errors
    def GetVideo(self, request: video_pb2.GetVideoRequest, context: Ctx) -> video_pb2.GetVideoResponse:  # noqa: N802
        video = self.db.get_video(request.collection, request.video_id)
        return video_pb2.GetVideoResponse(video=cv.to_proto_video(video))

    @map_errors
    def ListVideos(self, request: video_pb2.ListVideosRequest, context: Ctx) -> video_pb2.ListVideosResponse:  # noqa: N802
        size = request.page_size
        while True:
            page, token = self.db.list_videos(request.collection, size, request.page_token)
            reply = video_pb2.ListVideosResponse(videos=[cv.to_proto_video(v) for v in page], next_page_token=token)
            if not self.max_message_bytes or reply.ByteSize() <= self.max_message_bytes - cv.WRAPPER_BYTES:
                return reply
            if len(page) <= 1:
                raise ResourceExhausted(
                    f"video {page[0].id!r} alone is larger than the server's max_message_mb; raise it", "page_size"
                )
            size = len(page) // 2  # attributes make videos large: a shorter page, its token to the rest

    @map_errors
    def SealVideo(self, request: video_pb2.SealVideoRequest, context: Ctx) -> video_pb2.SealVideoResponse:  # noqa: N802
        video = self.db.seal_video(request.collection, request.video_id, cv.from_proto_hints(request.hints))
        return video_pb2.SealVideoResponse(video=cv.to_proto_video(video))

    @map_errors
    def ReopenVideo(self, request: video_pb2.ReopenVideoRequest, context: Ctx) -> video_pb2.ReopenVideoResponse:  # noqa: N802
        video = self.db.reopen_video(request.collection, request.video_id)
        return video_pb2.ReopenVideoResponse(video=cv.to_proto_video(video))

    @map_errors
    def DeleteVideo(self, request: video_pb2.DeleteVideoRequest, context: Ctx) -> video_pb2.DeleteVideoResponse:  # noqa: N802
        self.db.delete_video(request.collection, request.video_id, request.only_if_empty)
        return video_pb2.DeleteVideoResponse()


# The share of the call pool's threads a stream may never take: a stream holds one for
# its whole length, and idle ones that took them all stalled every other call, health
# checks too (16 threads: 12 streams at most; under 4 threads, none is kept).
KEPT_FROM_STREAMS = 4  # one thread in this many


class SegmentServicer(segment_pb2_grpc.SegmentServiceServicer):
    """Segments: batched and streamed appends."""

    def __init__(self, db: Database, workers: int = 16) -> None:
        self.db = db
        self.max_streams = max(1, workers - workers // KEPT_FROM_STREAMS)
        self._streams = threading.BoundedSemaphore(self.max_streams)

    @map_errors
    def AppendSegments(
        self, request: segment_pb2.AppendSegmentsRequest, context: Ctx
    ) -> segment_pb2.AppendSegmentsResponse:  # noqa: N802, E501
        return self._append(request, context)

    @map_errors
    def StreamAppendSegments(
        self, request_iterator: Iterator[segment_pb2.StreamAppendSegmentsRequest], context: Ctx
    ) -> segment_pb2.StreamAppendSegmentsResponse:  # noqa: N802, E501
        if not self._streams.acquire(blocking=False):
            raise ResourceExhausted(
                f"{self.max_streams} streams are open, the most this server takes at once (a quarter of its "
                "STRATA_WORKERS threads is kept for other calls); send when one ends, or use AppendSegments",
                "stream",
            )
        try:
            return self._streamed(request_iterator, context)
        finally:
            self._streams.release()

    def _streamed(
        self, request_iterator: Iterator[segment_pb2.StreamAppendSegmentsRequest], context: Ctx
    ) -> segment_pb2.StreamAppendSegmentsResponse:
        summary = segment_pb2.StreamAppendSegmentsResponse()
        messages = iter(request_iterator)
        for number in itertools.count():
            try:
                # A message whose bytes do not parse is refused as it is read: the batch is
                # at fault as a whole (not a field "request" inside it).
                message = next(messages, None)
            except StrataError as exc:
                exc.field = f"batch[{number}]"
                raise
            if message is None:
                break
            try:
                answer = self._append(message.batch, context)
            except StrataError as exc:
                # Earlier batches are committed; say which batch failed.
                exc.field = f"batch[{number}].{exc.field}" if exc.field else f"batch[{number}]"
                raise
            summary.batch_count += 1
            summary.segment_count += 0 if answer.replayed else len(answer.segment_ids)
            summary.last_commit_sequence = answer.commit_sequence
        return summary

    def _append(self, request: segment_pb2.AppendSegmentsRequest, context: Ctx) -> segment_pb2.AppendSegmentsResponse:
        """One batch appended, within the call's deadline."""
        # A batch whose caller stopped waiting is not embedded and stored for no one (a
        # client retrying after its deadline would otherwise have the work done twice).
        deadline = deadlines.after(context.time_remaining())
        segments = cv.from_proto_segments(request)
        result = self.db.append_segments(request.collection, segments, request.request_id, deadline)
        return segment_pb2.AppendSegmentsResponse(
            segment_ids=result.segment_ids, commit_sequence=result.commit_sequence, replayed=result.replayed
        )


class SearchServicer(search_pb2_grpc.SearchServiceServicer):
    """Search by text or vector."""

    def __init__(self, db: Database, max_message_bytes: int = 0) -> None:
        self.db = db
        self.max_message_bytes = max_message_bytes  # the largest answer the server sends (0: no limit)

    @map_errors
    def Search(self, request: search_pb2.SearchRequest, context: Ctx) -> search_pb2.SearchResponse:  # noqa: N802
        # The caller's deadline goes into the core, which stops between stages once it passes.
        query = cv.from_proto_search(request, deadlines.after(context.time_remaining()))
        result = self.db.search(query, request.page_token)
        return cv.to_proto_search(result, result.next_page_token, self.max_message_bytes)

    @map_errors
    def ParseQuery(  # noqa: N802
        self, request: search_pb2.ParseQueryRequest, context: Ctx
    ) -> search_pb2.ParseQueryResponse:
        return search_pb2.ParseQueryResponse(parse=cv.to_proto_parse(self.db.parse_query(request.text)))


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    """Operational reports, consistency checks and snapshots."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @map_errors
    def GetStats(self, request: admin_pb2.GetStatsRequest, context: Ctx) -> admin_pb2.GetStatsResponse:  # noqa: N802
        stats = self.db.stats(request.collection)
        return cv.to_proto_stats(stats, self.db.commit_sequence(), self.db.disk_bytes(), VERSION)

    @map_errors
    def Verify(self, request: admin_pb2.VerifyRequest, context: Ctx) -> admin_pb2.VerifyResponse:  # noqa: N802
        return cv.to_proto_verify(self.db.verify(request.collection))

    @map_errors
    def CreateSnapshot(
        self, request: admin_pb2.CreateSnapshotRequest, context: Ctx
    ) -> admin_pb2.CreateSnapshotResponse:  # noqa: N802
        return cv.to_proto_snapshot(self.db.snapshot(request.destination_dir))


class HierarchyServicer(hierarchy_pb2_grpc.HierarchyServiceServicer):
    """Tree builds as long-running operations."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @map_errors
    def BuildHierarchy(
        self, request: hierarchy_pb2.BuildHierarchyRequest, context: Ctx
    ) -> hierarchy_pb2.BuildHierarchyResponse:  # noqa: N802, E501
        overrides = cv.from_proto_hierarchy(request.config)
        op = self.db.build_hierarchy(request.collection, list(request.video_ids), overrides)
        return hierarchy_pb2.BuildHierarchyResponse(operation=cv.to_proto_operation(op))

    @map_errors
    def GetOperation(
        self, request: hierarchy_pb2.GetOperationRequest, context: Ctx
    ) -> hierarchy_pb2.GetOperationResponse:  # noqa: N802, E501
        return hierarchy_pb2.GetOperationResponse(operation=cv.to_proto_operation(self.db.operations.get(request.name)))


class GraphServicer(graph_pb2_grpc.GraphServiceServicer):
    """Walks of the tree. Each answer is counted as it is built and refused past
    ``max_message_bytes`` (0: no limit), naming the request field that sets its size:
    parents carry their subtree's labels, so a few nodes can pass what a message holds."""

    def __init__(self, db: Database, max_message_bytes: int = 0) -> None:
        self.nav = db.navigator
        self.max_message_bytes = max_message_bytes

    @map_errors
    def GetNode(self, request: graph_pb2.GetNodeRequest, context: Ctx) -> graph_pb2.GetNodeResponse:  # noqa: N802
        return cv.to_proto_get_node(self.nav.node(request.collection, request.node_id), self.max_message_bytes)

    @map_errors
    def ListChildren(self, request: graph_pb2.ListChildrenRequest, context: Ctx) -> graph_pb2.ListChildrenResponse:  # noqa: N802
        kids, token = self.nav.children(request.collection, request.node_id, request.page_size, request.page_token)
        return cv.to_proto_children(kids, token, self.max_message_bytes)

    @map_errors
    def GetAncestors(self, request: graph_pb2.GetAncestorsRequest, context: Ctx) -> graph_pb2.GetAncestorsResponse:  # noqa: N802
        found = self.nav.ancestors(request.collection, request.node_id)
        return cv.to_proto_ancestors(found, self.max_message_bytes)

    @map_errors
    def GetNeighbors(self, request: graph_pb2.GetNeighborsRequest, context: Ctx) -> graph_pb2.GetNeighborsResponse:  # noqa: N802
        before, after = self.nav.neighbours(request.collection, request.node_id, request.before, request.after)
        return cv.to_proto_neighbours(before, after, self.max_message_bytes)

    @map_errors
    def GetSubtree(self, request: graph_pb2.GetSubtreeRequest, context: Ctx) -> graph_pb2.GetSubtreeResponse:  # noqa: N802
        found = self.nav.subtree(request.collection, request.node_id, request.depth)
        return cv.to_proto_subtree(found, self.max_message_bytes)

    @map_errors
    def FindSimilar(self, request: graph_pb2.FindSimilarRequest, context: Ctx) -> graph_pb2.FindSimilarResponse:  # noqa: N802
        found = self.nav.similar(request.collection, request.node_id, request.top_k)
        return cv.to_proto_similar(found, self.max_message_bytes)
