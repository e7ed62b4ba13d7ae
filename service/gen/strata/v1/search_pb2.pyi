from service.gen.strata.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Granularity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GRANULARITY_UNSPECIFIED: _ClassVar[Granularity]
    GRANULARITY_AUTO: _ClassVar[Granularity]
    GRANULARITY_SEGMENT: _ClassVar[Granularity]
    GRANULARITY_SCENE: _ClassVar[Granularity]
    GRANULARITY_DRIVE: _ClassVar[Granularity]
    GRANULARITY_HALF: _ClassVar[Granularity]
    GRANULARITY_VIDEO: _ClassVar[Granularity]
    GRANULARITY_ALL: _ClassVar[Granularity]
GRANULARITY_UNSPECIFIED: Granularity
GRANULARITY_AUTO: Granularity
GRANULARITY_SEGMENT: Granularity
GRANULARITY_SCENE: Granularity
GRANULARITY_DRIVE: Granularity
GRANULARITY_HALF: Granularity
GRANULARITY_VIDEO: Granularity
GRANULARITY_ALL: Granularity

class Filter(_message.Message):
    __slots__ = ("video_ids", "time_range", "labels", "attributes")
    VIDEO_IDS_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    video_ids: _containers.RepeatedScalarFieldContainer[str]
    time_range: _common_pb2.TimeRange
    labels: _containers.RepeatedScalarFieldContainer[str]
    attributes: _containers.RepeatedCompositeFieldContainer[AttributeFilter]
    def __init__(self, video_ids: _Optional[_Iterable[str]] = ..., time_range: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ..., labels: _Optional[_Iterable[str]] = ..., attributes: _Optional[_Iterable[_Union[AttributeFilter, _Mapping]]] = ...) -> None: ...

class AttributeFilter(_message.Message):
    __slots__ = ("key", "equals_string", "equals_number", "equals_bool", "range")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EQUALS_STRING_FIELD_NUMBER: _ClassVar[int]
    EQUALS_NUMBER_FIELD_NUMBER: _ClassVar[int]
    EQUALS_BOOL_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    key: str
    equals_string: str
    equals_number: float
    equals_bool: bool
    range: NumberRange
    def __init__(self, key: _Optional[str] = ..., equals_string: _Optional[str] = ..., equals_number: _Optional[float] = ..., equals_bool: _Optional[bool] = ..., range: _Optional[_Union[NumberRange, _Mapping]] = ...) -> None: ...

