"""Converters between protobuf messages and domain types, in ``to_proto_x`` /
``from_proto_x`` pairs. Bad wire values raise domain errors naming the field."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn, TypeVar

import numpy as np
from google.protobuf import json_format, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from hierarchy import types as t
from hierarchy import validate
from hierarchy.builder import HierarchyConfig
from hierarchy.errors import InvalidArgument, ResourceExhausted
from hierarchy.filters import AttributeCondition
from hierarchy.operations import Operation
from hierarchy.query import ParsedQuery
from hierarchy.router import parts
from hierarchy.snapshot import Snapshot
from hierarchy.verify import ProblemKind, VerifyReport
from service.gen.strata.v1 import (
    admin_pb2,
    collection_pb2,
    common_pb2,
    graph_pb2,
    hierarchy_pb2,
    search_pb2,
    segment_pb2,
    video_pb2,
)

_METRICS = {
    common_pb2.METRIC_UNSPECIFIED: t.Metric.COSINE,
    common_pb2.METRIC_COSINE: t.Metric.COSINE,
    common_pb2.METRIC_INNER_PRODUCT: t.Metric.INNER_PRODUCT,
    common_pb2.METRIC_L2_SQUARED: t.Metric.L2_SQUARED,
}
_METRICS_OUT = {v: k for k, v in _METRICS.items() if k != common_pb2.METRIC_UNSPECIFIED}
_GRANULARITY_MODE = {
    search_pb2.GRANULARITY_UNSPECIFIED: t.Mode.AUTO,
    search_pb2.GRANULARITY_AUTO: t.Mode.AUTO,
    search_pb2.GRANULARITY_ALL: t.Mode.ALL,
}
_GRANULARITY_LEVEL = {
    search_pb2.GRANULARITY_SEGMENT: t.Level.SEGMENT,
    search_pb2.GRANULARITY_SCENE: t.Level.SCENE,
    search_pb2.GRANULARITY_DRIVE: t.Level.DRIVE,
    search_pb2.GRANULARITY_HALF: t.Level.HALF,
    search_pb2.GRANULARITY_VIDEO: t.Level.VIDEO,
}


def from_proto_vector(msg: common_pb2.Vector, field: str) -> np.ndarray:
    """Little-endian float32 bytes -> a float32 array (no per-element Python work)."""
    if len(msg.data) % 4:
        raise InvalidArgument(f"{field}.data", f"has {len(msg.data)} bytes, not a multiple of 4")
    values = np.frombuffer(msg.data, dtype="<f4")
    if msg.dimension and values.shape[0] != msg.dimension:
        raise InvalidArgument(f"{field}.dimension", f"is {msg.dimension} but data holds {values.shape[0]} floats")
    return values.astype(np.float32)


def to_proto_vector(values: np.ndarray) -> common_pb2.Vector:
    """A 1-D float array -> packed little-endian float32 bytes."""
    arr = np.ascontiguousarray(values, dtype="<f4")
    if arr.ndim != 1:  # flattened, a (2, 8) array was sent as one 16-d vector
        raise ValueError(f"a vector is 1-D, not an array of shape {arr.shape}")
    return common_pb2.Vector(data=arr.tobytes(), dimension=arr.shape[0])


def from_proto_struct(msg: struct_pb2.Struct, field: str = "attributes") -> dict[str, Any]:
    """A Struct -> a dict; whole numbers come back as ints (Struct stores doubles)."""
    try:
        values = json_format.MessageToDict(msg)
    except ValueError as exc:  # NaN or infinity: a Struct holds them, JSON cannot
        raise InvalidArgument(field, "holds NaN or infinity; attribute numbers must be finite") from exc
    return validate.attributes(_ints(values), field)


def _ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def to_proto_struct(values: dict[str, Any]) -> struct_pb2.Struct:
    """A dict -> a Struct."""
    msg = struct_pb2.Struct()
    msg.update(values)
    return msg


def _timestamp(ms: int) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def from_proto_space(msg: collection_pb2.EmbeddingSpace) -> t.EmbeddingSpace:
    """EmbeddingSpace message -> domain space."""
    if msg.metric not in _METRICS:
        raise InvalidArgument("space.metric", f"unknown metric {msg.metric}")
    return t.EmbeddingSpace(msg.dimension, _METRICS[msg.metric], msg.model_name, msg.model_version, msg.text_encoder)


def to_proto_space(space: t.EmbeddingSpace) -> collection_pb2.EmbeddingSpace:
    """Domain space -> EmbeddingSpace message."""
    return collection_pb2.EmbeddingSpace(
        dimension=space.dimension,
        metric=_METRICS_OUT[space.metric],
        model_name=space.model_name,
        model_version=space.model_version,
        text_encoder=space.text_encoder,
    )


def to_proto_collection(c: t.Collection) -> collection_pb2.Collection:
    """Domain collection -> Collection message."""
    return collection_pb2.Collection(
        name=c.name,
        space=to_proto_space(c.space),
        create_time=_timestamp(c.created_ms),
        video_count=c.video_count,
        segment_count=c.segment_count,
        hierarchy=to_proto_hierarchy(validate.stored_hierarchy(c.config.get("hierarchy", {}))),
    )


def to_proto_video(v: t.Video) -> video_pb2.Video:
    """Domain video -> Video message."""
    state = video_pb2.VIDEO_STATE_SEALED if v.state is t.VideoState.SEALED else video_pb2.VIDEO_STATE_OPEN
    return video_pb2.Video(
        id=v.id,
        collection=v.collection,
        duration_ms=v.duration_ms,
        attributes=to_proto_struct(v.attributes),
        state=state,
        segment_count=v.segment_count,
        create_time=_timestamp(v.created_ms),
        hints=to_proto_hints(v.hints),
    )


def from_proto_hints(msgs: Sequence[video_pb2.StructureHint], field: str = "hints") -> dict[t.Level, list[int]]:
    """StructureHint messages -> cut times per level (levels are checked by the core)."""
    out: dict[t.Level, list[int]] = {}
    for i, msg in enumerate(msgs):
        if msg.level not in {lv.value for lv in t.Level}:
            raise InvalidArgument(f"{field}[{i}].level", "must be LEVEL_SCENE, LEVEL_DRIVE or LEVEL_HALF")
        level = t.Level(msg.level)
        if level in out:
            raise InvalidArgument(f"{field}[{i}].level", f"repeats level {level.label}; give each level once")
        out[level] = list(msg.cut_ms)
    return out


def to_proto_hints(hints: dict[t.Level, list[int]]) -> list[video_pb2.StructureHint]:
    """Cut times per level -> StructureHint messages."""
    return [video_pb2.StructureHint(level=to_proto_level(level), cut_ms=cuts) for level, cuts in sorted(hints.items())]


def from_proto_segment(msg: segment_pb2.Segment, field: str) -> t.SegmentInput:
    """Segment message -> domain segment input."""
    vector = from_proto_vector(msg.vector, f"{field}.vector") if msg.HasField("vector") else None
    return t.SegmentInput(
        video_id=msg.video_id,
        start_ms=msg.start_ms,
        end_ms=msg.end_ms,
        vector=vector,
        text=msg.text,
        labels=list(msg.labels),
        # Most segments carry none: a Struct's conversion cost 5 us a segment even when empty.
        attributes=from_proto_struct(msg.attributes, f"{field}.attributes") if msg.attributes.fields else {},
        id=msg.id,
        shot_cut=msg.shot_cut,
    )


def to_proto_segment(seg: t.SegmentInput) -> segment_pb2.Segment:
    """Domain segment input -> Segment message."""
    msg = segment_pb2.Segment(
        id=seg.id,
        video_id=seg.video_id,
        start_ms=seg.start_ms,
        end_ms=seg.end_ms,
        text=seg.text,
        labels=seg.labels,
        attributes=to_proto_struct(seg.attributes),
        shot_cut=seg.shot_cut,
    )
    if seg.vector is not None:
        msg.vector.CopyFrom(to_proto_vector(seg.vector))
    return msg


def from_proto_segments(msg: segment_pb2.AppendSegmentsRequest) -> list[t.SegmentInput]:
    """Every segment of an append request."""
    return [from_proto_segment(s, f"segments[{i}]") for i, s in enumerate(msg.segments)]


def to_proto_level(level: t.Level) -> common_pb2.Level.ValueType:
    """Domain level -> Level enum value."""
    return int(level)  # the enum numbers are the same by design


def to_proto_node(node: t.Node) -> common_pb2.Node:
    """Domain node -> Node message."""
    return common_pb2.Node(
        id=node.id,
        level=to_proto_level(node.level),
        video_id=node.video_id,
        start_ms=node.start_ms,
        end_ms=node.end_ms,
        parent_id=node.parent_id,
        text=node.text,
        labels=list(node.labels),
        attributes=to_proto_struct(node.attributes),
        child_count=node.child_count,
        label_counts=node.label_counts,
        shot_cut=node.shot_cut,
    )


def from_proto_filter(msg: search_pb2.Filter) -> t.Filter:
    """Filter message -> domain filter."""
    # The core checks the filter (hierarchy.filters.check), for in-process callers too.
    time_range = t.TimeRange(msg.time_range.start_ms, msg.time_range.end_ms) if msg.HasField("time_range") else None
    conditions = tuple(_from_proto_attribute(a, f"filter.attributes[{i}]") for i, a in enumerate(msg.attributes))
    return t.Filter(tuple(msg.video_ids), time_range, tuple(msg.labels), conditions)


def _from_proto_attribute(msg: search_pb2.AttributeFilter, field: str) -> AttributeCondition:
    which = msg.WhichOneof("condition")
    if which == "range":  # bounds and numbers are checked in the core (AttributeCondition.check)
        low = msg.range.min if msg.range.HasField("min") else None
        high = msg.range.max if msg.range.HasField("max") else None
        return AttributeCondition(msg.key, None, low, high)
    if which == "equals_string":
        validate.text(msg.equals_string, f"{field}.equals_string")
    return AttributeCondition(msg.key, getattr(msg, which) if which else None)


def from_proto_search(msg: search_pb2.SearchRequest, deadline: float | None = None) -> t.SearchQuery:
    """SearchRequest -> domain query (first page; the page token is resolved by the core).

    ``deadline`` is the caller's, as a ``time.monotonic()`` value (None: no deadline).
    """
    if msg.granularity not in _GRANULARITY_LEVEL and msg.granularity not in _GRANULARITY_MODE:
        raise InvalidArgument("granularity", f"unknown granularity {msg.granularity}")
    vector = from_proto_vector(msg.vector, "vector") if msg.HasField("vector") else None
    parts = tuple(from_proto_vector(v, f"part_vectors[{i}]") for i, v in enumerate(msg.part_vectors))
    # By example with no granularity: more like it at its own level; a level asked: there.
    mode = _GRANULARITY_MODE.get(msg.granularity, t.Mode.LEVEL)
    by_example = bool(msg.node_id) and msg.granularity == search_pb2.GRANULARITY_UNSPECIFIED
    return t.SearchQuery(
        collection=msg.collection,
        level=_GRANULARITY_LEVEL.get(msg.granularity, t.Level.SEGMENT),
        mode=t.Mode.LEVEL if by_example else mode,
        level_of_example=by_example,
        text=msg.text,
        vector=vector,
        top_k=msg.top_k,
        filter=from_proto_filter(msg.filter),
        node_id=msg.node_id,
        rerank=msg.rerank if msg.HasField("rerank") else None,
        include_evidence=msg.include_evidence if msg.HasField("include_evidence") else True,
        include_ancestors=msg.include_ancestors,
        reranker=msg.reranker,
        diversity=msg.diversity,
        group_by_video=msg.group_by_video,
        group_size=msg.group_size,
        deadline=deadline,
        part_vectors=parts,
    )


SEARCH_ADVICE = "ask for fewer hits, or leave include_ancestors or include_evidence off"
# What helps when one node cannot be sent whatever else is asked: a search's hit may
# leave its ancestors and evidence off; a graph answer's node has children to list.
SEARCH_ALONE_ADVICE = "leave include_ancestors or include_evidence off, or raise the server's max_message_mb"
GRAPH_ALONE_ADVICE = (
    "read its children with ListChildren (a parent carries every label of its subtree), "
    "or raise the server's max_message_mb"
)
# The bytes a response adds around one node at most (tags and lengths; a depth or a
# similarity; a search hit's scores, rank and focus, about 45): a node that fits only
# without them cannot be sent either.
WRAPPER_BYTES = 64
Response = TypeVar("Response", bound=Message)


def to_proto_search(result: t.SearchResult, next_token: str, max_bytes: int = 0) -> search_pb2.SearchResponse:
    """Domain result -> SearchResponse. ``max_bytes`` (0: none): the largest message the
    server may send; an answer is refused as soon as its nodes alone pass it."""
    route = result.route
    out = search_pb2.Route(
        levels=[to_proto_level(lv) for lv in route.levels],
        reason=route.reason,
        confidences=[
            search_pb2.LevelConfidence(level=to_proto_level(lv), confidence=c)
            for lv, c in sorted(route.confidences.items())
        ],
        in_time_order=route.in_time_order,
    )
    if route.parse is not None:
        out.parse.CopyFrom(to_proto_parse(route.parse))
    node = NodeMessages(max_bytes, alone_field="top_k", alone_advice=SEARCH_ALONE_ADVICE)
    groups = [
        search_pb2.VideoGroup(
            video_id=g.video_id, score=g.score, hits=[to_proto_hit(h, node) for h in g.hits], rank=g.rank
        )
        for g in result.groups
    ]
    return node.done(
        search_pb2.SearchResponse(
            hits=[to_proto_hit(h, node) for h in result.hits], route=out, next_page_token=next_token, groups=groups
        )
    )


class NodeMessages:
    """Node messages of one response, each built once (a video's root is an ancestor of
    every hit in it), and the bytes they add up to as the response repeats them. Past
    ``max_bytes`` (0: no limit) the answer is refused naming ``field``, with ``advice``;
    a node too large to send by itself names ``alone_field`` instead (asking for fewer
    nodes cannot help then). :meth:`done` checks the finished response, whose wrappers
    around the nodes add a few bytes each."""

    def __init__(
        self,
        max_bytes: int = 0,
        field: str = "top_k",
        advice: str = SEARCH_ADVICE,
        alone_field: str = "node_id",
        alone_advice: str = GRAPH_ALONE_ADVICE,
    ) -> None:
        self._built: dict[str, tuple[t.Node, common_pb2.Node, int]] = {}
        self._max_bytes = max_bytes
        self.field = field  # a caller may name another as it converts another part
        self._advice = advice
        self._alone = (alone_field, alone_advice)
        self.total = 0

    def __call__(self, node: t.Node) -> common_pb2.Node:
        built = self._built.get(node.id)
        if built is None or (built[0] is not node and built[0] != node):  # a parent rebuilt meanwhile
            message = to_proto_node(node)
            built = self._built[node.id] = (node, message, message.ByteSize())
        self.total += built[2]
        if self._max_bytes and built[2] + WRAPPER_BYTES > self._max_bytes:
            field, advice = self._alone
            raise ResourceExhausted(
                f"node {node.id!r} alone passes the {self._megabytes} MB a message may hold; {advice}", field
            )
        if self._max_bytes and self.total > self._max_bytes:
            # Parents carry their subtree's labels: with ancestors, 10 hits of a video
            # whose labels were many and long made an 83 MB answer (833 MB for 100).
            self._refuse()
        return built[1]

    def all(self, nodes: Iterable[t.Node]) -> list[common_pb2.Node]:
        """Messages of ``nodes``, in order."""
        return [self(n) for n in nodes]

    def done(self, response: Response) -> Response:
        """``response``, refused (naming ``field``) when it passes ``max_bytes`` whole."""
        if self._max_bytes and response.ByteSize() > self._max_bytes:
            self._refuse("answer")
        return response

    @property
    def _megabytes(self) -> int:
        return self._max_bytes // (1024 * 1024)

    def _refuse(self, what: str = "answer's nodes alone") -> NoReturn:
        raise ResourceExhausted(
            f"the {what} pass the {self._megabytes} MB a message may hold; {self._advice}", self.field
        )


def to_proto_hit(hit: t.Hit, node: Callable[[t.Node], common_pb2.Node] = to_proto_node) -> search_pb2.Hit:
    """Domain hit (with its evidence and ancestors) -> Hit message; ``node`` converts nodes."""
    return search_pb2.Hit(
        node=node(hit.node),
        score=hit.score,
        similarity=hit.similarity,
        rank=hit.rank,
        raw_score=hit.raw_score,
        evidence=[to_proto_hit(e, node) for e in hit.evidence],
        ancestors=[node(a) for a in hit.ancestors],
        focus=common_pb2.TimeRange(start_ms=hit.focus.start_ms, end_ms=hit.focus.end_ms) if hit.focus else None,
        count=hit.count,
    )


def to_proto_parse(parsed: ParsedQuery) -> search_pb2.QueryParse:
    """The router's reading of a query -> QueryParse message."""
    ordinal = parsed.ordinal
    return search_pb2.QueryParse(
        scope=to_proto_level(parsed.scope) if parsed.scope else 0,
        ordinal=ordinal.position if ordinal else 0,
        ordinal_of=to_proto_level(ordinal.of) if ordinal and ordinal.of and not ordinal.event_ordered else 0,
        count=parsed.count.describe() if parsed.count else "",
        count_event=parsed.count_event,
        event=parsed.event,
        explanation=parsed.explain(),
        result=parsed.result.describe() if parsed.result else "",
        side=parsed.side,
        within=to_proto_level(parsed.within) if parsed.within else 0,
        within_position=parsed.within_position,
        every=parsed.every,
        sequence=list(parsed.sequence),
        parts=list(parts(parsed)),
    )


