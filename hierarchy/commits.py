"""What searches may see: per collection, the latest commit that is stored, indexed and in
the read caches, and per level, how many commits rewrote or deleted stored nodes.

Read caches key on these: a search's later pages answer as of the commit its first page
saw (:meth:`Commits.visible`), in-memory spans merge appended nodes until a level is
rewritten (:meth:`Commits.rewrites`), and the label cache refreshes on any change
(:attr:`Commits.changes`). Writers record a commit only after its indexes are updated,
and announce it before they touch them (:meth:`Commits.indexing`): an index can hold
nodes of a commit searches do not see yet, and a ranking must then leave them out.
"""

from __future__ import annotations

import threading

from hierarchy.types import Level


class Commits:
    """Commit bookkeeping of one open database."""

    def __init__(self, opened_sequence: int) -> None:
        self._lock = threading.Lock()
        self._opened = opened_sequence
        self.changes = 0  # bumped by every committed write
        self._visible: dict[int, int] = {}  # collection id -> latest commit searches see
        self._rewrites: dict[tuple[int, Level], int] = {}
        self._written: dict[tuple[int, Level], int] = {}  # latest commit that added nodes to a level
        self._indexing: dict[int, int] = {}  # collection id -> latest commit whose index updates began
        self._stored = opened_sequence  # the highest commit in the store, of any collection

    def stored(self, seq: int) -> None:
        """Note that commit ``seq`` is in the store (writers of several collections run at once)."""
        with self._lock:
            self._stored = max(self._stored, seq)

    def last_stored(self) -> int:
        """The highest commit in the store."""
        with self._lock:
            return self._stored

    def committed(self, cid: int | None = None, seq: int = 0, levels: tuple[Level, ...] = ()) -> None:
        """Count a committed write; a write of commit ``seq`` to collection ``cid`` (adding
        nodes to ``levels``) becomes visible to searches."""
        with self._lock:
            self.changes += 1
            if cid is not None:
                self._visible[cid] = max(self._visible.get(cid, 0), seq)
                for level in levels:
                    self._written[(cid, level)] = max(self._written.get((cid, level), 0), seq)

    def indexing(self, cid: int, seq: int) -> None:
        """Announce that commit ``seq`` of a collection is about to update its indexes."""
        with self._lock:
            self._indexing[cid] = max(self._indexing.get(cid, 0), seq)

    def indexed(self, cid: int) -> int:
        """The latest commit of a collection whose nodes the indexes may hold (at least
        :meth:`visible`; more while a writer is updating them)."""
        with self._lock:
            visible = self._visible.get(cid, self._opened)
            return max(visible, self._indexing.get(cid, visible))

    def written(self, cid: int, level: Level) -> int:
        """The latest commit that added nodes to a collection's level (since the database
        was opened; before that, the sequence it was opened at)."""
        with self._lock:
            return self._written.get((cid, level), self._opened)

    def rewritten(self, cid: int, levels: list[Level]) -> None:
        """Count a commit that rewrote or deleted stored nodes of ``levels`` (after it)."""
        with self._lock:
            for level in levels:
                self._rewrites[(cid, level)] = self._rewrites.get((cid, level), 0) + 1

    def rewrites(self, cid: int, level: Level) -> int:
        """How many commits rewrote or deleted stored nodes of a collection's level; read
        caches of that level built under another count are stale."""
        with self._lock:
            return self._rewrites.get((cid, level), 0)

    def forget(self, cid: int) -> None:
        """Drop a deleted collection's entries (its id is never reused): a server that
        creates and deletes collections all day keeps nothing of each."""
        with self._lock:
            for table in (self._rewrites, self._written):
                for key in [key for key in table if key[0] == cid]:
                    del table[key]
            self._visible.pop(cid, None)
            self._indexing.pop(cid, None)

    def visible(self, cid: int) -> int:
        """The latest commit of a collection that searches see whole: stored, indexed and in
        the read caches. Pages of a search answer as of this commit."""
        with self._lock:
            return self._visible.get(cid, self._opened)
