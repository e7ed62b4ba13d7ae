import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from service.gen.strata.v1 import common_pb2 as _common_pb2
from service.gen.strata.v1 import hierarchy_pb2 as _hierarchy_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EmbeddingSpace(_message.Message):
    __slots__ = ("dimension", "metric", "model_name", "model_version", "text_encoder")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEXT_ENCODER_FIELD_NUMBER: _ClassVar[int]
    dimension: int
    metric: _common_pb2.Metric
    model_name: str
    model_version: str
    text_encoder: str
    def __init__(self, dimension: _Optional[int] = ..., metric: _Optional[_Union[_common_pb2.Metric, str]] = ..., model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., text_encoder: _Optional[str] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("name", "space", "create_time", "video_count", "segment_count", "hierarchy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    VIDEO_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    HIERARCHY_FIELD_NUMBER: _ClassVar[int]
    name: str
    space: EmbeddingSpace
    create_time: _timestamp_pb2.Timestamp
    video_count: int
    segment_count: int
    hierarchy: _hierarchy_pb2.HierarchyConfig
    def __init__(self, name: _Optional[str] = ..., space: _Optional[_Union[EmbeddingSpace, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., video_count: _Optional[int] = ..., segment_count: _Optional[int] = ..., hierarchy: _Optional[_Union[_hierarchy_pb2.HierarchyConfig, _Mapping]] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("name", "space", "hierarchy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    HIERARCHY_FIELD_NUMBER: _ClassVar[int]
    name: str
    space: EmbeddingSpace
    hierarchy: _hierarchy_pb2.HierarchyConfig
    def __init__(self, name: _Optional[str] = ..., space: _Optional[_Union[EmbeddingSpace, _Mapping]] = ..., hierarchy: _Optional[_Union[_hierarchy_pb2.HierarchyConfig, _Mapping]] = ...) -> None: ...

class CreateCollectionResponse(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: Collection
    def __init__(self, collection: _Optional[_Union[Collection, _Mapping]] = ...) -> None: ...

class GetCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetCollectionResponse(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: Collection
    def __init__(self, collection: _Optional[_Union[Collection, _Mapping]] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections", "next_page_token")
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[Collection]
    next_page_token: str
    def __init__(self, collections: _Optional[_Iterable[_Union[Collection, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteCollectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
