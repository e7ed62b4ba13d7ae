"""Every RPC fuzzed through the real servicers on a loopback server.

Two kinds of input per RPC: well-typed requests whose fields take adversarial values
(empty, huge and unicode strings; negative and extreme integers; NaN and infinity;
unknown enum numbers; odd-sized repeated fields; vectors of the wrong dimension or of
garbage bytes), and garbage bytes in place of the serialized request. Whatever comes in,
the server never answers INTERNAL or UNKNOWN, an INVALID_ARGUMENT names the field, the
server stays healthy, and a refused write leaves the store as it was.

Requests are generated from the message descriptors, so a field added to the API is
fuzzed without touching this file; string fields that name things draw from the ids the
fixture holds half of the time, so requests get past the first check into the core.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.client import StrataClient
from service.gen.strata.v1 import (
    admin_pb2,
    collection_pb2,
    graph_pb2,
    hierarchy_pb2,
    search_pb2,
    segment_pb2,
    video_pb2,
)
from service.server import StrataServer
from tests.service.conftest import DIM, rows, start_server, unit_vectors

WELL_TYPED_EXAMPLES = 40
GARBAGE_EXAMPLES = 20
CALL_TIMEOUT = 30.0
FUZZ = "fuzz"  # the collection the fixture fills; never deleted
SEALED, OPEN = "sealed", "open"
MODULES = (collection_pb2, video_pb2, segment_pb2, search_pb2, hierarchy_pb2, graph_pb2, admin_pb2)
WRITES = {
    "CreateCollection",
    "DeleteCollection",
    "CreateVideo",
    "DeleteVideo",
    "SealVideo",
    "ReopenVideo",
    "AppendSegments",
    "StreamAppendSegments",
    "BuildHierarchy",
}
# Server faults, and RESOURCE_EXHAUSTED: the generated batches are far below every limit,
# so it could only mean a status too large for its trailers.
NEVER = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DATA_LOSS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


# -- the RPCs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rpc:
    """One method of the API, as the fuzzer calls it."""

    method: MethodDescriptor

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def request_type(self) -> Descriptor:
        return self.method.input_type


def every_rpc() -> list[Rpc]:
    """Every method of every service of the API."""
    return [
        Rpc(method)
        for module in MODULES
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


RPCS = every_rpc()


# -- adversarial values ---------------------------------------------------------------------------

ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "\n",
    "a" * 64,
    "a" * 65,
    "x" * 128,
    "x" * 129,
    "é" * 70,
    "🎬" * 40,
    "y" * 70_000,
    "/",
    ".",
    "..",
    "../etc",
    "v1/scene/-1",
    "v1/bogus/0",
    "v1@-5",
    "'; DROP TABLE nodes; --",
    '$."x"',
    "operations/",
]
TEXT = st.one_of(st.text(max_size=24), st.sampled_from(ODD_STRINGS))


def adversarial_ints(bits: int, signed: bool) -> st.SearchStrategy[int]:
    """Integers of a protobuf type, with its edges and the usual suspects drawn often."""
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    edges = [v for v in (0, 1, -1, 2, 10, 1000, 1001, 2**31 - 1, 2**53 + 1, low, high) if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


INT_TYPES = {
    FieldDescriptor.TYPE_INT32: (32, True),
    FieldDescriptor.TYPE_SINT32: (32, True),
    FieldDescriptor.TYPE_SFIXED32: (32, True),
    FieldDescriptor.TYPE_INT64: (64, True),
    FieldDescriptor.TYPE_SINT64: (64, True),
    FieldDescriptor.TYPE_SFIXED64: (64, True),
    FieldDescriptor.TYPE_UINT32: (32, False),
    FieldDescriptor.TYPE_FIXED32: (32, False),
    FieldDescriptor.TYPE_UINT64: (64, False),
    FieldDescriptor.TYPE_FIXED64: (64, False),
}


def enum_values(enum: EnumDescriptor) -> st.SearchStrategy[int]:
    """Known numbers of an enum, and unknown ones sent as raw ints."""
    return st.one_of(st.sampled_from([v.number for v in enum.values]), st.integers(-(2**31), 2**31 - 1))


def json_values() -> st.SearchStrategy[Any]:
    """What a Struct can carry, NaN and infinity included."""
    leaves = st.one_of(st.none(), st.booleans(), st.floats(), st.text(max_size=12))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
        max_leaves=8,
    )


def structs() -> st.SearchStrategy[struct_pb2.Struct]:
    def build(values: dict[str, Any]) -> struct_pb2.Struct:
        msg = struct_pb2.Struct()
        msg.update(values)
        return msg

    keys = st.one_of(st.sampled_from(["team", "period", ""]), st.text(max_size=10))
    return st.dictionaries(keys, json_values(), max_size=4).map(build)


def vector_bytes() -> st.SearchStrategy[bytes]:
    """Packed float32 vectors: right and wrong dimensions, NaN and infinity, stray bytes."""
    floats = st.floats(width=32)
    right = st.lists(floats, min_size=DIM, max_size=DIM)
    wrong = st.lists(floats, max_size=2 * DIM + 1)
    packed = st.one_of(right, wrong).map(lambda v: np.asarray(v, "<f4").tobytes())
    unit = st.integers(0, 2**16).map(lambda seed: unit_vectors(1, seed)[0].astype("<f4").tobytes())
    return st.one_of(unit, packed, st.binary(max_size=2 * DIM * 4 + 3))


def vectors() -> st.SearchStrategy[Message]:
    from service.gen.strata.v1 import common_pb2

    dims = st.one_of(st.sampled_from([0, DIM, DIM + 1, 2**32 - 1]), adversarial_ints(32, False))
    return st.builds(lambda data, dim: common_pb2.Vector(data=data, dimension=dim), vector_bytes(), dims)


SPECIAL_MESSAGES: dict[str, Callable[[], st.SearchStrategy[Message]]] = {
    "google.protobuf.Struct": structs,
    "strata.v1.Vector": vectors,
}


# -- requests from descriptors ---------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """Ids the fixture holds, the ones a method may not touch (it would destroy the fixture),
    and fields whose values are drawn from a strategy of their own."""

    values: dict[str, list[str]]
    protected: dict[str, set[str]]
    own: dict[str, st.SearchStrategy[str]]


def scalar_strategy(field: FieldDescriptor, rpc: str, known: Known) -> st.SearchStrategy[Any]:
    """Values for one non-message field."""
    if field.name in known.own:
        return known.own[field.name]
    if field.type == FieldDescriptor.TYPE_STRING:
        pool = [v for v in known.values.get(field.name, []) if v not in known.protected.get(rpc, set())]
        text = TEXT.filter(lambda s: s not in known.protected.get(rpc, set()))
        return st.one_of(st.sampled_from(pool), text) if pool else text
    if field.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if field.type == FieldDescriptor.TYPE_DOUBLE:
        return st.one_of(st.sampled_from([0.0, 0.5, 1.0, 3.0, -1.0]), st.floats())
    if field.type == FieldDescriptor.TYPE_FLOAT:
        return st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(width=32))
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_values(field.enum_type)
    return adversarial_ints(*INT_TYPES[field.type])


def field_strategy(field: FieldDescriptor, rpc: str, known: Known, depth: int) -> st.SearchStrategy[Any]:
    """Values for one field; repeated fields are lists of odd sizes."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        one = message_strategy(field.message_type, rpc, known, depth + 1)
    else:
        one = scalar_strategy(field, rpc, known)
    if field.is_repeated:
        return st.lists(one, max_size=5 if depth < 2 else 2)
    return one