def to_proto_stats(
    stats: list[t.CollectionStats], sequence: int, disk: int, version: str
) -> admin_pb2.GetStatsResponse:
    """Domain stats -> GetStatsResponse."""
    out = admin_pb2.GetStatsResponse(commit_sequence=sequence, disk_bytes=disk, version=version)
    for c in stats:
        levels = [
            admin_pb2.LevelStats(
                level=to_proto_level(s.level),
                node_count=s.node_count,
                indexed_count=s.indexed_count,
                indexed_sequence=s.indexed_sequence,
                exact=s.exact,
                unlinked_count=s.unlinked_count,
            )
            for s in c.levels
        ]
        out.collections.append(admin_pb2.CollectionStats(name=c.name, video_count=c.video_count, levels=levels))
    return out


def to_proto_problem_kind(kind: ProblemKind) -> admin_pb2.VerifyProblemKind.ValueType:
    """Domain problem kind -> VerifyProblemKind (``count`` -> ``VERIFY_PROBLEM_KIND_COUNT``)."""
    return admin_pb2.VerifyProblemKind.Value(f"VERIFY_PROBLEM_KIND_{kind.name}")


def to_proto_verify(report: VerifyReport) -> admin_pb2.VerifyResponse:
    """Domain verify report -> VerifyResponse."""
    problems = [
        admin_pb2.VerifyProblem(
            collection=p.collection,
            level=to_proto_level(p.level),
            kind=to_proto_problem_kind(p.kind),
            message=p.message,
        )
        for p in report.problems
    ]
    return admin_pb2.VerifyResponse(
        problems=problems,
        collections_checked=report.collections,
        levels_checked=report.levels,
        nodes_checked=report.nodes,
        vectors_compared=report.vectors,
        videos_checked=report.videos,
    )


