"""Read-only walks of the tree: nodes, children, ancestors, neighbours, subtrees, and
similar nodes at the same level across the library."""

from __future__ import annotations

from collections.abc import Callable

from hierarchy import nodes, paging, validate
from hierarchy.errors import NotFound
from hierarchy.graph import GraphCache, VideoGraph, require
from hierarchy.index import LevelIndex
from hierarchy.store import Store
from hierarchy.types import Collection, Level, Node


class Navigator:
    """Answers graph questions from the store, through a cache of video graphs."""

    def __init__(
        self,
        store: Store,
        graphs: GraphCache,
        collection: Callable[[str], Collection],
        index: Callable[[Collection, Level], LevelIndex],
        max_top_k: int,
        max_page_size: int = 1000,
    ) -> None:
        self._store = store
        self._graphs = graphs
        self._collection = collection
        self._index = index
        self._max_top_k = max_top_k
        self._max_page_size = max_page_size

    def node(self, collection: str, node_id: str) -> Node:
        """One node by id."""
        return self._lookup(self._collection(collection), node_id)[1]

    def children(
        self, collection: str, node_id: str, page_size: int = 0, page_token: str = ""
    ) -> tuple[list[Node], str]:
        """A page of a node's children in time order, and the next page's token."""
        coll, graph, _ = self._graph_of(collection, node_id)
        size = validate.page_size(page_size, limit=self._max_page_size)
        owner = paging.digest("children", collection, node_id)
        start = paging.decode(page_token, owner, collection_id=coll.id) or 0
        if not isinstance(start, int) or start < 0:
            raise validate.InvalidArgument("page_token", "is malformed; pass back a next_page_token unchanged")
        kids = graph.children(node_id)
        page = kids[start : start + size]
        token = paging.encode(start + size, owner, coll.id) if start + size < len(kids) else ""
        return self._nodes(coll, page), token

    def ancestors(self, collection: str, node_id: str) -> list[Node]:
        """Parent first, video root last."""
        coll, graph, _ = self._graph_of(collection, node_id)
        return self._nodes(coll, graph.ancestors(node_id))

    def ancestors_of(self, coll: Collection, answers: list[Node]) -> dict[str, tuple[Node, ...]]:
        """The ancestors of each of ``answers`` (nodes as read), parent first, by node id;
        every ancestor is read once for them all (a page of a hundred moments of one video
        read its video node a hundred times: at 4 MB a node, 2.7 GB). Answers no longer in
        their video's tree (replaced by a rebuild) are left out."""
        cur = self._store.cursor()
        chains: dict[str, list[str]] = {}
        for node in answers:
            graph = self._graphs.get(cur, coll.id, node.video_id)
            if node.id in graph.graph:
                chains[node.id] = graph.ancestors(node.id)
        found = nodes.by_ids(cur, coll.id, list(dict.fromkeys(a for chain in chains.values() for a in chain)))
        return {n: tuple(found[a][1] for a in chain if a in found) for n, chain in chains.items()}

    def neighbours(
        self, collection: str, node_id: str, before: int = 1, after: int = 1
    ) -> tuple[list[Node], list[Node]]:
        """Nodes just before and after at the same level of the video (0 means 1; at most
        the page size limit a side, as a list's page)."""
        if before < 0 or after < 0:
            raise validate.InvalidArgument("before" if before < 0 else "after", "must be >= 0")
        coll, graph, _ = self._graph_of(collection, node_id)
        cap = self._max_page_size
        earlier, later = graph.neighbours(node_id, min(before or 1, cap), min(after or 1, cap))
        return self._nodes(coll, earlier), self._nodes(coll, later)

    def subtree(self, collection: str, node_id: str, depth: int = 1) -> list[tuple[Node, int]]:
        """The node and its descendants down to ``depth`` (0 means 1)."""
        if depth < 0:
            raise validate.InvalidArgument("depth", "must be >= 0")
        coll, graph, _ = self._graph_of(collection, node_id)
        walk = graph.subtree(node_id, depth or 1)
        found = nodes.by_ids(self._store.cursor(), coll.id, [n for n, _ in walk])
        # A tree replaced mid-walk drops the nodes it no longer has instead of failing.
        return [(found[n][1], d) for n, d in walk if n in found]

    def similar(self, collection: str, node_id: str, top_k: int = 0) -> list[tuple[Node, float]]:
        """Nodes of the same level most similar to this one, itself excluded."""
        coll = self._collection(collection)
        count = validate.top_k(top_k, self._max_top_k)
        key, node = self._lookup(coll, node_id)
        index = self._index(coll, node.level)
        vector = index.vector_of(key)
        if vector is None:  # deleted or rebuilt since it was looked up
            raise NotFound(f"node {node_id!r} does not exist in collection {collection!r}", "node_id")
        keys, sims = index.search(vector, count + 1)
        found = nodes.by_keys(self._store.cursor(), [int(k) for k in keys if int(k) != key])
        pairs = [(found[int(k)], float(s)) for k, s in zip(keys, sims, strict=True) if int(k) in found]
        return pairs[:count]

    def _lookup(self, coll: Collection, node_id: str) -> tuple[int, Node]:
        validate.node_id(node_id, "node_id")
        found = nodes.by_ids(self._store.cursor(), coll.id, [node_id]).get(node_id)
        if found is None:
            raise NotFound(f"node {node_id!r} does not exist in collection {coll.name!r}", "node_id")
        return found

    def _graph_of(self, collection: str, node_id: str) -> tuple[Collection, VideoGraph, Node]:
        coll = self._collection(collection)
        _, node = self._lookup(coll, node_id)
        graph = self._graphs.get(self._store.cursor(), coll.id, node.video_id)
        require(graph, node_id)
        return coll, graph, node

    def _nodes(self, coll: Collection, node_ids: list[str]) -> list[Node]:
        found = nodes.by_ids(self._store.cursor(), coll.id, node_ids)
        return [found[n][1] for n in node_ids if n in found]
