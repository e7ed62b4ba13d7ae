"""Search pages under concurrent writes, grouping by video, and the focus of an answer."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import replace

import numpy as np
import pytest

from hierarchy import rerank
from hierarchy.calibrate import LevelMoments
from hierarchy.candidates import Ranked
from hierarchy.db import Database
from hierarchy.errors import InvalidArgument
from hierarchy.indexparams import IndexParams
from hierarchy.types import EmbeddingSpace, Filter, Hit, Level, Mode, SearchQuery, SearchResult, SegmentInput
from tests.hierarchy.helpers import COLLECTION, DIM, OpenDb, hit_ids, segments, unit_vectors

VIDEOS = ("v1", "v2", "v3")


@pytest.fixture
def library(db: Database) -> Database:
    """Three sealed videos of 120 one-second segments with random vectors."""
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    for i, video in enumerate(VIDEOS):
        db.create_video(COLLECTION, video)
        db.append_segments(COLLECTION, segments(video, unit_vectors(120, seed=i)))
        db.seal_video(COLLECTION, video)
    return db


def pages(db: Database, q: SearchQuery, between: object = None) -> list[list[str]]:
    """Ids of every page, calling ``between(page_number)`` after each page."""
    out, token = [], ""
    while True:
        result = db.search(q, token)
        out.append([h.node.id for h in result.hits])
        token = result.next_page_token
        if not token:
            return out
        if between is not None:
            between(len(out))


def listed(db: Database, q: SearchQuery, most: int) -> list[Hit]:
    """The hits of every page, following the tokens, over at most ``most`` pages."""
    hits: list[Hit] = []
    token = ""
    for _ in range(most):
        result = db.search(q, token)
        hits += result.hits
        token = result.next_page_token
        if not token:
            break
    return hits


def near(vector: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Unit vectors close to ``vector``: they would outrank everything already stored."""
    noise = np.random.default_rng(seed).normal(scale=0.05, size=(count, len(vector)))
    rows = (vector + noise).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.mark.parametrize("mode", [Mode.LEVEL, Mode.AUTO, Mode.ALL])
def test_pages_answer_as_of_the_first_page_while_writes_land(library: Database, mode: Mode) -> None:
    probe = unit_vectors(1, seed=99)[0]
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=probe, top_k=9, mode=mode)
    before = pages(library, q)
    library.create_video(COLLECTION, "late")

    def write(page: int) -> None:
        # Answers that would outrank every stored one, and a new sealed tree.
        if page > 6:
            return
        library.append_segments(COLLECTION, segments("late", near(probe, 5, page), first_ms=page * 5000))
        if page == 2:
            library.create_video(COLLECTION, "sealed-late")
            library.append_segments(COLLECTION, segments("sealed-late", near(probe, 20, 50)))
            library.seal_video(COLLECTION, "sealed-late")

    during = pages(library, q, write)
    assert during == before
    flat = [i for page in during for i in page]
    assert len(flat) == len(set(flat)), "no answer appears twice"
    if mode is not Mode.AUTO:  # (AUTO may route elsewhere once the library has changed)
        fresh = {i for page in pages(library, q) for i in page}
        assert any(i.startswith(("late", "sealed-late")) for i in fresh), "a new search sees the new writes"


@pytest.mark.parametrize("group", [False, True])
def test_pages_of_every_level_together_hold_their_answers_when_many_are_written_between(
    db: Database, group: bool
) -> None:
    # Each level's candidates are found before the later page masks what it may not see:
    # 150 new moments near the query took most of the segment pool's places, and the page
    # answered with drives past better segments it never saw, then ended early.
    rng = np.random.default_rng(0)
    probe = rng.normal(size=8).astype(np.float32)

    def moments(video: str, count: int, close: bool) -> list[SegmentInput]:
        rows = rng.normal(size=(count, 8)).astype(np.float32)
        rows = rows * 0.3 + probe if close else rows
        return [SegmentInput(video, i * 1000, i * 1000 + 1000, rows[i]) for i in range(count)]

    db.create_collection("c", EmbeddingSpace(8))
    for video, count, close in (("a", 400, True), ("b", 60, False), ("c", 60, False)):
        db.create_video("c", video)
        db.append_segments("c", moments(video, count, close))
        db.seal_video("c", video)
    db.create_video("c", "later")
    q = SearchQuery("c", vector=probe, top_k=2 if group else 3, mode=Mode.ALL, include_evidence=False)
    q = replace(q, group_by_video=group, group_size=3)

    def answers(result: SearchResult) -> list[object]:
        return [(g.video_id, [h.node.id for h in g.hits]) for g in result.groups] if group else hit_ids(result)

    one = answers(db.search(replace(q, top_k=2 * q.top_k)))
    first = db.search(q)
    db.append_segments("c", moments("later", 150, True))
    second = db.search(q, first.next_page_token)
    assert answers(first) + answers(second) == one


