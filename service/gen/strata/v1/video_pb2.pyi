import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from service.gen.strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VideoState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIDEO_STATE_UNSPECIFIED: _ClassVar[VideoState]
    VIDEO_STATE_OPEN: _ClassVar[VideoState]
    VIDEO_STATE_SEALED: _ClassVar[VideoState]
VIDEO_STATE_UNSPECIFIED: VideoState
VIDEO_STATE_OPEN: VideoState
VIDEO_STATE_SEALED: VideoState

class Video(_message.Message):
    __slots__ = ("id", "collection", "duration_ms", "attributes", "state", "segment_count", "create_time", "hints")
    ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    HINTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    collection: str
    duration_ms: int
    attributes: _struct_pb2.Struct
    state: VideoState
    segment_count: int
    create_time: _timestamp_pb2.Timestamp
    hints: _containers.RepeatedCompositeFieldContainer[StructureHint]
    def __init__(self, id: _Optional[str] = ..., collection: _Optional[str] = ..., duration_ms: _Optional[int] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., state: _Optional[_Union[VideoState, str]] = ..., segment_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hints: _Optional[_Iterable[_Union[StructureHint, _Mapping]]] = ...) -> None: ...

class CreateVideoRequest(_message.Message):
    __slots__ = ("collection", "video_id", "duration_ms", "attributes", "hints")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    HINTS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    video_id: str
    duration_ms: int
    attributes: _struct_pb2.Struct
    hints: _containers.RepeatedCompositeFieldContainer[StructureHint]
    def __init__(self, collection: _Optional[str] = ..., video_id: _Optional[str] = ..., duration_ms: _Optional[int] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., hints: _Optional[_Iterable[_Union[StructureHint, _Mapping]]] = ...) -> None: ...

class StructureHint(_message.Message):
    __slots__ = ("level", "cut_ms")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CUT_MS_FIELD_NUMBER: _ClassVar[int]
    level: _common_pb2.Level
    cut_ms: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, level: _Optional[_Union[_common_pb2.Level, str]] = ..., cut_ms: _Optional[_Iterable[int]] = ...) -> None: ...

class CreateVideoResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: Video
    def __init__(self, video: _Optional[_Union[Video, _Mapping]] = ...) -> None: ...

class GetVideoRequest(_message.Message):
    __slots__ = ("collection", "video_id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    video_id: str
    def __init__(self, collection: _Optional[str] = ..., video_id: _Optional[str] = ...) -> None: ...

class GetVideoResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: Video
    def __init__(self, video: _Optional[_Union[Video, _Mapping]] = ...) -> None: ...

class ListVideosRequest(_message.Message):
    __slots__ = ("collection", "page_size", "page_token")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    collection: str
    page_size: int
    page_token: str
    def __init__(self, collection: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVideosResponse(_message.Message):
    __slots__ = ("videos", "next_page_token")
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[Video]
    next_page_token: str
    def __init__(self, videos: _Optional[_Iterable[_Union[Video, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteVideoRequest(_message.Message):
    __slots__ = ("collection", "video_id", "only_if_empty")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    ONLY_IF_EMPTY_FIELD_NUMBER: _ClassVar[int]
    collection: str
    video_id: str
    only_if_empty: bool
    def __init__(self, collection: _Optional[str] = ..., video_id: _Optional[str] = ..., only_if_empty: _Optional[bool] = ...) -> None: ...

class DeleteVideoResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SealVideoRequest(_message.Message):
    __slots__ = ("collection", "video_id", "hints")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    HINTS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    video_id: str
    hints: _containers.RepeatedCompositeFieldContainer[StructureHint]
    def __init__(self, collection: _Optional[str] = ..., video_id: _Optional[str] = ..., hints: _Optional[_Iterable[_Union[StructureHint, _Mapping]]] = ...) -> None: ...

class SealVideoResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: Video
    def __init__(self, video: _Optional[_Union[Video, _Mapping]] = ...) -> None: ...

class ReopenVideoRequest(_message.Message):
    __slots__ = ("collection", "video_id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    video_id: str
    def __init__(self, collection: _Optional[str] = ..., video_id: _Optional[str] = ...) -> None: ...

class ReopenVideoResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: Video
    def __init__(self, video: _Optional[_Union[Video, _Mapping]] = ...) -> None: ...
