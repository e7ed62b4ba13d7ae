from service.gen.strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetStatsRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class LevelStats(_message.Message):
    __slots__ = ("level", "node_count", "indexed_count", "indexed_sequence", "exact")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    NODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    INDEXED_COUNT_FIELD_NUMBER: _ClassVar[int]
    INDEXED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    level: _common_pb2.Level
    node_count: int
    indexed_count: int
    indexed_sequence: int
    exact: bool
    def __init__(self, level: _Optional[_Union[_common_pb2.Level, str]] = ..., node_count: _Optional[int] = ..., indexed_count: _Optional[int] = ..., indexed_sequence: _Optional[int] = ..., exact: _Optional[bool] = ...) -> None: ...

class CollectionStats(_message.Message):
    __slots__ = ("name", "video_count", "levels")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VIDEO_COUNT_FIELD_NUMBER: _ClassVar[int]
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    video_count: int
    levels: _containers.RepeatedCompositeFieldContainer[LevelStats]
    def __init__(self, name: _Optional[str] = ..., video_count: _Optional[int] = ..., levels: _Optional[_Iterable[_Union[LevelStats, _Mapping]]] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("collections", "commit_sequence", "disk_bytes", "version")
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[CollectionStats]
    commit_sequence: int
    disk_bytes: int
    version: str
    def __init__(self, collections: _Optional[_Iterable[_Union[CollectionStats, _Mapping]]] = ..., commit_sequence: _Optional[int] = ..., disk_bytes: _Optional[int] = ..., version: _Optional[str] = ...) -> None: ...
