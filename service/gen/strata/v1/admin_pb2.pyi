from service.gen.strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerifyProblemKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFY_PROBLEM_KIND_UNSPECIFIED: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_COUNT: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_WATERMARK: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_MISSING_FROM_INDEX: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_MISSING_FROM_STORE: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_VECTOR: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_PARENT: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_SPAN: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_OVERLAP: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_CONTIGUITY: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_CHILD_COUNT: _ClassVar[VerifyProblemKind]
    VERIFY_PROBLEM_KIND_ROOT: _ClassVar[VerifyProblemKind]
VERIFY_PROBLEM_KIND_UNSPECIFIED: VerifyProblemKind
VERIFY_PROBLEM_KIND_COUNT: VerifyProblemKind
VERIFY_PROBLEM_KIND_WATERMARK: VerifyProblemKind
VERIFY_PROBLEM_KIND_MISSING_FROM_INDEX: VerifyProblemKind
VERIFY_PROBLEM_KIND_MISSING_FROM_STORE: VerifyProblemKind
VERIFY_PROBLEM_KIND_VECTOR: VerifyProblemKind
VERIFY_PROBLEM_KIND_PARENT: VerifyProblemKind
VERIFY_PROBLEM_KIND_SPAN: VerifyProblemKind
VERIFY_PROBLEM_KIND_OVERLAP: VerifyProblemKind
VERIFY_PROBLEM_KIND_CONTIGUITY: VerifyProblemKind
VERIFY_PROBLEM_KIND_CHILD_COUNT: VerifyProblemKind
VERIFY_PROBLEM_KIND_ROOT: VerifyProblemKind

class GetStatsRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class LevelStats(_message.Message):
    __slots__ = ("level", "node_count", "indexed_count", "indexed_sequence", "exact", "unlinked_count")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    NODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    INDEXED_COUNT_FIELD_NUMBER: _ClassVar[int]
    INDEXED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    UNLINKED_COUNT_FIELD_NUMBER: _ClassVar[int]
    level: _common_pb2.Level
    node_count: int
    indexed_count: int
    indexed_sequence: int
    exact: bool
    unlinked_count: int
    def __init__(self, level: _Optional[_Union[_common_pb2.Level, str]] = ..., node_count: _Optional[int] = ..., indexed_count: _Optional[int] = ..., indexed_sequence: _Optional[int] = ..., exact: _Optional[bool] = ..., unlinked_count: _Optional[int] = ...) -> None: ...

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

class VerifyRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class VerifyProblem(_message.Message):
    __slots__ = ("collection", "level", "kind", "message")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    level: _common_pb2.Level
    kind: VerifyProblemKind
    message: str
    def __init__(self, collection: _Optional[str] = ..., level: _Optional[_Union[_common_pb2.Level, str]] = ..., kind: _Optional[_Union[VerifyProblemKind, str]] = ..., message: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("problems", "collections_checked", "levels_checked", "nodes_checked", "vectors_compared", "videos_checked")
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    COLLECTIONS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    LEVELS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    NODES_CHECKED_FIELD_NUMBER: _ClassVar[int]
    VECTORS_COMPARED_FIELD_NUMBER: _ClassVar[int]
    VIDEOS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    problems: _containers.RepeatedCompositeFieldContainer[VerifyProblem]
    collections_checked: int
    levels_checked: int
    nodes_checked: int
    vectors_compared: int
    videos_checked: int
    def __init__(self, problems: _Optional[_Iterable[_Union[VerifyProblem, _Mapping]]] = ..., collections_checked: _Optional[int] = ..., levels_checked: _Optional[int] = ..., nodes_checked: _Optional[int] = ..., vectors_compared: _Optional[int] = ..., videos_checked: _Optional[int] = ...) -> None: ...

class CreateSnapshotRequest(_message.Message):
    __slots__ = ("destination_dir",)
    DESTINATION_DIR_FIELD_NUMBER: _ClassVar[int]
    destination_dir: str
    def __init__(self, destination_dir: _Optional[str] = ...) -> None: ...

class SnapshotFile(_message.Message):
    __slots__ = ("path", "size_bytes", "sha256")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    path: str
    size_bytes: int
    sha256: str
    def __init__(self, path: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class CreateSnapshotResponse(_message.Message):
    __slots__ = ("destination_dir", "commit_sequence", "files")
    DESTINATION_DIR_FIELD_NUMBER: _ClassVar[int]
    COMMIT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    destination_dir: str
    commit_sequence: int
    files: _containers.RepeatedCompositeFieldContainer[SnapshotFile]
    def __init__(self, destination_dir: _Optional[str] = ..., commit_sequence: _Optional[int] = ..., files: _Optional[_Iterable[_Union[SnapshotFile, _Mapping]]] = ...) -> None: ...