def test_pages_stay_consistent_with_a_writer_thread(library: Database) -> None:
    probe = unit_vectors(1, seed=7)[0]
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=probe, top_k=25)
    before = pages(library, q)
    library.create_video(COLLECTION, "live")
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set() and n < 200:
            library.append_segments(COLLECTION, segments("live", near(probe, 3, n), first_ms=n * 3000))
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        during = pages(library, q, lambda page: stop.wait(0.01))
    finally:
        stop.set()
        thread.join()
    assert during == before


@pytest.mark.parametrize("mode", [Mode.LEVEL, Mode.ALL])
def test_a_delete_between_pages_skips_no_answer(library: Database, mode: Mode) -> None:
    """Pages after a delete hold the answers that followed, minus the deleted ones:
    none is pushed onto a page already shown."""
    probe = unit_vectors(1, seed=5)[0]
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=probe, top_k=10, mode=mode)
    before = [i for page in pages(library, q) for i in page]
    first = library.search(q)
    gone = first.hits[0].node.video_id
    library.delete_video(COLLECTION, gone)
    rest = pages_from(library, q, first.next_page_token)
    shown = [h.node.id for h in first.hits] + [i for page in rest for i in page]
    left = [i for i in before[10:] if not i.startswith(gone)]  # (ALL mixes its parents in too)
    assert len(shown) == len(set(shown)), "no answer shown twice"
    if mode is Mode.LEVEL:
        assert shown[10:] == left
    else:  # the joint rerank of the ranking's head sees other answers now: the order may change
        assert sorted(shown[10:]) == sorted(left)


def test_a_delete_between_pages_of_videos_skips_no_video(library: Database) -> None:
    probe = unit_vectors(1, seed=6)[0]
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=probe, top_k=1, group_by_video=True, group_size=3)
    order = [g.video_id for page in _group_pages(library, q) for g in page]
    first = library.search(q)
    library.delete_video(COLLECTION, order[0])
    rest = [g.video_id for page in _group_pages(library, q, first.next_page_token) for g in page]
    assert rest == order[1:]


def test_a_token_of_offset_and_commit_alone_still_pages(library: Database) -> None:
    """Tokens never expire: those that hold only where the page starts still work."""
    from hierarchy import paging

    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(1, seed=8)[0], top_k=7)
    first = library.search(q)
    cid = library.get_collection(COLLECTION).id
    position = paging.decode(first.next_page_token, _owner_of(first.next_page_token), collection_id=cid)
    old = paging.encode(position[:2], _owner_of(first.next_page_token))  # nor the collection's id
    assert hit_ids(library.search(q, old)) == hit_ids(library.search(q, first.next_page_token))


def test_a_token_of_a_deleted_collection_is_refused_by_its_namesake(library: Database) -> None:
    """Names are reused after a delete: a token of the old collection's search, passed to
    a new one of that name holding the same videos, is refused rather than paging it."""
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(1, seed=8)[0], top_k=7)
    token = library.search(q).next_page_token
    library.create_video(COLLECTION, "v0")  # two videos: a page of one has a next
    listed = library.list_videos(COLLECTION, page_size=1)[1]
    library.delete_collection(COLLECTION)
    library.create_collection(COLLECTION, EmbeddingSpace(DIM))
    library.create_video(COLLECTION, "v1")
    library.append_segments(COLLECTION, segments("v1", unit_vectors(120, seed=0)))
    with pytest.raises(InvalidArgument, match="since deleted; start again from the first page") as err:
        library.search(q, token)
    assert err.value.field == "page_token"
    assert len(library.search(q).hits) == 7
    # A listing's token likewise, told to list again rather than to search.
    with pytest.raises(InvalidArgument, match="since deleted; start again from the first page"):
        library.list_videos(COLLECTION, page_size=1, page_token=listed)


