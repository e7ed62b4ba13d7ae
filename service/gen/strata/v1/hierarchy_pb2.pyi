from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HierarchyConfig(_message.Message):
    __slots__ = ("scene_penalty", "scene_min_ms", "scene_max_ms", "drive_attribute", "half_attribute", "half_count", "aggregator", "scene_dims", "scene_ridge", "drive_penalty", "drive_side_separation")
    SCENE_PENALTY_FIELD_NUMBER: _ClassVar[int]
    SCENE_MIN_MS_FIELD_NUMBER: _ClassVar[int]
    SCENE_MAX_MS_FIELD_NUMBER: _ClassVar[int]
    DRIVE_ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    HALF_ATTRIBUTE_FIELD_NUMBER: _ClassVar[int]
    HALF_COUNT_FIELD_NUMBER: _ClassVar[int]
    AGGREGATOR_FIELD_NUMBER: _ClassVar[int]
    SCENE_DIMS_FIELD_NUMBER: _ClassVar[int]
    SCENE_RIDGE_FIELD_NUMBER: _ClassVar[int]
    DRIVE_PENALTY_FIELD_NUMBER: _ClassVar[int]
    DRIVE_SIDE_SEPARATION_FIELD_NUMBER: _ClassVar[int]
    scene_penalty: float
    scene_min_ms: int
    scene_max_ms: int
    drive_attribute: str
    half_attribute: str
    half_count: int
    aggregator: str
    scene_dims: int
    scene_ridge: float
    drive_penalty: float
    drive_side_separation: float
    def __init__(self, scene_penalty: _Optional[float] = ..., scene_min_ms: _Optional[int] = ..., scene_max_ms: _Optional[int] = ..., drive_attribute: _Optional[str] = ..., half_attribute: _Optional[str] = ..., half_count: _Optional[int] = ..., aggregator: _Optional[str] = ..., scene_dims: _Optional[int] = ..., scene_ridge: _Optional[float] = ..., drive_penalty: _Optional[float] = ..., drive_side_separation: _Optional[float] = ...) -> None: ...

class BuildHierarchyRequest(_message.Message):
    __slots__ = ("collection", "video_ids", "config")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VIDEO_IDS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    collection: str
    video_ids: _containers.RepeatedScalarFieldContainer[str]
    config: HierarchyConfig
    def __init__(self, collection: _Optional[str] = ..., video_ids: _Optional[_Iterable[str]] = ..., config: _Optional[_Union[HierarchyConfig, _Mapping]] = ...) -> None: ...

class BuildHierarchyResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    def __init__(self, operation: _Optional[_Union[Operation, _Mapping]] = ...) -> None: ...

class Operation(_message.Message):
    __slots__ = ("name", "done", "progress", "total", "error", "description", "skipped")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    name: str
    done: bool
    progress: int
    total: int
    error: str
    description: str
    skipped: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., done: _Optional[bool] = ..., progress: _Optional[int] = ..., total: _Optional[int] = ..., error: _Optional[str] = ..., description: _Optional[str] = ..., skipped: _Optional[_Iterable[str]] = ...) -> None: ...

class GetOperationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetOperationResponse(_message.Message):
    __slots__ = ("operation",)
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    operation: Operation
    def __init__(self, operation: _Optional[_Union[Operation, _Mapping]] = ...) -> None: ...
