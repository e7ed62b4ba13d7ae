"""The read path of search: resolve the query vector, rank (one level, AUTO or ALL),
rerank, page, and attach evidence and ancestors. It reads the store and the indexes and
writes nothing; the database facade owns it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from hierarchy import answers, auto, calibrate, filters, nodes, paging, search, validate
from hierarchy.calibrate import LevelMoments, MomentsCache
from hierarchy.encoder import get_encoder
from hierarchy.errors import FailedPrecondition, NotFound
from hierarchy.index import LevelIndex
from hierarchy.navigate import Navigator
from hierarchy.spans import LevelSpans, SpanCache
from hierarchy.store import Store
from hierarchy.types import Collection, Level, Mode, Node, Route, SearchQuery, SearchResult

if TYPE_CHECKING:
    from hierarchy.db import DatabaseOptions


@dataclass(frozen=True)
class ExampleNode:
    """The node a query-by-example search starts from."""

    key: int
    level: Level


class Searcher:
    """Answers searches over the collections of one database."""

    def __init__(
        self,
        store: Store,
        collection: Callable[..., Collection],
        index: Callable[[Collection, Level], LevelIndex],
        navigator: Navigator,
        options: DatabaseOptions,
        version: Callable[[], int],
    ) -> None:
        self._store = store
        self._collection = collection
        self._index = index
        self._navigator = navigator
        self._options = options
        self._version = version  # the database's change count: caches keyed by it stay valid
        self._level_moments = MomentsCache()
        self._span_cache = SpanCache()
        self._labels_lock = threading.Lock()
        self._label_cache: dict[int, tuple[tuple[int, int], list[str]]] = {}

    def search(self, query: SearchQuery, page_token: str = "") -> SearchResult:
        """Search a collection at one level, routed (AUTO) or over every level (ALL);
        ``page_token`` continues an earlier search with the same request."""
        coll = self._collection(query.collection, "collection")
        top_k = validate.top_k(query.top_k, self._options.max_top_k)
        filters.check(query.filter.attributes, query.filter.labels)
        vector, example = self._query_vector(coll, query)
        if example is not None and query.mode is Mode.LEVEL:
            query = replace(query, level=example.level)
        owner = paging.digest(
            coll.name,
            query.mode.value,
            int(query.level),
            query.text,
            query.node_id,
            vector.tobytes().hex(),
            top_k,
            query.filter,
            query.rerank,
            query.include_evidence,
            query.include_ancestors,
        )
        offset = paging.decode(page_token, owner) or 0
        if not isinstance(offset, int) or offset < 0:
            raise validate.InvalidArgument("page_token", "is malformed; pass back a next_page_token unchanged")
        wanted = offset + top_k + 1  # one extra says whether another page exists
        ranked, route, event = self._rank(coll, query, vector, wanted)
        if example is not None:
            ranked = [r for r in ranked if r.key != example.key]
        raw = {r.key: r.score for r in ranked}
        if query.rerank if query.rerank is not None else query.mode is not Mode.LEVEL:
            ranked = self._rerank(coll, ranked, wanted)
        hits = answers.hits(
            self._store.cursor(),
            ranked[offset : offset + top_k],
            offset + 1,
            raw,
            self._evidence(coll, event) if query.include_evidence else lambda key, level: [],
            self._ancestors(coll) if query.include_ancestors else lambda node: (),
        )
        more = len(ranked) > offset + top_k
        return SearchResult(hits, route, more, paging.encode(offset + top_k, owner) if more else "")

    def _rank(
        self, coll: Collection, query: SearchQuery, vector: np.ndarray, wanted: int
    ) -> tuple[list[auto.Ranked], Route, np.ndarray]:
        if query.mode is Mode.LEVEL:
            index = self._index(coll, query.level)
            keys, sims = search.candidates(
                self._store.cursor(),
                index,
                coll.id,
                query.level,
                query.filter,
                vector,
                wanted + 1,
                self._options.exact_filter_below,
            )
            ranked = [auto.Ranked(int(k), query.level, float(s), float(s)) for k, s in zip(keys, sims, strict=True)]
            return ranked, Route((query.level,), f"level {query.level.label} requested explicitly"), vector
        context = auto.Context(
            self._store.cursor(),
            coll.id,
            lambda level: self._index(coll, level),
            lambda level: self._moments(coll, level),
            self._encode_one(coll) if coll.space.text_encoder else None,
            lambda: self._labels(coll),
            self._options.exact_filter_below,
        )
        return auto.execute(context, query, vector, wanted)

    def _rerank(self, coll: Collection, ranked: list[auto.Ranked], wanted: int) -> list[auto.Ranked]:
        """Overlap suppression over a prefix of the ranking long enough to fill the page
        (the prefix depends only on the ranking, so pages stay consistent)."""
        horizon = max(wanted * 3, 50)
        while True:
            head = ranked[:horizon]
            spans: dict[int, tuple[str, int, int]] = {}
            for level in {r.level for r in head}:
                spans.update(self._spans(coll, level).spans([r.key for r in head if r.level is level]))
            kept = auto.rerank([r for r in head if r.key in spans], spans)
            if len(kept) >= wanted or horizon >= len(ranked):
                return kept
            horizon *= 4

    def _evidence(self, coll: Collection, vector: np.ndarray) -> Callable[[int, Level], list[answers.Scored]]:
        index, moments = self._index(coll, Level.SEGMENT), self._moments(coll, Level.SEGMENT)
        segments = self._spans(coll, Level.SEGMENT)
        parents = {level: self._spans(coll, level) for level in Level if level is not Level.SEGMENT}
        return lambda key, level: answers.evidence_for(index, moments, segments, parents, vector, key, level)

    def _spans(self, coll: Collection, level: Level) -> LevelSpans:
        return self._span_cache.get(self._store.cursor(), coll.id, level, self._version())

    def _ancestors(self, coll: Collection) -> Callable[[Node], tuple[Node, ...]]:
        return lambda node: tuple(self._navigator.ancestors(coll.name, node.id))

    def _moments(self, coll: Collection, level: Level) -> LevelMoments:
        index = self._index(coll, level)
        return self._level_moments.get((coll.id, int(level)), len(index), lambda: index.sample(calibrate.SAMPLE))

    def _labels(self, coll: Collection) -> list[str]:
        """Distinct segment labels of a collection, cached until the next write."""
        stamp = (coll.id, self._version())
        with self._labels_lock:
            cached = self._label_cache.get(coll.id)
        if cached is not None and cached[0] == stamp:
            return list(cached[1])
        labels = nodes.distinct_labels(self._store.cursor(), coll.id)
        with self._labels_lock:
            self._label_cache[coll.id] = (stamp, labels)
        return list(labels)

    def _encode_one(self, coll: Collection) -> Callable[[str], np.ndarray]:
        return get_encoder(coll.space.text_encoder).encode_query

    def _query_vector(self, coll: Collection, query: SearchQuery) -> tuple[np.ndarray, ExampleNode | None]:
        """The vector that scores: the client's, the example node's, or the embedded text."""
        space = coll.space
        if query.node_id:
            return self._example(coll, query.node_id)
        if query.vector is not None:
            return validate.vector(query.vector, space.dimension, space.metric, "vector"), None
        if not query.text.strip():
            raise validate.InvalidArgument("text", "give a query text, a query vector or a node_id")
        if not space.text_encoder:
            raise FailedPrecondition(f"collection {coll.name!r} has no text encoder; send a query vector", "text")
        return get_encoder(space.text_encoder).encode_query(query.text), None

    def _example(self, coll: Collection, node_id: str) -> tuple[np.ndarray, ExampleNode]:
        validate.identifier(node_id, "node_id")
        found = nodes.by_ids(self._store.cursor(), coll.id, [node_id]).get(node_id)
        if found is None:
            raise NotFound(f"node {node_id!r} does not exist in collection {coll.name!r}", "node_id")
        key, node = found
        vector = self._index(coll, node.level).vectors(np.array([key], np.int64))[0]
        return vector, ExampleNode(key, node.level)
