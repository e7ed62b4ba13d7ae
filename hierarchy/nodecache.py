"""Nodes by key, kept in memory after their first read.

Every search turns its answers (and their evidence segments) into nodes. DuckDB answers
a lookup of ten keys in about 3 ms whatever the table's size, which was half of a
segment search's time; a dictionary answers in microseconds. Node keys are never
reused, so a cached node can only go stale when its row is rewritten (a tree rebuild
sets its segments' parents and replaces its parents) or deleted: the database calls
:meth:`NodeCache.forget` with the keys of the video such a commit rewrote (a tree build, a
deleted video), or :meth:`NodeCache.invalidate` when it cannot name them (a deleted
collection). Appends only add keys and forget nothing.

The cache holds at most ``capacity`` nodes and forgets the least recently used first.
Beneath it, when given, the in-memory rows of every node (:mod:`hierarchy.noderows`)
answer what it does not hold; only what neither holds is read from the store, and
``misses`` counts those keys. Nodes built from the rows are kept too: building them (an
Arrow take, two JSON columns decoded a node) made a half-level search take 0.31 ms, against
0.14 ms with them kept (synthetic soccer, one library of 4 matches, p50). So are the
attributes decoded alone (a routed search reads which side each of its best 100 answers
is on), as many of them, forgotten with the nodes; those of a small collection are
decoded ahead once its writes settle (``read_ahead_attributes``, from the searcher's
read-ahead).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

import duckdb
import numpy as np

from hierarchy import nodes
from hierarchy.noderows import NodeRows
from hierarchy.types import Node


class NodeCache:
    """A bounded, least-recently-used map from node key to node, filled from the store."""

    def __init__(
        self, cursor: Callable[[], duckdb.DuckDBPyConnection], capacity: int = 65_536, rows: NodeRows | None = None
    ) -> None:
        self._cursor = cursor
        self.capacity = capacity
        self.rows = rows
        self._lock = threading.Lock()
        self._nodes: OrderedDict[int, Node] = OrderedDict()
        self._attributes: OrderedDict[int, dict] = OrderedDict()  # of nodes not built, as many
        # Bumped by every invalidation: a read that began before one must not refill the
        # cache with rows it may have read before the rewrite.
        self._generation = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, keys: Iterable[int]) -> dict[int, Node]:
        """Nodes of ``keys`` (missing keys are absent from the result)."""
        wanted = [int(k) for k in keys]
        out: dict[int, Node] = {}
        missing: list[int] = []
        with self._lock:
            generation = self._generation
            for key in wanted:
                node = self._nodes.get(key)
                if node is None:
                    missing.append(key)
                else:
                    self._nodes.move_to_end(key)
                    out[key] = node
            self.hits += len(out)
        if missing and self.rows is not None:
            held = self.rows.get(missing)
            out.update(held)
            if held and self.capacity > 0:  # built once: a node decodes two JSON columns
                self._remember(held, generation)
            missing = [key for key in missing if key not in held]
        if not missing:
            return out
        with self._lock:
            self.misses += len(missing)
        found = nodes.by_keys(self._cursor(), missing)
        out.update(found)
        if self.capacity > 0:
            self._remember(found, generation)
        return out

    def attributes(self, keys: Iterable[int]) -> dict[int, dict]:
        """The attributes of ``keys``' nodes (missing keys are absent): from the nodes
        cached, else from the in-memory rows without building nodes (and kept, as nodes
        are: decoding a routed search's head of 100 took 0.11 ms, read again 0.03), else
        as :meth:`get`."""
        wanted = [int(k) for k in keys]
        with self._lock:
            generation = self._generation
            out = {key: node.attributes for key in wanted if (node := self._nodes.get(key)) is not None}
            for key in wanted:
                if key not in out and (found := self._attributes.get(key)) is not None:  # {} is found too
                    self._attributes.move_to_end(key)
                    out[key] = found
        missing = [key for key in wanted if key not in out]
        if missing and self.rows is not None:
            decoded = self.rows.attributes(missing)
            out.update(decoded)
            self._remember_attributes(decoded, generation)
            missing = [key for key in missing if key not in out]
        if missing:
            out.update({key: node.attributes for key, node in self.get(missing).items()})
        return out

    def label_counts(self, keys: Iterable[int]) -> dict[int, dict[str, int]]:
        """The label counts of ``keys``' nodes (missing keys are absent): from the nodes
        cached, else from the in-memory rows without building (nor keeping) nodes: a
        count ranks every node of a level, and building 3,500 scenes took 190 ms."""
        wanted = [int(k) for k in keys]
        with self._lock:
            out = {key: node.label_counts for key in wanted if (node := self._nodes.get(key)) is not None}
        missing = [key for key in wanted if key not in out]
        if missing and self.rows is not None:
            out.update(self.rows.decoded(missing, "label_counts"))
            missing = [key for key in missing if key not in out]
        if missing:
            out.update({key: node.label_counts for key, node in self.get(missing).items()})
        return out

    def read_ahead_attributes(self, parts: list[np.ndarray], chunk: int = 4096) -> int:
        """Decode ahead the attributes of the keys in ``parts`` (a collection's levels, once
        its writes settle) when they fill at most half the cache: one collection must not
        push out what the searches of others read. Those neither built nor decoded yet come
        from the in-memory rows, read afresh once when they lack some, never from the
        store; how many were decoded."""
        if self.rows is None or not 0 < sum(len(keys) for keys in parts) <= self.capacity // 2:
            return 0
        with self._lock:
            generation = self._generation
        # Read outside the lock, which searches wait on: a key found or missed by a change
        # meanwhile is decoded once more or left to the search that asks for it.
        wanted = [
            key for keys in parts for key in keys.tolist() if key not in self._nodes and key not in self._attributes
        ]
        decoded = self._decode_ahead(self.rows, wanted, generation, chunk)
        if len(decoded) < len(wanted):  # rows written since they were last read: read them now
            self.rows.refresh()
            decoded |= self._decode_ahead(self.rows, [k for k in wanted if k not in decoded], generation, chunk)
        return len(decoded)

    def _decode_ahead(self, rows: NodeRows, keys: list[int], generation: int, chunk: int) -> set[int]:
        decoded: set[int] = set()
        for at in range(0, len(keys), chunk):
            found = rows.attributes(keys[at : at + chunk])
            self._remember_attributes(found, generation)
            decoded.update(found)
        return decoded

    def invalidate(self) -> None:
        """Forget every node (after a commit that rewrote or deleted stored nodes)."""
        # The rows first: a lookup between the two would otherwise build a node from a row
        # not yet dropped and keep it under the new generation, for good.
        if self.rows is not None:
            self.rows.invalidate()
        with self._lock:
            self._generation += 1
            self._nodes.clear()
            self._attributes.clear()

    def forget(self, keys: Iterable[int]) -> None:
        """Forget the nodes of ``keys`` (after a commit that rewrote or deleted just those);
        the rest stay. Reads under way are not remembered: they may hold the old rows."""
        keys = [int(key) for key in keys]
        # The rows first, as in invalidate: a node built from them before this point is
        # either dropped below or not remembered (its generation is older).
        if self.rows is not None:
            self.rows.forget(keys)
        with self._lock:
            self._generation += 1
            for key in keys:
                self._nodes.pop(key, None)
                self._attributes.pop(key, None)

    def read_rows(self) -> None:
        """Read the in-memory rows of every node now (when kept), in this thread."""
        if self.rows is not None:
            self.rows.refresh()

    def close(self) -> None:
        """Wait for a read of the rows under way; start no other."""
        if self.rows is not None:
            self.rows.close()

    def _remember(self, found: dict[int, Node], generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._nodes.update(found)
            while len(self._nodes) > self.capacity:
                self._nodes.popitem(last=False)

    def _remember_attributes(self, found: dict[int, dict], generation: int) -> None:
        with self._lock:
            if generation != self._generation or self.capacity <= 0:
                return
            self._attributes.update(found)
            while len(self._attributes) > self.capacity:
                self._attributes.popitem(last=False)