class NumberRange(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: float
    max: float
    def __init__(self, min: _Optional[float] = ..., max: _Optional[float] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection", "text", "vector", "granularity", "top_k", "filter", "page_token", "node_id", "rerank", "include_evidence", "include_ancestors", "reranker", "diversity", "group_by_video", "group_size", "part_vectors")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    GRANULARITY_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    RERANK_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_ANCESTORS_FIELD_NUMBER: _ClassVar[int]
    RERANKER_FIELD_NUMBER: _ClassVar[int]
    DIVERSITY_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_VIDEO_FIELD_NUMBER: _ClassVar[int]
    GROUP_SIZE_FIELD_NUMBER: _ClassVar[int]
    PART_VECTORS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    text: str
    vector: _common_pb2.Vector
    granularity: Granularity
    top_k: int
    filter: Filter
    page_token: str
    node_id: str
    rerank: bool
    include_evidence: bool
    include_ancestors: bool
    reranker: str
    diversity: float
    group_by_video: bool
    group_size: int
    part_vectors: _containers.RepeatedCompositeFieldContainer[_common_pb2.Vector]
    def __init__(self, collection: _Optional[str] = ..., text: _Optional[str] = ..., vector: _Optional[_Union[_common_pb2.Vector, _Mapping]] = ..., granularity: _Optional[_Union[Granularity, str]] = ..., top_k: _Optional[int] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., page_token: _Optional[str] = ..., node_id: _Optional[str] = ..., rerank: _Optional[bool] = ..., include_evidence: _Optional[bool] = ..., include_ancestors: _Optional[bool] = ..., reranker: _Optional[str] = ..., diversity: _Optional[float] = ..., group_by_video: _Optional[bool] = ..., group_size: _Optional[int] = ..., part_vectors: _Optional[_Iterable[_Union[_common_pb2.Vector, _Mapping]]] = ...) -> None: ...

class ParseQueryRequest(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class ParseQueryResponse(_message.Message):
    __slots__ = ("parse",)
    PARSE_FIELD_NUMBER: _ClassVar[int]
    parse: QueryParse
    def __init__(self, parse: _Optional[_Union[QueryParse, _Mapping]] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("node", "score", "similarity", "rank", "raw_score", "evidence", "ancestors", "focus", "count")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    ANCESTORS_FIELD_NUMBER: _ClassVar[int]
    FOCUS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    node: _common_pb2.Node
    score: float
    similarity: float
    rank: int
    raw_score: float
    evidence: _containers.RepeatedCompositeFieldContainer[Hit]
    ancestors: _containers.RepeatedCompositeFieldContainer[_common_pb2.Node]
    focus: _common_pb2.TimeRange
    count: int
    def __init__(self, node: _Optional[_Union[_common_pb2.Node, _Mapping]] = ..., score: _Optional[float] = ..., similarity: _Optional[float] = ..., rank: _Optional[int] = ..., raw_score: _Optional[float] = ..., evidence: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., ancestors: _Optional[_Iterable[_Union[_common_pb2.Node, _Mapping]]] = ..., focus: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ..., count: _Optional[int] = ...) -> None: ...

class VideoGroup(_message.Message):
    __slots__ = ("video_id", "score", "hits", "rank")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    score: float
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    rank: int
    def __init__(self, video_id: _Optional[str] = ..., score: _Optional[float] = ..., hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., rank: _Optional[int] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("levels", "reason", "confidences", "parse", "in_time_order")
    LEVELS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCES_FIELD_NUMBER: _ClassVar[int]
    PARSE_FIELD_NUMBER: _ClassVar[int]
    IN_TIME_ORDER_FIELD_NUMBER: _ClassVar[int]
    levels: _containers.RepeatedScalarFieldContainer[_common_pb2.Level]
    reason: str
    confidences: _containers.RepeatedCompositeFieldContainer[LevelConfidence]
    parse: QueryParse
    in_time_order: bool
    def __init__(self, levels: _Optional[_Iterable[_Union[_common_pb2.Level, str]]] = ..., reason: _Optional[str] = ..., confidences: _Optional[_Iterable[_Union[LevelConfidence, _Mapping]]] = ..., parse: _Optional[_Union[QueryParse, _Mapping]] = ..., in_time_order: _Optional[bool] = ...) -> None: ...

class LevelConfidence(_message.Message):
    __slots__ = ("level", "confidence")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    level: _common_pb2.Level
    confidence: float
    def __init__(self, level: _Optional[_Union[_common_pb2.Level, str]] = ..., confidence: _Optional[float] = ...) -> None: ...

class QueryParse(_message.Message):
    __slots__ = ("scope", "ordinal", "ordinal_of", "count", "count_event", "event", "explanation", "result", "side", "within", "within_position", "every", "sequence", "parts")
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_FIELD_NUMBER: _ClassVar[int]
    ORDINAL_OF_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    COUNT_EVENT_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SIDE_FIELD_NUMBER: _ClassVar[int]
    WITHIN_FIELD_NUMBER: _ClassVar[int]
    WITHIN_POSITION_FIELD_NUMBER: _ClassVar[int]
    EVERY_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    scope: _common_pb2.Level
    ordinal: int
    ordinal_of: _common_pb2.Level
    count: str
    count_event: str
    event: str
    explanation: str
    result: str
    side: str
    within: _common_pb2.Level
    within_position: int
    every: bool
    sequence: _containers.RepeatedScalarFieldContainer[str]
    parts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, scope: _Optional[_Union[_common_pb2.Level, str]] = ..., ordinal: _Optional[int] = ..., ordinal_of: _Optional[_Union[_common_pb2.Level, str]] = ..., count: _Optional[str] = ..., count_event: _Optional[str] = ..., event: _Optional[str] = ..., explanation: _Optional[str] = ..., result: _Optional[str] = ..., side: _Optional[str] = ..., within: _Optional[_Union[_common_pb2.Level, str]] = ..., within_position: _Optional[int] = ..., every: _Optional[bool] = ..., sequence: _Optional[_Iterable[str]] = ..., parts: _Optional[_Iterable[str]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "route", "next_page_token", "groups")
    HITS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    route: Route
    next_page_token: str
    groups: _containers.RepeatedCompositeFieldContainer[VideoGroup]
    def __init__(self, hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., route: _Optional[_Union[Route, _Mapping]] = ..., next_page_token: _Optional[str] = ..., groups: _Optional[_Iterable[_Union[VideoGroup, _Mapping]]] = ...) -> None: ...