@pytest.mark.parametrize("mode", [Mode.AUTO, Mode.ALL])
def test_later_pages_score_with_the_statistics_of_the_first(library: Database, mode: Mode) -> None:
    """Statistics refreshed between pages (a background refresh lands at the same commit)
    do not reach the later pages of a search begun before: they score as the first did."""
    vector = unit_vectors(1, seed=12)[0]
    q = SearchQuery(COLLECTION, vector=vector, text="a moment", mode=mode, top_k=10)
    whole = library.search(replace(q, top_k=30))  # the first three pages in one
    first = library.search(q)
    coll = library.get_collection(COLLECTION)
    cache = library.searcher._level_moments
    for level in Level:  # new statistics of every level, from a third of its vectors
        index = library.indexes.get(coll, level)
        rows = index.sample(10_000)[: max(len(index) // 3, 2)]
        fresh = LevelMoments.of(rows, len(index))
        cache._keep_version((coll.id, int(level)), library.commits.visible(coll.id), fresh, index.deleted)
    fresh = library.search(replace(q, top_k=30))
    assert [h.score for h in fresh.hits] != [h.score for h in whole.hits]  # the new statistics score otherwise
    second = library.search(q, first.next_page_token)
    third = library.search(q, second.next_page_token)
    expected = [(h.node.id, round(h.score, 9)) for h in whole.hits[10:30]]
    assert [(h.node.id, round(h.score, 9)) for h in second.hits + third.hits] == expected


def test_a_token_whose_statistics_are_gone_pins_those_its_next_page_used(
    library: Database,
    open_db,
    data_dir,  # noqa: ANN001
) -> None:
    """After a restart the versions a token names are gone: the next page scores with the
    current ones and pins them, so a refresh after it moves nothing on the page after."""
    q = SearchQuery(COLLECTION, vector=unit_vectors(1, seed=12)[0], mode=Mode.ALL, top_k=10)
    token = library.search(q).next_page_token
    library.close()
    db = open_db(data_dir)
    second = db.search(q, token)
    third = [(h.node.id, h.score) for h in db.search(q, second.next_page_token).hits]
    coll = db.get_collection(COLLECTION)
    for level in Level:  # statistics replaced between the second page and the third
        index = db.indexes.get(coll, level)
        fresh = LevelMoments.of(index.sample(10_000)[: max(len(index) // 3, 2)], len(index))
        db.searcher._level_moments._keep_version((coll.id, int(level)), db.commits.visible(coll.id), fresh, 0)
    assert [(h.node.id, h.score) for h in db.search(q, second.next_page_token).hits] == third


def pages_from(db: Database, q: SearchQuery, token: str) -> list[list[str]]:
    out = []
    while token:
        result = db.search(q, token)
        out.append([h.node.id for h in result.hits])
        token = result.next_page_token
    return out


def _group_pages(db: Database, q: SearchQuery, token: str = "") -> list[list]:
    out = []
    while True:
        result = db.search(q, token)
        out.append(result.groups)
        token = result.next_page_token
        if not token:
            return out


@pytest.mark.parametrize("rerank", [None, False])
def test_pages_of_every_level_together_are_one_list(library: Database, rerank: bool | None) -> None:
    """Walking the pages gives the answers of one long page, in its order: the rerank's
    drops are made up for by ranking deeper, not by reading past what each level gave."""
    probe = unit_vectors(1, seed=12)[0]
    q = SearchQuery(COLLECTION, vector=probe, mode=Mode.ALL, top_k=13, rerank=rerank)
    whole = library.search(replace(q, top_k=1000)).hits
    assert [i for page in pages(library, q) for i in page] == [h.node.id for h in whole]
    if rerank is None:  # the joint rerank: no answer overlaps another, past its head too
        spans = [(h.node.video_id, h.node.start_ms, h.node.end_ms) for h in whole]
        assert len(whole) > 100
        for i, (video, start, end) in enumerate(spans):
            assert all(v != video or e <= start or end <= s for v, s, e in spans[:i])


def test_group_by_video_gives_each_video_its_best_answers(library: Database) -> None:
    probe = unit_vectors(1, seed=11)[0]
    flat = library.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=probe, top_k=200)).hits
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=probe, top_k=2, group_by_video=True, group_size=4)
    first = library.search(q)
    assert first.hits == [] and len(first.groups) == 2
    rest = library.search(q, first.next_page_token)
    assert len(rest.groups) == 1 and not rest.next_page_token
    groups = first.groups + rest.groups
    assert sorted(g.video_id for g in groups) == sorted(VIDEOS)
    assert [g.rank for g in groups] == [1, 2, 3], "a video's place counts across pages"
    order = list(dict.fromkeys(h.node.video_id for h in flat))
    assert [g.video_id for g in groups] == order, "videos come in the order of their best answer"
    for g in groups:
        expected = [h.node.id for h in flat if h.node.video_id == g.video_id][:4]
        assert [h.node.id for h in g.hits] == expected
        assert [h.rank for h in g.hits] == [1, 2, 3, 4]
        assert g.score == g.hits[0].score


@pytest.mark.parametrize("mode", [Mode.LEVEL, Mode.ALL])
def test_a_video_group_holds_its_best_answers_whatever_the_page_size(db: Database, mode: Mode) -> None:
    """Video a has one answer far better than video b's and many worse ones: its group
    still holds its three best, on a page of one video as on a page of ten."""
    rng = np.random.default_rng(0)
    probe = unit_vectors(1, seed=21)[0]

    def at(similarity: float, count: int) -> np.ndarray:
        other = rng.normal(size=(count, DIM))
        other -= (other @ probe)[:, None] * probe
        other /= np.linalg.norm(other, axis=1, keepdims=True)
        return (similarity * probe + np.sqrt(1 - similarity**2) * other).astype(np.float32)

    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    for video, vectors in (("a", np.concatenate([at(0.99, 1), at(0.5, 19)])), ("b", at(0.9, 150))):
        db.create_video(COLLECTION, video)
        db.append_segments(COLLECTION, segments(video, vectors))
    q = SearchQuery(COLLECTION, vector=probe, mode=mode, rerank=False, group_by_video=True, group_size=3)
    wide = db.search(replace(q, top_k=10)).groups
    assert [g.video_id for g in wide] == ["a", "b"] and [len(g.hits) for g in wide] == [3, 3]
    first = db.search(replace(q, top_k=1))
    assert [[h.node.id for h in g.hits] for g in first.groups] == [[h.node.id for h in wide[0].hits]]
    rest = db.search(replace(q, top_k=1), first.next_page_token).groups
    assert [[h.node.id for h in g.hits] for g in rest] == [[h.node.id for h in wide[1].hits]]


@pytest.mark.parametrize(("field", "value"), [("group_size", -1), ("group_size", 101), ("diversity", 1.5)])
def test_bad_grouping_and_diversity_name_the_field(library: Database, field: str, value: float) -> None:
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(1)[0], **{field: value})
    with pytest.raises(InvalidArgument) as err:
        library.search(q)
    assert err.value.field == field


def test_unknown_reranker_is_refused(library: Database) -> None:
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(1)[0], mode=Mode.AUTO, reranker="magic")
    with pytest.raises(InvalidArgument) as err:
        library.search(q)
    assert err.value.field == "reranker"