def message_strategy(desc: Descriptor, rpc: str, known: Known, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of type ``desc`` with any subset of their fields set to adversarial values."""
    if desc.full_name in SPECIAL_MESSAGES:
        return SPECIAL_MESSAGES[desc.full_name]()
    cls = GetMessageClass(desc)
    fields = {f.name: field_strategy(f, rpc, known, depth) for f in desc.fields if depth < 4}
    return st.fixed_dictionaries({}, optional=fields).map(lambda values: build(cls, values))


def build(cls: type[Message], values: dict[str, Any]) -> Message:
    """A message of ``cls`` with ``values`` set (repeated fields extended, messages copied)."""
    msg = cls()
    for name, value in values.items():
        field = cls.DESCRIPTOR.fields_by_name[name]
        if field.is_repeated:
            getattr(msg, name).extend(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(msg, name).CopyFrom(value)
        else:
            setattr(msg, name, value)
    return msg


# -- the server under test -------------------------------------------------------------------


@dataclass
class Target:
    """The fuzzed server, a channel to it, and the ids its data holds."""

    server: StrataServer
    channel: grpc.Channel
    known: Known


def page_tokens(client: StrataClient) -> list[str]:
    """Real next-page tokens of every paged RPC, and tokens that decode but lie."""
    listed = client.collections.ListCollections(collection_pb2.ListCollectionsRequest(page_size=1))
    videos = client.videos.ListVideos(video_pb2.ListVideosRequest(collection=FUZZ, page_size=1))
    kids = client.graph.ListChildren(
        graph_pb2.ListChildrenRequest(collection=FUZZ, node_id=f"{SEALED}/scene/0", page_size=1)
    )
    query = search_pb2.SearchRequest(collection=FUZZ, top_k=1, granularity=search_pb2.GRANULARITY_SEGMENT)
    query.vector.data, query.vector.dimension = unit_vectors(1)[0].astype("<f4").tobytes(), DIM
    found = client.searcher.Search(query)
    lying = [
        base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
        for body in ({"p": -5, "d": "x"}, {"p": "a", "d": "collections"}, {"p": [1]}, [1, 2], "x", {"p": 10**30})
    ]
    real = [listed.next_page_token, videos.next_page_token, kids.next_page_token, found.next_page_token]
    return [t for t in real if t] + lying + ["!!!", "=" * 9, "e30"]


def directories(data_dir: Path) -> st.SearchStrategy[str]:
    """Directories on this machine to name as a destination: relative paths, and absolute
    ones only inside the test's own temporary directory (a fuzzer must not write elsewhere)."""
    full = data_dir.parent / "full"
    full.mkdir(exist_ok=True)
    (full / "file").write_text("x")
    inside = [data_dir, data_dir / "indexes", full, full / "file", data_dir.parent / "fresh" / "snapshot"]
    relative = TEXT.filter(lambda s: not s.startswith(("/", "~")))
    return st.one_of(st.sampled_from([str(p) for p in inside]), relative)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A server holding collection ``fuzz``: a sealed video with its tree and an open one."""
    server = start_server(tmp_path_factory.mktemp("fuzz") / "data")
    with StrataClient(server.address, timeout=60) as client:
        client.create_collection(FUZZ, dimension=DIM)
        client.create_collection("other", dimension=DIM, metric="l2sq")
        client.create_video(FUZZ, SEALED, duration_ms=200_000)
        client.append_segments(FUZZ, rows(SEALED, unit_vectors(60, seed=1)), request_id="first")
        client.seal_video(FUZZ, SEALED)
        client.create_video(FUZZ, OPEN)
        client.append_segments(FUZZ, rows(OPEN, unit_vectors(10, seed=2)))
        nodes = [f"{SEALED}@0", f"{SEALED}@2000", f"{OPEN}@0", f"{SEALED}/video/0", f"{SEALED}/half/0"]
        nodes += [f"{SEALED}/drive/0", f"{SEALED}/scene/0", f"{SEALED}/scene/99999"]
        values = {
            "collection": [FUZZ, "other", "ghost"],
            "name": [FUZZ, "other", "ghost", "operations/ghost"],
            "video_id": [SEALED, OPEN, "ghost"],
            "video_ids": [SEALED, OPEN],
            "node_id": nodes,
            "page_token": page_tokens(client),
            "request_id": ["first", "r-1"],
            "labels": ["pass", "shot"],
            "key": ["team", "period", "bad key", ""],
            "equals_string": ["home"],
            "text": ["first half with multiple passes", "the second scene", "segment 3"],
            "drive_attribute": ["team"],
            "aggregator": ["mean", "uniform", "median"],
            "text_encoder": ["", ".", "/", "no/such/model"],  # folders without a model, too
            "reranker": ["joint", "overlap", "none"],
        }
        protected = {"DeleteCollection": {FUZZ}, "DeleteVideo": {SEALED, OPEN}}
    channel = grpc.insecure_channel(server.address)
    yield Target(server, channel, Known(values, protected, {"destination_dir": directories(server.db.data_dir)}))
    channel.close()
    server.stop(0)


def snapshot(channel: grpc.Channel) -> tuple[bytes, list[str]]:
    """What a refused write must not change: stats (less disk use and linking progress, which
    background work moves: a build holds the linkers back for a second after it) and every
    collection's videos."""
    stats = channel.unary_unary(
        "/strata.v1.AdminService/GetStats",
        request_serializer=admin_pb2.GetStatsRequest.SerializeToString,
        response_deserializer=admin_pb2.GetStatsResponse.FromString,
    )(admin_pb2.GetStatsRequest(), timeout=CALL_TIMEOUT)
    stats.disk_bytes = 0
    for level in (level for coll in stats.collections for level in coll.levels):
        level.unlinked_count = 0
    videos = channel.unary_unary(
        "/strata.v1.VideoService/ListVideos",
        request_serializer=video_pb2.ListVideosRequest.SerializeToString,
        response_deserializer=video_pb2.ListVideosResponse.FromString,
    )(video_pb2.ListVideosRequest(collection=FUZZ, page_size=1000), timeout=CALL_TIMEOUT)
    return stats.SerializeToString(deterministic=True), [f"{v.id}:{v.state}:{v.segment_count}" for v in videos.videos]


def call(channel: grpc.Channel, rpc: Rpc, payload: Any, raw: bool) -> tuple[grpc.StatusCode, Any]:
    """Send one request (a message, a list of them for a client stream, or raw bytes)."""
    serialize = None if raw else (lambda m: m.SerializeToString())
    if rpc.method.client_streaming:
        stub = channel.stream_unary(rpc.path, request_serializer=serialize, response_deserializer=None)
        invoke = lambda: stub(iter(payload), timeout=CALL_TIMEOUT)  # noqa: E731
    else:
        stub = channel.unary_unary(rpc.path, request_serializer=serialize, response_deserializer=None)
        invoke = lambda: stub(payload, timeout=CALL_TIMEOUT)  # noqa: E731
    try:
        return grpc.StatusCode.OK, invoke()
    except grpc.RpcError as error:
        return error.code(), error  # type: ignore[attr-defined]


def violations(error: grpc.RpcError) -> list[str]:
    """Fields named by the BadRequest details of a failed call."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    named = []
    for detail in status.details if status else []:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            named += [v.field for v in bad.field_violations]
    return named


def settle(channel: grpc.Channel, rpc: Rpc, answer: bytes) -> None:
    """Wait for a started build to end, so later snapshots are not racing it."""
    if rpc.name != "BuildHierarchy":
        return
    name = hierarchy_pb2.BuildHierarchyResponse.FromString(answer).operation.name
    poll = channel.unary_unary(
        "/strata.v1.HierarchyService/GetOperation",
        request_serializer=hierarchy_pb2.GetOperationRequest.SerializeToString,
        response_deserializer=hierarchy_pb2.GetOperationResponse.FromString,
    )
    give_up = time.monotonic() + 60
    while time.monotonic() < give_up:
        op = poll(hierarchy_pb2.GetOperationRequest(name=name), timeout=CALL_TIMEOUT).operation
        if op.done:
            assert not op.error.startswith("internal error"), op.error
            return
        time.sleep(0.02)
    raise AssertionError(f"build {name} did not finish")


def check(target: Target, rpc: Rpc, payload: Any, raw: bool) -> None:
    """Send ``payload`` and hold the server to the promises in the module docstring."""
    # A stream's earlier batches stay written when a later one fails, so only a stream of
    # one message must leave the store untouched.
    atomic = rpc.name in WRITES and (not rpc.method.client_streaming or len(payload) == 1)
    before = snapshot(target.channel) if atomic else None
    code, answer = call(target.channel, rpc, payload, raw)
    assert code not in NEVER, f"{rpc.name} answered {code.name}: {getattr(answer, 'details', lambda: '')()}"
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        assert violations(answer), f"{rpc.name}: INVALID_ARGUMENT without a field: {answer.details()}"
    if code is grpc.StatusCode.OK:
        settle(target.channel, rpc, answer)
    elif before is not None:
        assert snapshot(target.channel) == before, f"refused {rpc.name} ({code.name}) changed the store"
    health = health_pb2_grpc.HealthStub(target.channel).Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_every_rpc_is_fuzzed() -> None:
    assert len(RPCS) == sum(len(s.methods) for m in MODULES for s in m.DESCRIPTOR.services_by_name.values())
    assert {"Search", "AppendSegments", "StreamAppendSegments", "GetStats", "FindSimilar"} <= {r.name for r in RPCS}


def test_the_known_ids_exist(target: Target) -> None:
    with StrataClient(target.server.address) as client:
        assert client.get_video(FUZZ, SEALED).state == video_pb2.VIDEO_STATE_SEALED
        assert client.get_node(FUZZ, f"{SEALED}/scene/0").level > 1
        assert all(client.get_node(FUZZ, node_id) for node_id in target.known.values["node_id"][:-1])


@pytest.mark.parametrize("streamed", [False, True], ids=["unary", "stream"])
def test_bytes_that_do_not_parse_are_invalid_argument_naming_the_request(target: Target, streamed: bool) -> None:
    name = "StreamAppendSegments" if streamed else "AppendSegments"
    rpc = next(r for r in RPCS if r.name == name)
    before = snapshot(target.channel)
    code, error = call(target.channel, rpc, [b"\xff\xff"] if streamed else b"\xff\xff", raw=True)
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert violations(error) == (["batch[0]"] if streamed else ["request"])  # a stream names the batch whole
    assert snapshot(target.channel) == before


FUZZ_SETTINGS = settings(
    max_examples=WELL_TYPED_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("rpc", RPCS, ids=lambda r: r.name)
@FUZZ_SETTINGS
@given(data=st.data())
def test_well_typed_requests_never_break_the_server(target: Target, rpc: Rpc, data: st.DataObject) -> None:
    strategy = message_strategy(rpc.request_type, rpc.name, target.known)
    payload = data.draw(st.lists(strategy, max_size=3) if rpc.method.client_streaming else strategy, label="request")
    check(target, rpc, payload, raw=False)


@pytest.mark.parametrize("rpc", RPCS, ids=lambda r: r.name)
@settings(FUZZ_SETTINGS, max_examples=GARBAGE_EXAMPLES)
@given(data=st.data())
def test_garbage_bytes_never_break_the_server(target: Target, rpc: Rpc, data: st.DataObject) -> None:
    one = st.one_of(st.binary(max_size=256), st.sampled_from([b"\xff" * 8, b"\x0a\xff\xff\xff\xff\x0f", b"\x08"]))
    payload = data.draw(st.lists(one, min_size=1, max_size=3) if rpc.method.client_streaming else one, label="bytes")
    check(target, rpc, payload, raw=True)
