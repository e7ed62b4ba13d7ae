"""Reading ahead once writes settle: the next search finds each level's statistics,
spans and scan copy read, and the warmer's own thread behaves."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from hierarchy import scan, spans
from hierarchy.db import Database
from hierarchy.types import Level, Mode, SearchQuery
from hierarchy.warmer import Warmer
from tests.hierarchy.helpers import COLLECTION, OpenDb, segments, unit_vectors


def _refuse(what: str):  # noqa: ANN202 - a stand-in that fails the test when called
    def called(*_args: object, **_kwargs: object) -> None:
        pytest.fail(f"the search read {what} itself")

    return called


def test_after_a_load_settles_a_search_reads_no_statistics_or_spans(games: Database, monkeypatch) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(80, seed=1)))
    games.append_segments(COLLECTION, segments("v2", unit_vectors(60, seed=2)))
    games.seal_video(COLLECTION, "v1")
    games.seal_video(COLLECTION, "v2")
    assert games.searcher.settle()
    coll = games.get_collection(COLLECTION)
    for level in Level:
        index = games.indexes.get(coll, level)
        monkeypatch.setattr(index, "sample", _refuse(f"the {level.name.lower()} level's statistics"))
    monkeypatch.setattr(spans.LevelSpans, "load", _refuse("spans"))
    vector = unit_vectors(1, seed=3)[0]
    for level in Level:
        assert games.search(SearchQuery(COLLECTION, level, vector=vector)).hits
    routed = games.search(SearchQuery(COLLECTION, vector=vector, text="a moment", mode=Mode.AUTO))
    assert routed.hits


def test_a_scored_levels_scan_copy_is_caught_up_and_no_other_is_made(games: Database, monkeypatch) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(80, seed=1)))
    games.seal_video(COLLECTION, "v1")
    vector = unit_vectors(1, seed=3)[0]
    # Its copy is made, and the segments' (each scene's evidence is scored from it).
    assert games.search(SearchQuery(COLLECTION, Level.SCENE, vector=vector)).hits
    games.append_segments(COLLECTION, segments("v2", unit_vectors(60, seed=2)))
    games.seal_video(COLLECTION, "v2")
    assert games.searcher.settle()
    coll = games.get_collection(COLLECTION)
    assert [level for level in Level if games.indexes.get(coll, level)._scan.held] == [Level.SEGMENT, Level.SCENE]
    monkeypatch.setattr(scan, "_caught_up", _refuse("a level's rows into its scan copy"))
    hits = games.search(SearchQuery(COLLECTION, Level.SCENE, vector=vector, top_k=100)).hits
    assert {h.node.video_id for h in hits} == {"v1", "v2"}


def test_statistics_no_search_used_are_replaced_and_those_one_used_kept(games: Database) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(100, seed=1)))
    assert games.searcher.settle()
    key = (games.get_collection(COLLECTION).id, int(Level.SEGMENT))
    kept = lambda: [m for _, m in games.searcher._level_moments._moments[key]]  # noqa: E731
    assert [m.count for m in kept()] == [100]
    for seed in range(5):  # pauses in a load: each would add a version the pages of a search might need
        games.append_segments(COLLECTION, segments("v2", unit_vectors(15, seed=10 + seed), first_ms=seed * 15_000))
        assert games.searcher.settle()
    assert len(kept()) == 1 and kept()[0].count >= 160  # brought up to date, in place
    used = kept()[0]
    games.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(1, seed=3)[0]))
    games.append_segments(COLLECTION, segments("v2", unit_vectors(200, seed=20), first_ms=100_000))
    assert games.searcher.settle()
    assert kept()[0] is used and [m.count for m in kept()][1:] == [375]  # a search used it: kept beside


def test_settled_statistics_are_those_a_restarted_server_computes(games: Database, open_db: OpenDb) -> None:
    """Once writes settle, each level's statistics describe what it holds, even after a
    change too small to make a search refresh them: a loaded library is scored as a
    restarted server scores it, whatever the timing of the load."""
    games.append_segments(COLLECTION, segments("v1", unit_vectors(100, seed=1)))
    assert games.searcher.settle()  # statistics of 100 segments
    games.append_segments(COLLECTION, segments("v2", unit_vectors(5, seed=2)))  # a twentieth more
    assert games.searcher.settle()
    q = SearchQuery(COLLECTION, vector=unit_vectors(1, seed=3)[0], top_k=5, mode=Mode.ALL)  # calibrated scores
    live = games.search(q).hits
    games.close()
    restarted = open_db().search(q).hits
    assert [h.node.id for h in restarted] == [h.node.id for h in live]
    assert [h.score for h in restarted] == pytest.approx([h.score for h in live], rel=1e-9)


def test_small_changes_add_no_version_beside_statistics_a_search_used(games: Database) -> None:
    """Writes with pauses and searches between them: the statistics a page token names
    stay kept (a version for each pause pushed it out after four), so its next page scores
    as it would have before them."""
    games.append_segments(COLLECTION, segments("v1", unit_vectors(300, seed=1)))
    assert games.searcher.settle()
    q = SearchQuery(COLLECTION, vector=unit_vectors(1, seed=3)[0], top_k=5, mode=Mode.ALL)
    token = games.search(q).next_page_token
    expected = [(h.node.id, h.score) for h in games.search(q, token).hits]
    for n in range(6):
        games.append_segments(COLLECTION, segments("v2", unit_vectors(1, seed=10 + n), first_ms=n * 1000))
        assert games.searcher.settle()
        games.search(q)
    assert [(h.node.id, h.score) for h in games.search(q, token).hits] == expected


def test_a_level_unchanged_since_its_statistics_is_not_read_again(games: Database, monkeypatch) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(80, seed=1)))
    games.seal_video(COLLECTION, "v1")
    assert games.searcher.settle()
    coll = games.get_collection(COLLECTION)
    sampled: list[Level] = []
    for level in Level:
        index = games.indexes.get(coll, level)
        monkeypatch.setattr(index, "sample", lambda *a, _l=level, _s=index.sample: sampled.append(_l) or _s(*a))
    games.append_segments(COLLECTION, segments("v2", unit_vectors(3, seed=2)))  # segments only
    assert games.searcher.settle()
    assert sampled == [Level.SEGMENT]
    assert games.searcher._level_moments._moments[(coll.id, int(Level.SEGMENT))][-1][1].count == 83


def test_a_collection_deleted_during_a_read_ahead_leaves_nothing_cached(games: Database, monkeypatch) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(50, seed=1)))
    cid = games.get_collection(COLLECTION).id
    reading, deleted = threading.Event(), threading.Event()
    read = games.searcher._read

    def read_across_a_delete(coll, levels):  # noqa: ANN001, ANN202 - Searcher._read's
        reading.set()
        assert deleted.wait(5)
        read(coll, levels)

    monkeypatch.setattr(games.searcher, "_read", read_across_a_delete)
    assert reading.wait(5)
    games.delete_collection(COLLECTION)
    deleted.set()
    assert games.searcher.settle()
    assert not [key for key in games.searcher._level_moments._moments if key[0] == cid]
    assert not [key for key in games.searcher._span_cache._spans if key[0] == cid]


def test_a_write_after_the_read_ahead_is_seen_by_the_next_search(games: Database) -> None:
    first = unit_vectors(40, seed=4)
    games.append_segments(COLLECTION, segments("v1", first))
    assert games.searcher.settle()
    later = unit_vectors(5, seed=5)
    ids = games.append_segments(COLLECTION, segments("v2", later)).segment_ids
    hit = games.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=later[2], top_k=1)).hits[0]
    assert hit.node.id == ids[2]


def test_a_deleted_collection_is_not_read_ahead(games: Database) -> None:
    games.append_segments(COLLECTION, segments("v1", unit_vectors(10, seed=6)))
    games.delete_collection(COLLECTION)
    assert games.searcher.settle()  # the read ahead found no collection and stopped quietly


def test_an_item_is_warmed_once_it_has_been_quiet() -> None:
    warmed: list[tuple[str, float]] = []
    warmer: Warmer[str] = Warmer(lambda item: warmed.append((item, time.monotonic())), quiet=0.05)
    began = time.monotonic()
    for _ in range(5):  # writes closer together than the quiet time postpone the read
        last_poke = time.monotonic()
        warmer.poke("a")
        time.sleep(0.02)
    assert warmer.settle(5)
    assert [item for item, _ in warmed] == ["a"]
    assert warmed[0][1] >= last_poke + 0.05 and warmed[0][1] - began >= 0.13
    warmer.poke("b")  # the thread ended: a later poke starts another
    assert warmer.settle(5) and [item for item, _ in warmed] == ["a", "b"]
    warmer.close()


def test_a_failing_warm_does_not_stop_the_others() -> None:
    warmed: list[str] = []

    def warm(item: str) -> None:
        if item == "bad":
            raise RuntimeError("gone")
        warmed.append(item)

    warmer: Warmer[str] = Warmer(warm, quiet=0.01)
    warmer.poke("bad")
    warmer.poke("good")
    assert warmer.settle(5)
    assert warmed == ["good"] and warmer.warmed == 1
    warmer.close()


def test_close_waits_for_a_warm_under_way_and_warms_nothing_after() -> None:
    started, release = threading.Event(), threading.Event()
    warmed: list[str] = []

    def warm(item: str) -> None:
        started.set()
        release.wait(5)
        warmed.append(item)

    warmer: Warmer[str] = Warmer(warm, quiet=0.0)
    warmer.poke("a")
    assert started.wait(5)
    closing = threading.Thread(target=warmer.close)
    closing.start()
    time.sleep(0.05)
    assert closing.is_alive()  # waits for the warm under way
    release.set()
    closing.join(5)
    assert not closing.is_alive() and warmed == ["a"]
    warmer.poke("b")
    time.sleep(0.05)
    assert warmed == ["a"]
    assert warmer.settle(0.5)  # nothing is due after a close


def test_pokes_from_many_threads_each_item_warmed_after_its_last() -> None:
    warmed: dict[str, int] = {}
    lock = threading.Lock()

    def warm(item: str) -> None:
        with lock:
            warmed[item] = warmed.get(item, 0) + 1

    warmer: Warmer[str] = Warmer(warm, quiet=0.01)
    threads = [threading.Thread(target=lambda i=i: [warmer.poke(f"c{i % 4}") for _ in range(200)]) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert warmer.settle(5)
    assert set(warmed) == {f"c{i}" for i in range(4)}
    assert np.all(np.array(list(warmed.values())) >= 1)
    warmer.close()


def test_after_a_load_settles_a_small_collections_attributes_are_decoded(games: Database, monkeypatch) -> None:
    rows = segments("v1", unit_vectors(80, seed=1))
    for i, row in enumerate(rows):
        row.attributes = {"team": "home" if i < 40 else "away"}
    games.append_segments(COLLECTION, rows)
    games.seal_video(COLLECTION, "v1")
    assert games.searcher.settle()
    monkeypatch.setattr(games.node_cache.rows, "attributes", _refuse("attributes from the rows"))
    vector = unit_vectors(1, seed=3)[0]
    routed = games.search(SearchQuery(COLLECTION, vector=vector, text="a moment of the home side", mode=Mode.AUTO))
    assert "home side's answers first" in routed.route.reason