def test_focus_is_the_span_of_the_evidence_inside_the_answer(library: Database) -> None:
    target = segments("v2", unit_vectors(120, seed=1))[60]
    q = SearchQuery(COLLECTION, Level.SCENE, vector=target.vector, top_k=50, filter=Filter(video_ids=("v2",)))
    hit = next(h for h in library.search(q).hits if h.node.start_ms <= target.start_ms < h.node.end_ms)
    assert hit.evidence[0].node.start_ms == target.start_ms
    assert hit.node.start_ms <= hit.focus.start_ms <= target.start_ms
    assert target.end_ms <= hit.focus.end_ms <= hit.node.end_ms
    segment_hit = library.search(SearchQuery(COLLECTION, Level.SEGMENT, vector=target.vector, top_k=1)).hits[0]
    assert (segment_hit.focus.start_ms, segment_hit.focus.end_ms) == (target.start_ms, target.end_ms)


def test_a_forged_token_past_the_result_window_is_refused(library: Database) -> None:
    from hierarchy import paging, searcher

    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(1, seed=3)[0], top_k=5)
    token = library.search(q).next_page_token
    raw = paging.decode(token, _owner_of(token), collection_id=library.get_collection(COLLECTION).id)
    forged = paging.encode([10**30, raw[1]], _owner_of(token))
    with pytest.raises(InvalidArgument) as err:
        library.search(q, forged)
    assert err.value.field == "page_token" and str(searcher.MAX_RESULT_WINDOW) in err.value.message