def to_proto_snapshot(snapshot: Snapshot) -> admin_pb2.CreateSnapshotResponse:
    """Domain snapshot -> CreateSnapshotResponse."""
    files = [admin_pb2.SnapshotFile(path=f.path, size_bytes=f.size, sha256=f.sha256) for f in snapshot.files]
    return admin_pb2.CreateSnapshotResponse(
        destination_dir=str(snapshot.directory), commit_sequence=snapshot.commit_sequence, files=files
    )


_HIERARCHY_FIELDS = (
    "scene_penalty",
    "scene_min_ms",
    "scene_max_ms",
    "drive_attribute",
    "half_attribute",
    "half_count",
    "aggregator",
    "scene_dims",
    "scene_ridge",
    "drive_penalty",
    "drive_side_separation",
)


def from_proto_hierarchy(msg: hierarchy_pb2.HierarchyConfig) -> dict[str, Any]:
    """The fields a HierarchyConfig message sets, as overrides."""
    return {name: getattr(msg, name) for name in _HIERARCHY_FIELDS if msg.HasField(name)}


def to_proto_hierarchy(config: HierarchyConfig) -> hierarchy_pb2.HierarchyConfig:
    """A full domain config -> HierarchyConfig message (every field set)."""
    return hierarchy_pb2.HierarchyConfig(**{name: getattr(config, name) for name in _HIERARCHY_FIELDS})


