"""A video's tree as a networkx graph, loaded on demand from the store.

Nodes are keyed by public id and carry level, times and their store key. Edges point
from parent to child. Siblings at a level are kept in time order for temporal
neighbours. A graph is cached per video until the video's nodes change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import networkx as nx

from hierarchy.errors import NotFound
from hierarchy.types import Level


@dataclass
class VideoGraph:
    """The tree of one video: a DiGraph and each level's nodes in time order."""

    graph: nx.DiGraph
    by_level: dict[Level, list[str]]
    position: dict[str, int]

    def children(self, node_id: str) -> list[str]:
        """Children in time order."""
        kids = list(self.graph.successors(node_id))
        return sorted(kids, key=lambda n: self.graph.nodes[n]["start_ms"])

    def ancestors(self, node_id: str) -> list[str]:
        """Parent first, root last."""
        out = []
        parents = list(self.graph.predecessors(node_id))
        while parents:
            out.append(parents[0])
            parents = list(self.graph.predecessors(parents[0]))
        return out

    def neighbours(self, node_id: str, before: int, after: int) -> tuple[list[str], list[str]]:
        """Nodes just before and just after, at the same level of the video."""
        level = self.graph.nodes[node_id]["level"]
        row, i = self.by_level[level], self.position[node_id]
        return row[max(0, i - before) : i], row[i + 1 : i + 1 + after]

    def subtree(self, node_id: str, depth: int) -> list[tuple[str, int]]:
        """The node and its descendants down to ``depth``, depth first in time order."""
        out: list[tuple[str, int]] = []
        stack = [(node_id, 0)]
        while stack:
            current, d = stack.pop()
            out.append((current, d))
            if d < depth:
                stack.extend((child, d + 1) for child in reversed(self.children(current)))
        return out

    def key(self, node_id: str) -> int:
        """Store key of a node."""
        return int(self.graph.nodes[node_id]["key"])


def load(cur: duckdb.DuckDBPyConnection, cid: int, video_id: str) -> VideoGraph:
    """Read a video's nodes (without vectors) and link them."""
    rows = cur.execute(
        "SELECT node_id, key, level, start_ms, end_ms, parent_id FROM nodes "
        "WHERE collection_id = ? AND video_id = ? ORDER BY level, start_ms",
        [cid, video_id],
    ).fetchall()
    graph = nx.DiGraph()
    by_level: dict[Level, list[str]] = {}
    for node_id, key, level, start, end, _ in rows:
        graph.add_node(node_id, key=key, level=Level(level), start_ms=start, end_ms=end)
        by_level.setdefault(Level(level), []).append(node_id)
    graph.add_edges_from((parent, node_id) for node_id, _, _, _, _, parent in rows if parent and parent in graph)
    position = {n: i for row in by_level.values() for i, n in enumerate(row)}
    return VideoGraph(graph, by_level, position)


@dataclass(eq=False)  # compared by identity: two watches of one video are two watches
class Watch:
    """Whether a video changed while a block of work read it (see :meth:`GraphCache.watch`)."""

    cid: int
    video_id: str
    changed: bool = False


class GraphCache:
    """Recently used video graphs, dropped when their video changes.

    Every change of a video's nodes passes through :meth:`invalidate`, so the cache also
    tells a long read of a video (a tree build) whether the video changed meanwhile.
    """

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._graphs: OrderedDict[tuple[int, str], VideoGraph] = OrderedDict()
        # Bumped by every invalidation: a graph loaded across one must not be kept.
        self._generation = 0
        self._watches: set[Watch] = set()

    def get(self, cur: duckdb.DuckDBPyConnection, cid: int, video_id: str) -> VideoGraph:
        """The graph of a video, loading it if needed."""
        key = (cid, video_id)
        with self._lock:
            if key in self._graphs:
                self._graphs.move_to_end(key)
                return self._graphs[key]
            generation = self._generation
        graph = load(cur, cid, video_id)
        with self._lock:
            if generation != self._generation:
                return graph  # the video changed while loading: answer, but do not cache
            self._graphs[key] = graph
            while len(self._graphs) > self._capacity:
                self._graphs.popitem(last=False)
        return graph

    @contextmanager
    def watch(self, cid: int, video_id: str) -> Iterator[Watch]:
        """A :class:`Watch` whose ``changed`` turns true if the video (or its whole
        collection) is invalidated before the block ends."""
        watch = Watch(cid, video_id)
        with self._lock:
            self._watches.add(watch)
        try:
            yield watch
        finally:
            with self._lock:
                self._watches.discard(watch)

    def invalidate(self, cid: int, video_id: str | None = None) -> None:
        """Forget a video's graph (or every graph of a collection)."""
        with self._lock:
            self._generation += 1
            for watch in self._watches:
                if watch.cid == cid and video_id in (None, watch.video_id):
                    watch.changed = True
            for key in [k for k in self._graphs if k[0] == cid and video_id in (None, k[1])]:
                del self._graphs[key]


def require(graph: VideoGraph, node_id: str) -> None:
    """Raise NotFound unless the node is in the graph."""
    if node_id not in graph.graph:
        raise NotFound(f"node {node_id!r} does not exist", "node_id")