@pytest.mark.parametrize("group", [False, True])
def test_a_reader_of_every_page_is_told_where_the_result_window_ends(
    library: Database, monkeypatch: pytest.MonkeyPatch, group: bool
) -> None:
    # The page that reaches the window offered no token, so a client reading to the end
    # stopped there as if it had every answer.
    from hierarchy import searcher

    monkeypatch.setattr(searcher, "MAX_RESULT_WINDOW", 2 if group else 20)
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=unit_vectors(1, seed=3)[0], top_k=1 if group else 7)
    q = replace(q, group_by_video=group)
    token, starts = "", []
    with pytest.raises(InvalidArgument) as err:
        for _ in range(10):
            result = library.search(q, token)
            starts.append(len(starts) * q.top_k)
            token = result.next_page_token
            assert token, "more answers rank past every page served"
    assert starts == ([0, 1] if group else [0, 7, 14])
    assert err.value.field == "page_token" and "narrow the filter" in err.value.message


def _owner_of(token: str) -> str:
    """The request digest a token carries (tokens are base64 JSON)."""

    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["d"]


def test_pages_leave_out_what_a_writer_is_still_indexing(library: Database) -> None:
    probe = unit_vectors(1, seed=7)[0]
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=probe, top_k=25)
    before = pages(library, q)
    # A writer between updating the index and making its commit visible: the index holds
    # three near answers that searches must not see yet (nor shift the pages by).
    coll = library.get_collection(COLLECTION)
    seq = library.sequence.take()
    library.commits.indexing(coll.id, seq)
    library._index(coll, Level.SEGMENT).add(np.arange(10**6, 10**6 + 3), near(probe, 3, 0), seq)
    assert pages(library, q) == before
    first = library.search(q)
    assert [h.node.id for h in library.search(q, first.next_page_token).hits] == before[1]