def to_proto_operation(op: Operation) -> hierarchy_pb2.Operation:
    """Domain operation -> Operation message."""
    return hierarchy_pb2.Operation(
        name=op.name,
        done=op.done,
        progress=op.progress,
        total=op.total,
        error=op.error,
        description=op.description,
        skipped=list(op.skipped),
    )


def to_proto_get_node(node: t.Node, max_bytes: int = 0) -> graph_pb2.GetNodeResponse:
    """Node -> GetNodeResponse (refused past ``max_bytes``, field ``node_id``)."""
    nodes = NodeMessages(max_bytes, "node_id", GRAPH_ALONE_ADVICE)
    return nodes.done(graph_pb2.GetNodeResponse(node=nodes(node)))


def to_proto_children(kids: list[t.Node], token: str, max_bytes: int = 0) -> graph_pb2.ListChildrenResponse:
    """A page of children -> ListChildrenResponse (refused past ``max_bytes``, field ``page_size``)."""
    nodes = NodeMessages(max_bytes, "page_size", "ask for a smaller page_size")
    return nodes.done(graph_pb2.ListChildrenResponse(children=nodes.all(kids), next_page_token=token))


def to_proto_ancestors(found: list[t.Node], max_bytes: int = 0) -> graph_pb2.GetAncestorsResponse:
    """Ancestors, parent first -> GetAncestorsResponse (refused past ``max_bytes``, field
    ``node_id``: the answer's size is the node's depth)."""
    nodes = NodeMessages(max_bytes, "node_id", GRAPH_ALONE_ADVICE)
    return nodes.done(graph_pb2.GetAncestorsResponse(ancestors=nodes.all(found)))


