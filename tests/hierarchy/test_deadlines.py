"""Deadlines in the core: a search whose caller's deadline has passed stops between
stages with DeadlineExceeded, and a search with time to spare is unchanged; a batch
whose caller's deadline passed before it was stored is not stored."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from hierarchy import deadlines
from hierarchy.db import Database
from hierarchy.errors import DeadlineExceeded
from hierarchy.types import Mode, SearchQuery
from tests.hierarchy.helpers import COLLECTION, query, segments, unit_vectors


class TickingClock:
    """A monotonic clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        self.now += 1.0
        return self.now


@pytest.fixture
def filled(games: Database) -> Database:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(200)))
    games.build_video(COLLECTION, "v1")
    return games


def test_check_passes_without_a_deadline_or_before_it() -> None:
    deadlines.check(None, "anywhere")
    deadlines.check(deadlines.after(60), "anywhere")
    assert deadlines.after(None) is None


def test_check_raises_once_the_deadline_passed() -> None:
    with pytest.raises(DeadlineExceeded, match="while ranking"):
        deadlines.check(time.monotonic() - 0.001, "while ranking")


@pytest.mark.parametrize("mode", [Mode.LEVEL, Mode.AUTO, Mode.ALL], ids=lambda m: m.value)
def test_a_search_past_its_deadline_stops(filled: Database, mode: Mode) -> None:
    q = replace(query(unit_vectors(1, seed=5)[0]), mode=mode, deadline=time.monotonic() - 1)
    with pytest.raises(DeadlineExceeded):
        filled.search(q)


@pytest.mark.parametrize("mode", [Mode.LEVEL, Mode.AUTO, Mode.ALL], ids=lambda m: m.value)
def test_a_deadline_passing_mid_search_stops_it_between_stages(
    filled: Database, mode: Mode, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = TickingClock()
    monkeypatch.setattr(deadlines, "time", clock)
    # The first check (before the search starts) passes; the next one finds the time up.
    q = replace(query(unit_vectors(1, seed=5)[0]), mode=mode, deadline=clock.now + 1.5)
    with pytest.raises(DeadlineExceeded) as info:
        filled.search(q)
    assert "before the search started" not in info.value.message


def test_a_search_with_time_to_spare_answers_as_without_a_deadline(filled: Database) -> None:
    q: SearchQuery = query(unit_vectors(1, seed=5)[0], top_k=5)
    plain = filled.search(q)
    timed = filled.search(replace(q, deadline=deadlines.after(60)))
    assert [h.node.id for h in timed.hits] == [h.node.id for h in plain.hits]


def test_a_batch_whose_deadline_passes_while_it_waits_for_the_write_lock_is_not_stored(games: Database) -> None:
    """A batch that waited past its caller's deadline for the write lock (behind a tree
    build) is refused before it is stored: the caller was told it failed."""
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with games._locks.writing(games.get_collection(COLLECTION)):  # as a build's commit does
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert held.wait(10)
    threading.Timer(0.3, release.set).start()
    try:
        with pytest.raises(DeadlineExceeded, match="before the batch was stored"):
            games.append_segments(COLLECTION, segments("v1", unit_vectors(20)), deadline=time.monotonic() + 0.1)
    finally:
        release.set()
        holder.join(10)
    assert games.get_video(COLLECTION, "v1").segment_count == 0
    games.append_segments(COLLECTION, segments("v1", unit_vectors(20)), deadline=deadlines.after(60))
    assert games.get_video(COLLECTION, "v1").segment_count == 20