@pytest.mark.parametrize("exact_below", [20_000, 0], ids=["scanned", "graph"])
@pytest.mark.parametrize("level", [Level.SEGMENT, Level.SCENE])
def test_pages_of_tied_answers_give_each_once_in_order(open_db: OpenDb, exact_below: int, level: Level) -> None:
    """Answers that tie (identical vectors: a replay, a static shot, the same caption)
    page like any others: each once, scores never rising, as one long page lists them."""
    db = open_db(index=IndexParams(dtype="i8", exact_below=exact_below))
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    distinct = unit_vectors(5, seed=3)
    for video in ("v1", "v2"):
        db.create_video(COLLECTION, video)
        db.append_segments(COLLECTION, segments(video, np.repeat(distinct, 30, axis=0)))  # runs of 30 alike
        db.seal_video(COLLECTION, video)
    db.searcher.settle()
    # On a settled graph: the linkers wait out the seals, and vectors linked between two
    # pages can move tied answers across them (a known limit of tokens on graph levels).
    for index in db.indexes.of_collection(db.get_collection(COLLECTION).id).values():
        index.link_all()
    q = SearchQuery(COLLECTION, level, vector=distinct[0] + 0.01, top_k=7)
    one = [h.node.id for h in db.search(replace(q, top_k=1000)).hits]
    hits = listed(db, q, len(one) // 7 + 2)  # a page more than the answers need, and no more
    assert len(one) > 7 and [h.node.id for h in hits] == one
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def _graph_library(open_db: OpenDb, videos: int, per_video: int, seed: int) -> Database:
    """Open videos of random 64-d segments, every one linked into the graph, which a weak
    beam searches (above 500 nodes a level is searched through its graph)."""
    db = open_db(index=IndexParams(dtype="i8", exact_below=500), narrowed_expansion_search=16)
    db.create_collection(COLLECTION, EmbeddingSpace(64))
    for i in range(videos):
        db.create_video(COLLECTION, f"v{i}")
        db.append_segments(COLLECTION, segments(f"v{i}", unit_vectors(per_video, dim=64, seed=seed + i)))
    for index in db.indexes.of_collection(db.get_collection(COLLECTION).id).values():
        index.link_all()
    return db


def test_pages_of_a_graph_level_never_repeat_an_answer_nor_rise_in_score(open_db: OpenDb) -> None:
    """A deeper graph search finds answers a shallower one missed, better ones too: they
    pushed the answers shown past where the next page looked for them, and the next page
    served the one before again (with scores rising between them)."""
    db = _graph_library(open_db, 20, 200, seed=100)
    for vector in unit_vectors(20, dim=64, seed=7):
        hits = listed(db, SearchQuery(COLLECTION, Level.SEGMENT, vector=vector, top_k=10), 4)
        ids, scores = [h.node.id for h in hits], [h.score for h in hits]
        assert len(set(ids)) == len(ids) == 40
        assert scores == sorted(scores, reverse=True)


def test_pages_of_videos_of_a_graph_level_list_each_video_once(open_db: OpenDb) -> None:
    """Grouped by video, a deeper graph search that misses a video's best answer ranked the
    video lower than a page before had, and it was listed again."""
    db = _graph_library(open_db, 40, 100, seed=300)
    for vector in unit_vectors(15, dim=64, seed=8):
        q = SearchQuery(COLLECTION, Level.SEGMENT, vector=vector, top_k=5, group_by_video=True, group_size=2)
        videos, token = [], ""
        for _ in range(6):
            result = db.search(q, token)
            videos += [g.video_id for g in result.groups]
            token = result.next_page_token
            if not token:
                break
        assert len(videos) == len(set(videos)) >= 25


def test_tied_answers_linked_between_two_pages_are_each_listed_once_in_order(open_db: OpenDb) -> None:
    """A vector scores the same, to the bit, while it waits to be linked (scanned in the
    tail) and once it is in the graph: tied answers linked between two pages keep their
    place against the page's cursor, neither skipped nor repeated."""
    db = open_db(index=IndexParams(dtype="i8", exact_below=0))
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    cid = db.get_collection(COLLECTION).id
    distinct = unit_vectors(50, seed=3)
    q = SearchQuery(COLLECTION, Level.SEGMENT, vector=distinct[0] + 0.01, top_k=7)
    with db.indexes.building(cid):  # the linkers wait: the first page is read from the tail
        for video in ("v1", "v2"):
            db.create_video(COLLECTION, video)
            db.append_segments(COLLECTION, segments(video, np.repeat(distinct, 3, axis=0)))  # ties of six
        first = db.search(q)
        assert db.indexes.find(cid, Level.SEGMENT).unlinked == 300
    db.indexes.find(cid, Level.SEGMENT).link_all()
    hits, token = list(first.hits), first.next_page_token
    while token:
        page = db.search(q, token)
        hits, token = hits + page.hits, page.next_page_token
    one = db.search(replace(q, top_k=1000)).hits
    assert len(one) == 300
    assert [h.node.id for h in hits] == [h.node.id for h in one]
    assert [h.similarity for h in hits] == [h.similarity for h in one]


@pytest.mark.parametrize("top_k", [7, 10, 33])
def test_pages_of_a_search_naming_a_side_list_its_answers_as_one_page_does(db: Database, top_k: int) -> None:
    """'… for the away side' puts the away side's answers first among the best of the
    ranking; paging through it lists the answers one long page lists, in that order."""
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    db.create_video(COLLECTION, "v1")
    rows = [
        SegmentInput("v1", i * 1000, i * 1000 + 1000, v, attributes={"team": "home" if i % 2 else "away"})
        for i, v in enumerate(unit_vectors(400, seed=5))
    ]
    db.append_segments(COLLECTION, rows)
    q = SearchQuery(COLLECTION, text="a corner kick for the away side", vector=unit_vectors(1, seed=6)[0],
                    mode=Mode.AUTO, top_k=top_k)  # fmt: skip
    one = db.search(replace(q, top_k=400))
    assert "away side" in one.route.reason
    head = [h.node.attributes["team"] for h in one.hits[:40]]
    assert head == sorted(head)  # away before home among the best
    assert [h.node.id for h in listed(db, q, 400 // top_k + 2)] == [h.node.id for h in one.hits]


def test_pages_of_a_description_in_sentences_list_its_videos_as_one_page_does(db: Database) -> None:
    """A description in several sentences ranks videos by each sentence's best scene in
    them; over more videos than that covers (100), its pages still list each video once,
    as one long page does."""
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    vectors = unit_vectors(130 * 3, seed=21)
    for v in range(130):
        db.create_video(COLLECTION, f"m{v:03d}")
        db.append_segments(COLLECTION, segments(f"m{v:03d}", vectors[3 * v : 3 * v + 3]))
        db.seal_video(COLLECTION, f"m{v:03d}")
    text = "A man walks a dog along the beach. The dog runs into the waves and back."
    parts = tuple(unit_vectors(2, seed=22))
    q = SearchQuery(COLLECTION, text=text, vector=unit_vectors(1, seed=23)[0], part_vectors=parts,
                    mode=Mode.AUTO, top_k=9)  # fmt: skip
    one = db.search(replace(q, top_k=130))
    assert one.route.levels == (Level.VIDEO,) and len(one.hits) == 130
    assert [h.node.id for h in listed(db, q, 130 // 9 + 2)] == [h.node.id for h in one.hits]


def _no_scenes(found: rerank.Candidates) -> list[Ranked]:
    """A plug-in built on the joint rerank: its answers without scenes."""
    return [r for r in rerank.joint(found) if r.level is not Level.SCENE]


@pytest.mark.parametrize(("mode", "reranker"), [(Mode.AUTO, ""), (Mode.ALL, ""), (Mode.ALL, "no-scenes")])
@pytest.mark.parametrize("top_k", [1, 4])
def test_pages_of_a_library_of_replays_are_one_list(db: Database, mode: Mode, reranker: str, top_k: int) -> None:
    """The joint rerank serves a page from as much of its head as the page needs: where
    many answers are replays of others (moved below every distinct one), the pages still
    walk the order of one long page; so do those of a plug-in that filters the joint
    rerank's answers (it is given, and gives, the whole order)."""
    rerank.register("no-scenes", _no_scenes, drops_overlaps=True)
    db.create_collection(COLLECTION, EmbeddingSpace(DIM))
    moments = unit_vectors(12, seed=507)
    rng = np.random.default_rng(7)
    for i, video in enumerate(VIDEOS[:2]):
        rows = unit_vectors(25, seed=7 + i)
        for j in range(25):
            if rng.random() < 0.35:  # a replay of one of the moments
                moment, scale = moments[rng.integers(12)], rng.choice([0.02, 0.05, 0.06])
                noise = np.random.default_rng(7000 + 100 * i + j).normal(scale=scale, size=DIM)
                rows[j] = (moment + noise) / np.linalg.norm(moment + noise)
        db.create_video(COLLECTION, video)
        db.append_segments(COLLECTION, segments(video, rows))
        db.seal_video(COLLECTION, video)
    q = SearchQuery(COLLECTION, vector=unit_vectors(1, seed=1004)[0], mode=mode, top_k=top_k, reranker=reranker)
    q = replace(q, include_evidence=False)
    try:
        whole = [h.node.id for h in db.search(replace(q, top_k=200)).hits]
        assert [i for page in pages(db, q) for i in page] == whole
    finally:
        rerank._REGISTRY.pop("no-scenes")