def to_proto_neighbours(
    before: list[t.Node], after: list[t.Node], max_bytes: int = 0
) -> graph_pb2.GetNeighborsResponse:
    """Neighbours on each side -> GetNeighborsResponse (refused past ``max_bytes``, naming
    ``before`` or ``after``: the side being converted when the limit was passed)."""
    nodes = NodeMessages(max_bytes, "before", "ask for fewer nodes before and after")
    earlier = nodes.all(before)
    nodes.field = "after"  # both lists count against one message; the second names its field
    return nodes.done(graph_pb2.GetNeighborsResponse(before=earlier, after=nodes.all(after)))


def to_proto_subtree(items: list[tuple[t.Node, int]], max_bytes: int = 0) -> graph_pb2.GetSubtreeResponse:
    """Nodes with depths -> GetSubtreeResponse (refused past ``max_bytes``, field ``depth``)."""
    node = NodeMessages(max_bytes, "depth", "ask for a smaller depth, or page through ListChildren")
    return node.done(
        graph_pb2.GetSubtreeResponse(nodes=[graph_pb2.SubtreeNode(node=node(n), depth=d) for n, d in items])
    )


def to_proto_similar(items: list[tuple[t.Node, float]], max_bytes: int = 0) -> graph_pb2.FindSimilarResponse:
    """Nodes with similarities -> FindSimilarResponse (refused past ``max_bytes``, field
    ``top_k``)."""
    node = NodeMessages(max_bytes, "top_k", "ask for fewer nodes")
    return node.done(
        graph_pb2.FindSimilarResponse(nodes=[graph_pb2.SimilarNode(node=node(n), similarity=s) for n, s in items])
    )
