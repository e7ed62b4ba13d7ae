from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Level(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEVEL_UNSPECIFIED: _ClassVar[Level]
    LEVEL_SEGMENT: _ClassVar[Level]
    LEVEL_SCENE: _ClassVar[Level]
    LEVEL_DRIVE: _ClassVar[Level]
    LEVEL_HALF: _ClassVar[Level]
    LEVEL_VIDEO: _ClassVar[Level]

class Metric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRIC_UNSPECIFIED: _ClassVar[Metric]
    METRIC_COSINE: _ClassVar[Metric]
    METRIC_INNER_PRODUCT: _ClassVar[Metric]
    METRIC_L2_SQUARED: _ClassVar[Metric]
LEVEL_UNSPECIFIED: Level
LEVEL_SEGMENT: Level
LEVEL_SCENE: Level
LEVEL_DRIVE: Level
LEVEL_HALF: Level
LEVEL_VIDEO: Level
METRIC_UNSPECIFIED: Metric
METRIC_COSINE: Metric
METRIC_INNER_PRODUCT: Metric
METRIC_L2_SQUARED: Metric

class Vector(_message.Message):
    __slots__ = ("data", "dimension")
    DATA_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    dimension: int
    def __init__(self, data: _Optional[bytes] = ..., dimension: _Optional[int] = ...) -> None: ...

class TimeRange(_message.Message):
    __slots__ = ("start_ms", "end_ms")
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    start_ms: int
    end_ms: int
    def __init__(self, start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("id", "level", "video_id", "start_ms", "end_ms", "parent_id", "text", "labels", "attributes", "child_count", "label_counts", "shot_cut")
    class LabelCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    END_MS_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CHILD_COUNT_FIELD_NUMBER: _ClassVar[int]
    LABEL_COUNTS_FIELD_NUMBER: _ClassVar[int]
    SHOT_CUT_FIELD_NUMBER: _ClassVar[int]
    id: str
    level: Level
    video_id: str
    start_ms: int
    end_ms: int
    parent_id: str
    text: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    attributes: _struct_pb2.Struct
    child_count: int
    label_counts: _containers.ScalarMap[str, int]
    shot_cut: bool
    def __init__(self, id: _Optional[str] = ..., level: _Optional[_Union[Level, str]] = ..., video_id: _Optional[str] = ..., start_ms: _Optional[int] = ..., end_ms: _Optional[int] = ..., parent_id: _Optional[str] = ..., text: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., child_count: _Optional[int] = ..., label_counts: _Optional[_Mapping[str, int]] = ..., shot_cut: _Optional[bool] = ...) -> None: ...
