from google.protobuf import struct_pb2 as _struct_pb2
from service.gen.strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Segment(_message.Message):
    __slots__ = ("id", "video_id", "start_ms", "end_ms", "vector", "text", "labels", "attributes", "shot_cut")
    ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    SHOT_CUT_FIELD_NUMBER: _ClassVar[int]
    id: str
    video_id: str
    start_ms: int
    end_ms: int
    vector: _common_pb2.Vector
    text: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    attributes: _struct_pb2.Struct
    shot_cut: bool
    def __init__(self, id: _Optional[str] = ..., video_id: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., vector: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ..., text: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., shot_cut: _Optional[bool] = ...) -> None: ...

class AppendSegmentsRequest(_message.Message):
    __slots__ = ("collection", "request_id", "segments")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    request_id: str
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    def __init__(self, collection: _Optional[str] = ..., request_id: _Optional[str] = ..., segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ...) -> None: ...

class AppendSegmentsResponse(_message.Message):
    __slots__ = ("segment_ids", "commit_sequence", "replayed")
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    segment_ids: _containers.RepeatedScalarFieldContainer[str]
    commit_sequence: int
    replayed: bool
    def __init__(self, segment_ids: _Optional[_Iterable[str]] = ..., commit_sequence: _Optional[int] = ..., replayed: _Optional[bool] = ...) -> None: ...

class StreamAppendSegmentsRequest(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: AppendSegmentsRequest
    def __init__(self, batch: _Optional[_Union[AppendSegmentsRequest, _Mapping]] = ...) -> None: ...

class StreamAppendSegmentsResponse(_message.Message):
    __slots__ = ("batch_count", "segment_count", "last_commit_sequence")
    BATCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_COMMIT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    batch_count: int
    segment_count: int
    last_commit_sequence: int
    def __init__(self, batch_count: _Optional[int] = ..., segment_count: _Optional[int] = ..., last_commit_sequence: _Optional[int] = ...) -> None: ...
