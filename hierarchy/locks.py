"""Per-collection write locks, and the collections deleted while writers waited for them."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager

from hierarchy.errors import NotFound
from hierarchy.types import Collection


class WriteLocks:
    """One re-entrant lock per collection id (sealing holds it across the build it runs).

    A writer looks its collection up before it takes the lock, so a delete can run while
    it waits; :meth:`writing` then refuses it instead of writing rows that belong to no
    collection. Ids are never reused (``catalog.insert_collection``), so a deleted id
    stays deleted."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[int, threading.RLock] = {}
        self._deleted: set[int] = set()

    def lock(self, cid: int) -> threading.RLock:
        """The collection's lock, unchecked (deleting, pausing every writer)."""
        with self._guard:
            return self._locks.setdefault(cid, threading.RLock())

    @contextmanager
    def writing(self, coll: Collection) -> Iterator[None]:
        """Hold ``coll``'s lock; NotFound when it was deleted before the lock was had."""
        with self.lock(coll.id):
            if coll.id in self._deleted:
                raise NotFound(f"collection {coll.name!r} was deleted while this request waited", "collection")
            yield

    @contextmanager
    def every(self, catalog_lock: threading.Lock, collections: Callable[[], Iterable[Collection]]) -> Iterator[None]:
        """Hold ``catalog_lock``, then the lock of each collection ``collections`` lists once it
        is held (none is created or deleted meanwhile), so that no write runs. In the order a
        collection's delete takes them (catalog, then collection): the two never deadlock."""
        with ExitStack() as stack:
            stack.enter_context(catalog_lock)
            for coll in collections():
                stack.enter_context(self.lock(coll.id))
            yield

    def alive(self, cid: int) -> bool:
        """Whether the collection was not deleted (as :meth:`deleted` noted)."""
        with self._guard:
            return cid not in self._deleted

    def deleted(self, cid: int) -> None:
        """Note a deleted collection (call with its lock held). Its lock is let go: writers
        waiting on it hold it still, and find the collection deleted; later ones get a new
        lock and find the same."""
        with self._guard:
            self._deleted.add(cid)
            self._locks.pop(cid, None)
