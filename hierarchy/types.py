"""Domain types of Strata: levels, embedding spaces, collections, videos, nodes, hits.

Times are integer milliseconds, half-open ``[start_ms, end_ms)``. Public ids are
strings; the store maps every node to an internal uint64 key below 2**63.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_KEY = 2**63 - 1


class Level(enum.IntEnum):
    """Tiers of a video's tree, bottom to top."""

    SEGMENT = 1
    SCENE = 2
    DRIVE = 3
    HALF = 4
    VIDEO = 5

    @property
    def label(self) -> str:
        """Lower-case name, as used by the CLI and file names."""
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Level:
        """Level from a case-insensitive name such as ``scene``."""
        return cls[name.strip().upper()]


class Metric(enum.Enum):
    """How vectors of a space are compared (values are USearch metric names)."""

    COSINE = "cos"
    INNER_PRODUCT = "ip"
    L2_SQUARED = "l2sq"


class VideoState(enum.Enum):
    """Whether a video still grows."""

    OPEN = "open"
    SEALED = "sealed"


@dataclass(frozen=True)
class EmbeddingSpace:
    """The vectors of a collection: dimension, metric, producing model, text encoder."""

    dimension: int
    metric: Metric = Metric.COSINE
    model_name: str = ""
    model_version: str = ""
    text_encoder: str = ""


@dataclass(frozen=True)
class Collection:
    """A named library of videos sharing one embedding space."""

    name: str
    space: EmbeddingSpace
    created_ms: int
    video_count: int = 0
    segment_count: int = 0
    id: int = 0
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Video:
    """One video of a collection."""

    id: str
    collection: str
    duration_ms: int
    attributes: dict[str, Any]
    state: VideoState
    created_ms: int
    segment_count: int = 0
    hints: dict[Level, list[int]] = field(default_factory=dict)


@dataclass
class SegmentInput:
    """One atomic segment as a client sends it; ``vector`` may be None when text is set."""

    video_id: str
    start_ms: int
    end_ms: int
    vector: np.ndarray | None = None
    text: str = ""
    labels: list[str] = field(default_factory=list)
    attributes: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    shot_cut: bool = False


@dataclass(frozen=True)
class Node:
    """One element of the tree, as stored."""

    id: str
    level: Level
    video_id: str
    start_ms: int
    end_ms: int
    parent_id: str = ""
    text: str = ""
    labels: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    child_count: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)
    shot_cut: bool = False  # a segment's, as written (a shot cut starts at it); False for a parent


@dataclass(frozen=True)
class TimeRange:
    """A half-open span of milliseconds; ``end_ms == 0`` means open-ended."""

    start_ms: int = 0
    end_ms: int = 0


@dataclass(frozen=True)
class Filter:
    """Restrictions on search hits; all conditions must hold."""

    video_ids: tuple[str, ...] = ()
    time_range: TimeRange | None = None
    labels: tuple[str, ...] = ()
    attributes: tuple[Any, ...] = ()  # hierarchy.filters.AttributeCondition

    @property
    def empty(self) -> bool:
        """True when the filter lets every node through."""
        return not (self.video_ids or self.time_range or self.labels or self.attributes)


class Mode(enum.Enum):
    """How a search picks its level: one named level, the router's choice, or all levels."""

    LEVEL = "level"
    AUTO = "auto"
    ALL = "all"


@dataclass(frozen=True)
class SearchQuery:
    """A search: at one level (``mode`` LEVEL), routed (AUTO) or over every level (ALL).

    The query is ``text``, ``vector`` (which scores when both are given; the text is then
    only parsed), or ``node_id`` (more like this node). ``part_vectors``, with a routed
    search's text, score the parts of the text (``hierarchy.router.parts``) in place of
    embedding them: a client with its own model sends a vector for each.
    """

    collection: str
    level: Level = Level.SEGMENT
    text: str = ""
    vector: np.ndarray | None = None
    top_k: int = 0  # 0: the default, 10 (or a lower max_top_k)
    filter: Filter = Filter()
    offset: int = 0
    mode: Mode = Mode.LEVEL
    node_id: str = ""
    # With node_id at one level: answer at the example's level (False: at ``level``).
    level_of_example: bool = True
    rerank: bool | None = None  # None: on for AUTO and ALL, off for one level
    include_evidence: bool = True
    include_ancestors: bool = False
    reranker: str = ""  # a name in hierarchy.rerank; empty: the default
    diversity: float = 0.0  # 0-1, for the joint rerank
    group_by_video: bool = False  # top_k then counts videos
    group_size: int = 0  # answers per video when grouping; 0 means 3
    deadline: float | None = None  # time.monotonic() by which to answer (see hierarchy.deadlines)
    part_vectors: tuple[np.ndarray, ...] = ()  # one per part of the text, in order; (): embedded


@dataclass(frozen=True)
class Hit:
    """One result: the node, its calibrated score (after rerank), the score before rerank,
    its raw similarity, its rank, the child hits that explain it, and its ancestors."""

    node: Node
    score: float
    similarity: float
    rank: int
    raw_score: float = 0.0
    evidence: tuple[Hit, ...] = ()
    ancestors: tuple[Node, ...] = ()
    focus: TimeRange | None = None  # the tightest span inside the node holding its evidence
    count: int | None = None  # how many of the event its route counts the node holds (None: none counted)


@dataclass(frozen=True)
class VideoGroup:
    """One video's best answers when a search groups by video."""

    video_id: str
    score: float
    hits: list[Hit]
    rank: int = 0  # the video's place across pages, from 1


@dataclass(frozen=True)
class Route:
    """How a query was answered: the levels used, the confidence per level, why, and the
    parse of the query text."""

    levels: tuple[Level, ...]
    reason: str
    confidences: dict[Level, float] = field(default_factory=dict)
    parse: Any = None  # hierarchy.query.ParsedQuery
    in_time_order: bool = False  # the answers are listed in time order ("every goal"): no rerank moves them
    # A routed ranking that is its level's by calibrated score past its head (no pairs, no
    # reorder, no video the text names): a search of other videos continues it.
    plain: bool = False
    confined: bool = False  # confined to a video its text names (its later pages stay there)


@dataclass(frozen=True)
class SearchResult:
    """Hits of one page, the route, and whether more hits follow."""

    hits: list[Hit]
    route: Route
    has_more: bool
    next_page_token: str = ""
    groups: list[VideoGroup] = field(default_factory=list)  # only when grouping by video


@dataclass(frozen=True)
class AppendResult:
    """The answer to an append: ids in request order and the commit sequence."""

    segment_ids: list[str]
    commit_sequence: int
    replayed: bool = False


@dataclass(frozen=True)
class LevelStats:
    """Counts for one level of one collection."""

    level: Level
    node_count: int
    indexed_count: int
    indexed_sequence: int
    exact: bool
    unlinked_count: int = 0  # of indexed_count, searched exactly while waiting for the graph


@dataclass(frozen=True)
class CollectionStats:
    """Counts for one collection."""

    name: str
    video_count: int
    levels: list[LevelStats]
