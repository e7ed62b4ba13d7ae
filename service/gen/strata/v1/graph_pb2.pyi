from service.gen.strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetNodeRequest(_message.Message):
    __slots__ = ("collection", "node_id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    node_id: str
    def __init__(self, collection: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class GetNodeResponse(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: _common_pb2.Node
    def __init__(self, node: _Optional[_Union[_common_pb2.Node, _Mapping]] = ...) -> None: ...

class ListChildrenRequest(_message.Message):
    __slots__ = ("collection", "node_id", "page_size", "page_token")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    collection: str
    node_id: str
    page_size: int
    page_token: str
    def __init__(self, collection: _Optional[str] = ..., node_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListChildrenResponse(_message.Message):
    __slots__ = ("children", "next_page_token")
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    children: _containers.RepeatedCompositeFieldContainer[_common_pb2.Node]
    next_page_token: str
    def __init__(self, children: _Optional[_Iterable[_Union[_common_pb2.Node, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetAncestorsRequest(_message.Message):
    __slots__ = ("collection", "node_id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    node_id: str
    def __init__(self, collection: _Optional[str] = ..., node_id: _Optional[str] = ...) -> None: ...

class GetAncestorsResponse(_message.Message):
    __slots__ = ("ancestors",)
    ANCESTORS_FIELD_NUMBER: _ClassVar[int]
    ancestors: _containers.RepeatedCompositeFieldContainer[_common_pb2.Node]
    def __init__(self, ancestors: _Optional[_Iterable[_Union[_common_pb2.Node, _Mapping]]] = ...) -> None: ...

class GetNeighborsRequest(_message.Message):
    __slots__ = ("collection", "node_id", "before", "after")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    collection: str
    node_id: str
    before: int
    after: int
    def __init__(self, collection: _Optional[str] = ..., node_id: _Optional[str] = ..., before: _Optional[int] = ..., after: _Optional[int] = ...) -> None: ...

class GetNeighborsResponse(_message.Message):
    __slots__ = ("before", "after")
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    before: _containers.RepeatedCompositeFieldContainer[_common_pb2.Node]
    after: _containers.RepeatedCompositeFieldContainer[_common_pb2.Node]
    def __init__(self, before: _Optional[_Iterable[_Union[_common_pb2.Node, _Mapping]]] = ..., after: _Optional[_Iterable[_Union[_common_pb2.Node, _Mapping]]] = ...) -> None: ...

class GetSubtreeRequest(_message.Message):
    __slots__ = ("collection", "node_id", "depth")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    collection: str
    node_id: str
    depth: int
    def __init__(self, collection: _Optional[str] = ..., node_id: _Optional[str] = ..., depth: _Optional[int] = ...) -> None: ...

class SubtreeNode(_message.Message):
    __slots__ = ("node", "depth")
    NODE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    node: _common_pb2.Node
    depth: int
    def __init__(self, node: _Optional[_Union[_common_pb2.Node, _Mapping]] = ..., depth: _Optional[int] = ...) -> None: ...

class GetSubtreeResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[SubtreeNode]
    def __init__(self, nodes: _Optional[_Iterable[_Union[SubtreeNode, _Mapping]]] = ...) -> None: ...

class FindSimilarRequest(_message.Message):
    __slots__ = ("collection", "node_id", "top_k")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    collection: str
    node_id: str
    top_k: int
    def __init__(self, collection: _Optional[str] = ..., node_id: _Optional[str] = ..., top_k: _Optional[int] = ...) -> None: ...

class SimilarNode(_message.Message):
    __slots__ = ("node", "similarity")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    node: _common_pb2.Node
    similarity: float
    def __init__(self, node: _Optional[_Union[_common_pb2.Node, _Mapping]] = ..., similarity: _Optional[float] = ...) -> None: ...

class FindSimilarResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[SimilarNode]
    def __init__(self, nodes: _Optional[_Iterable[_Union[SimilarNode, _Mapping]]] = ...) -> None: ...
