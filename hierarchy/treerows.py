"""Build a video's tree from its stored segments and turn it into node rows: ids, parent
links, aggregates, per level."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import duckdb
import numpy as np

from hierarchy import builder, catalog, nodes
from hierarchy.builder import BuiltNode, HierarchyConfig, Tree
from hierarchy.errors import FailedPrecondition, NotFound
from hierarchy.nodes import NodeBatch
from hierarchy.types import Collection, Level, Metric, Video

PARENT_LEVELS = (Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO)


@dataclass(frozen=True)
class BuiltTree:
    """A video's tree built from the segments read, not yet written anywhere."""

    video: Video  # as read before the build, with the count of the segments read
    hints: dict[Level, list[int]]  # the cut times it was built with
    segment_keys: np.ndarray  # the store keys of the segments, in time order
    attributes: list[dict[str, Any]]  # the segments' attributes, in the same order
    tree: Tree

    @property
    def video_id(self) -> str:
        """The video the tree is of."""
        return self.video.id


def build_tree(
    cur: duckdb.DuckDBPyConnection,
    coll: Collection,
    video_id: str,
    config: HierarchyConfig,
    hints: dict[Level, list[int]] | None,
) -> BuiltTree:
    """The tree of a video's stored segments (cut at ``hints`` when given, else at its
    stored ones), not yet written anywhere."""
    video = catalog.get_video(cur, coll, video_id, count_segments=False)  # counted below
    if video is None:  # deleted, or its collection was
        raise NotFound(f"video {video_id!r} does not exist in collection {coll.name!r}", "video_id")
    seg_keys, columns = nodes.video_segments(cur, coll.id, video_id)
    if len(seg_keys) == 0:
        if catalog.get_video(cur, coll, video_id, count_segments=False) is None:  # deleted since it was read
            raise NotFound(f"video {video_id!r} does not exist in collection {coll.name!r}", "video_id")
        raise FailedPrecondition(f"video {video_id!r} has no segments to build a tree from", "video_id")
    cuts = hints or video.hints
    # Only a cosine collection's parents are unit length: under inner product and L2 a
    # parent's length and place score as its children's do.
    tree = builder.build(builder.VideoSegments(**columns), config, cuts, unit=coll.space.metric is Metric.COSINE)
    video = replace(video, segment_count=len(seg_keys))
    return BuiltTree(video, cuts, seg_keys, columns["attributes"], tree)


def node_id(video_id: str, level: Level, ordinal: int) -> str:
    """Public id of a built node: ``<video_id>/<level>/<ordinal>``."""
    return f"{video_id}/{level.label}/{ordinal}"


def parent_ids(video_id: str, tree: Tree, level: Level, count: int) -> list[str]:
    """For each of ``count`` nodes at ``level``, the id of its parent one level up."""
    out = [""] * count
    if level is Level.VIDEO:
        return out
    up = Level(level + 1)
    for ordinal, parent in enumerate(tree.levels[up]):
        first, last = parent.segment_range if level is Level.SEGMENT else (parent.first_child, parent.last_child)
        for i in range(first, last):
            out[i] = node_id(video_id, up, ordinal)
    return out


def common_attributes(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """The attributes every one of ``attributes`` has with the same value (a drive's team)."""
    if not attributes:
        return {}
    shared = dict(attributes[0])
    for attrs in attributes[1:]:
        shared = {k: v for k, v in shared.items() if k in attrs and same_value(attrs[k], v)}
        if not shared:
            break
    return shared


def same_value(a: Any, b: Any) -> bool:
    """Equal as filters compare attribute values: numbers by value, but a boolean is not a
    number (Python's ``1 == True`` would make a parent share ``1`` with segments of ``true``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def level_batch(
    video_id: str, tree: Tree, level: Level, first_key: int, segment_attributes: list[dict[str, Any]]
) -> NodeBatch:
    """Rows of one built level, with consecutive keys from ``first_key``; a node's
    attributes are those all its segments share."""
    built: list[BuiltNode] = tree.levels[level]
    n = len(built)
    return NodeBatch(
        keys=np.arange(first_key, first_key + n, dtype=np.int64),
        node_ids=[node_id(video_id, level, i) for i in range(n)],
        level=level,
        video_ids=[video_id] * n,
        start_ms=np.array([b.start_ms for b in built], np.int64),
        end_ms=np.array([b.end_ms for b in built], np.int64),
        texts=[b.text for b in built],
        labels=[sorted(b.label_counts) for b in built],
        attributes=[common_attributes(segment_attributes[slice(*b.segment_range)]) for b in built],
        shot_cuts=[False] * n,
        vectors=np.stack([b.vector for b in built]),
        parent_ids=parent_ids(video_id, tree, level, n),
        child_counts=[b.last_child - b.first_child for b in built],
        label_counts=[b.label_counts for b in built],
    )


def node_count(tree: Tree) -> int:
    """Number of built nodes over every level."""
    return sum(len(tree.levels[level]) for level in PARENT_LEVELS)
