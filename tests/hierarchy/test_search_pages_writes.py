"""Pages of a search written between: a delete of every answer a token remembers (ranks
going on from the answers shown), a rerank a delete undoes, a ranking a delete empties, a tree sealed and a named video
written after the first page's commit."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hierarchy import paging
from hierarchy.db import Database
from hierarchy.indexparams import IndexParams
from hierarchy.searcher import Searcher
from hierarchy.types import EmbeddingSpace, Level, Mode, SearchQuery
from tests.hierarchy.helpers import DIM, fast_options, hit_ids, segments, unit, unit_vectors


def test_a_delete_of_every_answer_a_token_remembers_and_more_skips_no_answer(db: Database) -> None:
    """The token keeps the last answers of a page; when a delete takes all of them and
    an earlier answer too, the next page starts after the last answer shown in score
    order, not as many places back as the token remembered (which skipped one)."""
    rng = np.random.default_rng(0)
    probe = np.eye(DIM, dtype=np.float32)[0]
    in_a, in_b = [0, *range(2, 10)], [1, *range(10, 40)]  # ranks: A holds the 1st and the 3rd-10th
    rank_of = {}
    db.create_collection("ranks", EmbeddingSpace(DIM))
    for video, ranks in (("A", in_a), ("B", in_b)):
        db.create_video("ranks", video)
        rows = np.stack([_at_cosine(probe, 0.99 - 0.01 * r, rng) for r in ranks])
        rank_of.update(zip(db.append_segments("ranks", segments(video, rows)).segment_ids, ranks, strict=True))
    q = SearchQuery("ranks", Level.SEGMENT, vector=probe, top_k=10, include_evidence=False)
    first = db.search(q)
    assert [rank_of[h.node.id] for h in first.hits] == list(range(10))
    db.delete_video("ranks", "A")
    second = db.search(q, first.next_page_token)
    assert [rank_of[h.node.id] for h in second.hits] == list(range(10, 20))
    # Ranks go on from the answers shown (a rank once given is never given again), not
    # from the page's place in the ranking the delete moved up.
    assert [h.rank for h in second.hits] == list(range(11, 21))


def test_a_reranked_search_keeps_a_look_alike_its_original_s_delete_freed(db: Database) -> None:
    """The joint rerank moved b (a's look-alike) behind every other answer; deleting a
    frees it, and the ranking left happens to be in score order. Resuming by the score
    of the last answer shown would pass b over: a reranked order gives no cursor."""
    q, named = _look_alikes(db)
    first = db.search(q)
    assert [named[h.node.id] for h in first.hits] == ["a", "c"]
    db.delete_video("looks", "A")
    assert [named[h.node.id] for h in db.search(q, first.next_page_token).hits] == ["b", "d"]


def test_a_look_alike_its_original_s_delete_moves_above_the_last_answer_shown_is_still_shown(db: Database) -> None:
    """Pages a c | d e | b: b waits behind every answer unlike a. With a deleted after the
    second page, b ranks first again, above e; the third page is b, not nothing."""
    q, named = _look_alikes(db)
    first = db.search(q)
    second = db.search(q, first.next_page_token)
    assert [named[h.node.id] for h in first.hits + second.hits] == ["a", "c", "d", "e"]
    db.delete_video("looks", "A")
    third = db.search(q, second.next_page_token)
    assert [named[h.node.id] for h in third.hits] == ["b"] and not third.has_more
    assert [h.rank for h in third.hits] == [5], "ranks count the answers shown before"


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_pages_of_a_reranked_search_past_the_answers_a_token_lists_are_one_list(
    db: Database, monkeypatch: pytest.MonkeyPatch, top_k: int
) -> None:
    """Past ``MAX_SEEN`` answers a token stops listing them and pages resume after the last
    ones shown: the pages still list the one-page ranking, each answer once."""
    monkeypatch.setattr(paging, "MAX_SEEN", 4)
    db.create_collection("many", EmbeddingSpace(DIM))
    db.create_video("many", "v")
    db.append_segments("many", segments("v", unit_vectors(40, seed=3)))
    q = SearchQuery("many", Level.SEGMENT, vector=unit_vectors(1, seed=4)[0], top_k=top_k, rerank=True)
    whole = [h.node.id for h in db.search(replace(q, top_k=40)).hits]
    listed, token = [], ""
    for _ in range(60):
        page = db.search(q, token)
        listed += [h.node.id for h in page.hits]
        token = page.next_page_token
        if not token:
            break
    assert listed == whole and len(set(listed)) == 40


def test_past_the_answers_a_token_lists_the_next_page_resumes_at_its_place_in_the_ranking_now(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Video A holds the two best answers, then F four, B two, C the rest. A is deleted
    after page 1; page 4 (B) is the first past the answers a token lists; B is deleted
    after it. Page 5 starts at C's best: the token's place counts no deleted answer."""
    monkeypatch.setattr(paging, "MAX_SEEN", 6)
    probe = unit(np.eye(DIM)[0])
    rng = np.random.default_rng(2)
    db.create_collection("tail", EmbeddingSpace(DIM))
    cosines = iter(np.linspace(0.99, 0.2, 14))
    for video, count in (("A", 2), ("F", 4), ("B", 2), ("C", 6)):
        db.create_video("tail", video)
        rows = np.stack([_at_cosine(probe, next(cosines), rng) for _ in range(count)])
        db.append_segments("tail", segments(video, rows))
    q = SearchQuery("tail", Level.SEGMENT, vector=probe, top_k=2, rerank=True, reranker="none", include_evidence=False)
    pages, token = [], ""
    for page in range(5):
        result = db.search(q, token)
        pages.append([(h.node.video_id, h.node.start_ms) for h in result.hits])
        token = result.next_page_token
        db.delete_video("tail", "A") if page == 0 else db.delete_video("tail", "B") if page == 3 else None
    assert [p[0][0] for p in pages] == ["A", "F", "F", "B", "C"]
    assert pages[4] == [("C", 0), ("C", 1000)]


def test_a_delete_while_a_page_is_read_leaves_later_pages_whole(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Video k holds answers 10k+1 to 10k+10. A writer deletes v02 after page 3's ranking
    is made and before its answers are read: the page reads past all ten, and every
    later page is full until the last."""
    probe = unit(np.eye(DIM)[0])
    rng = np.random.default_rng(3)
    cosines = iter(np.linspace(0.99, 0.1, 120))
    db.create_collection("mid", EmbeddingSpace(DIM))
    for v in range(12):
        db.create_video("mid", f"v{v:02d}")
        db.append_segments(
            "mid", segments(f"v{v:02d}", np.stack([_at_cosine(probe, next(cosines), rng) for _ in range(10)]))
        )
    q = SearchQuery("mid", Level.SEGMENT, vector=probe, top_k=10, rerank=True, reranker="overlap")
    read = Searcher._page
    armed = [False]

    def page(self: Searcher, *args: object) -> object:
        if armed[0]:
            armed[0] = False
            db.delete_video("mid", "v02")
        return read(self, *args)

    monkeypatch.setattr(Searcher, "_page", page)
    videos, token = [], ""
    for n in range(20):
        armed[0] = n == 2
        result = db.search(q, token)
        videos.append({h.node.video_id for h in result.hits} if len(result.hits) == 10 else len(result.hits))
        token = result.next_page_token
        if not token:
            break
    assert videos == [{f"v{v:02d}"} for v in (0, 1, *range(3, 12))], "v02's page is v03's, then one video a page"


@pytest.mark.parametrize("cursor", [True, False], ids=["token", "token-of-an-older-server"])
def test_a_token_past_a_ranking_a_delete_emptied_gives_an_empty_last_page(db: Database, cursor: bool) -> None:
    db.create_collection("gone", EmbeddingSpace(DIM))
    for video in ("A", "B"):
        db.create_video("gone", video)
        db.append_segments("gone", segments(video, unit_vectors(6, seed=ord(video))))
    q = SearchQuery("gone", Level.SEGMENT, vector=unit_vectors(1, seed=9)[0], top_k=2, include_evidence=False)
    token = db.search(q, db.search(q).next_page_token).next_page_token
    if not cursor:  # a token as a server before the cursor wrote it: offset, commit, answers shown
        data = _token_data(token)
        data["p"] = data["p"][:3]
        token = _token(data)
    db.delete_video("gone", "A")
    db.delete_video("gone", "B")
    last = db.search(q, token)
    assert last.hits == [] and not last.has_more


def test_a_cursor_in_the_token_of_a_reranked_search_is_not_followed(db: Database) -> None:
    """A token of a reranked search carrying a (score, key) cursor (an earlier server
    wrote one for every search) resumes as a reranked one does, not by score."""
    q, named = _look_alikes(db)
    data = _token_data(db.search(q).next_page_token)
    position = data["p"]
    assert len(position) == 7 and position[4] is None  # no cursor given (the answers shown instead)
    data["p"] = [*position[:3], [], [0.5, position[2][-1]]]  # the cursor of c, as an earlier server kept it
    db.delete_video("looks", "A")
    assert [named[h.node.id] for h in db.search(q, _token(data)).hits] == ["b", "d"]


def test_a_page_after_its_level_turned_exact_keeps_the_answer_tied_with_the_last_shown(tmp_path: Path) -> None:
    """x has c's vector, the last answer shown, and ranks right after it. A delete of c's
    video and of a filler video drops the level below ``exact_below``: it is scored from
    another copy of its vectors, which can move x's score above c's by the last bit. The
    page must still open with x."""
    for seed in range(12):
        options = fast_options(index=IndexParams(dtype="i8", exact_below=150), narrow_parents=0)
        db = Database.open(tmp_path / f"data{seed}", options)
        db.create_collection("c", EmbeddingSpace(DIM))
        probe = unit_vectors(1, seed=1000 + seed)[0]
        c = _unit(0.8 * probe + 0.6 * unit_vectors(1, seed=2000 + seed)[0])
        best = _unit(probe + 0.01 * unit_vectors(1, seed=3000 + seed)[0])
        rows = unit_vectors(150, seed=4000 + seed)
        far = rows * -np.sign(rows @ probe)[:, None]  # below zero: after every answer above
        for video in ("A", "B", "F"):
            db.create_video("c", video)
        shown = db.append_segments("c", segments("A", np.stack([best, c]))).segment_ids
        x = db.append_segments("c", segments("B", np.concatenate([c[None], far[:40]]))).segment_ids[0]
        db.append_segments("c", segments("F", far[40:]))
        q = SearchQuery("c", Level.SEGMENT, vector=probe, top_k=2, include_evidence=False)
        first = db.search(q)
        assert hit_ids(first) == shown
        db.delete_video("c", "A")
        db.delete_video("c", "F")
        assert db.search(q, first.next_page_token).hits[0].node.id == x
        db.close()


def _look_alikes(db: Database) -> tuple[SearchQuery, dict[str, str]]:
    """Videos A (a, c) and B (b, d, e), ranked a b c d e against the query, b a's
    look-alike (the joint rerank places it behind c, d and e); the query, reranked, two
    answers a page, and each segment's letter."""
    axes = np.eye(DIM, dtype=np.float32)
    at = lambda cosine, axis: cosine * axes[0] + np.sqrt(1 - cosine * cosine) * axes[axis]  # noqa: E731
    db.create_collection("looks", EmbeddingSpace(DIM))
    named = {}
    for video, rows, names in (
        ("A", [at(0.9, 1), at(0.5, 3)], "ac"),
        ("B", [at(0.85, 1), at(0.3, 4), at(0.2, 5)], "bde"),
    ):
        db.create_video("looks", video)
        named.update(zip(db.append_segments("looks", segments(video, np.stack(rows))).segment_ids, names, strict=True))
    return SearchQuery("looks", Level.SEGMENT, vector=axes[0], top_k=2, rerank=True, include_evidence=False), named


def _unit(row: np.ndarray) -> np.ndarray:
    return (row / np.linalg.norm(row)).astype(np.float32)


def _token_data(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _at_cosine(unit: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at ``cosine`` to the unit vector ``unit``."""
    other = rng.normal(size=len(unit))
    other -= other.dot(unit) * unit
    other /= np.linalg.norm(other)
    return (cosine * unit + np.sqrt(1 - cosine * cosine) * other).astype(np.float32)


def test_a_video_sealed_between_pages_of_a_routed_search_keeps_its_moments_routed_to_moments(
    db: Database,
) -> None:
    """Sealing gives an open video's moments a scene written after the first page's
    commit. Later pages choose their level again; they must see the tree as the first page
    did (the moments stood out, no scene around them), not the new scene they fill."""
    rng = np.random.default_rng(11)
    probe = unit(rng.normal(size=DIM))
    db.create_collection("routed", EmbeddingSpace(DIM))
    for v in range(4):
        db.create_video("routed", f"v{v}")
        centres = unit(rng.normal(size=(6, DIM)))
        rows = unit(centres[np.arange(120) // 20] + 0.4 * rng.normal(size=(120, DIM)))
        db.append_segments("routed", segments(f"v{v}", rows))
        db.seal_video("routed", f"v{v}")
    db.create_video("routed", "live")
    moments = unit(probe + 0.08 * rng.normal(size=(30, DIM)))
    db.append_segments("routed", segments("live", np.concatenate([unit(rng.normal(size=(40, DIM))), moments])))
    q = SearchQuery("routed", vector=probe, top_k=5, mode=Mode.AUTO, include_evidence=False)
    first = db.search(q)
    unsealed = db.search(q, first.next_page_token)
    db.seal_video("routed", "live")
    second = db.search(q, first.next_page_token)
    assert first.route.levels == second.route.levels == (Level.SEGMENT,)
    assert hit_ids(second) == hit_ids(unsealed) and all(h.node.video_id == "live" for h in second.hits)
    assert db.search(q).route.levels == (Level.SCENE,)  # a new search sees the scene


def _three_matches(db: Database, seed: int) -> np.random.Generator:
    """Collection "named" holding match-0000 to match-0002, 100 random segments each; the
    generator that drew them, for the query's vector."""
    rng = np.random.default_rng(seed)
    db.create_collection("named", EmbeddingSpace(DIM))
    for v in range(3):
        db.create_video("named", f"match-{v:04d}")
        db.append_segments("named", segments(f"match-{v:04d}", unit(rng.normal(size=(100, DIM)))))
    return rng


def test_a_video_a_routed_text_names_written_between_pages_is_not_searched_alone_later(db: Database) -> None:
    """The first page found no video of the id the text names and searched them all; the
    video written since must not narrow later pages to itself (empty: the rest lost)."""
    rng = _three_matches(db, 12)
    q = SearchQuery("named", text="goal of match-0009", vector=unit(rng.normal(size=DIM)), top_k=5, mode=Mode.AUTO)
    first = db.search(q)
    unwritten = db.search(q, first.next_page_token)
    db.create_video("named", "match-0009")
    db.append_segments("named", segments("match-0009", unit(rng.normal(size=(10, DIM)))))
    second = db.search(q, first.next_page_token)
    assert "no video 'match-0009'" in first.route.reason and "no video 'match-0009'" in second.route.reason
    assert hit_ids(second) == hit_ids(unwritten) and second.has_more


def test_a_routed_search_in_a_video_its_text_names_stays_there_once_it_is_deleted(db: Database) -> None:
    """The first page was confined to the video the text names; deleted before the next
    page, it leaves that page empty, not filled with every other video's answers."""
    rng = _three_matches(db, 13)
    q = SearchQuery("named", text="goal of match-0001", vector=unit(rng.normal(size=DIM)), top_k=5, mode=Mode.AUTO)
    first = db.search(q)
    assert "in video match-0001" in first.route.reason
    assert {h.node.video_id for h in first.hits} == {"match-0001"} and first.has_more
    db.delete_video("named", "match-0001")
    second = db.search(q, first.next_page_token)
    assert not second.hits and not second.has_more
    assert "deleted since this search's first page" in second.route.reason
    assert "no video 'match-0001'" in db.search(q).route.reason  # a new search reads it as words


@pytest.mark.parametrize("group", [False, True], ids=["hits", "videos"])
def test_a_delete_between_pages_of_a_routed_search_keeps_the_level_its_first_page_chose(
    db: Database, group: bool
) -> None:
    """A lone sharp moment routes the first page to moments. Once its video is deleted,
    the best moment left lies in a scene that matches as a whole, and a new search
    answers with scenes; the first search's later pages keep listing moments."""
    rng = np.random.default_rng(0)
    probe = unit(rng.normal(size=DIM))
    db.create_collection("routed", EmbeddingSpace(DIM))
    for v in range(4):
        centres = unit(rng.normal(size=(6, DIM)))
        _sealed(db, f"v{v}", unit(centres[np.arange(120) // 20] + 0.4 * rng.normal(size=(120, DIM))))
    moments = unit(probe + 0.08 * rng.normal(size=(30, DIM)))
    _sealed(db, "scene", np.concatenate([unit(rng.normal(size=(40, DIM))), moments]))
    sharp = unit(rng.normal(size=(60, DIM)))
    sharp[30:33] = unit(probe + 0.02 * rng.normal(size=(3, DIM)))
    _sealed(db, "sharp", sharp)
    q = SearchQuery("routed", vector=probe, top_k=5, mode=Mode.AUTO, group_by_video=group, group_size=2)
    first = db.search(q)
    shown = first.hits or [h for g in first.groups for h in g.hits]
    assert first.route.levels == (Level.SEGMENT,) and shown[0].node.video_id == "sharp"
    db.delete_video("routed", "sharp")
    second = db.search(q, first.next_page_token)
    hits = second.hits or [h for g in second.groups for h in g.hits]
    assert second.route.levels == (Level.SEGMENT,) and "first page" in second.route.reason
    assert hits and {h.node.level for h in hits} == {Level.SEGMENT}
    assert db.search(q).route.levels == (Level.SCENE,)  # a new search routes afresh


def _sealed(db: Database, video: str, rows: np.ndarray) -> None:
    db.create_video("routed", video)
    db.append_segments("routed", segments(video, rows))
    db.seal_video("routed", video)


def test_a_later_page_with_nothing_left_to_answer_says_why_without_naming_a_filter(db: Database) -> None:
    """Every video the first page of an unfiltered routed search saw is deleted, another
    written since: its next page is empty (the new one is hidden from it), and its reason
    says that, not that a filter let nothing through."""
    db.create_collection("gone", EmbeddingSpace(DIM))
    for video, seed in (("a", 1), ("b", 2)):
        db.create_video("gone", video)
        db.append_segments("gone", segments(video, unit_vectors(12, seed=seed)))
        if video == "a":
            q = SearchQuery("gone", vector=unit_vectors(1, seed=3)[0], top_k=3, mode=Mode.AUTO, include_evidence=False)
            first = db.search(q)
            db.delete_video("gone", "a")
    assert first.hits and first.next_page_token
    later = db.search(q, first.next_page_token)
    assert not later.hits
    assert "filter" not in later.route.reason and "first page" in later.route.reason
    # A filter asked for says what it found: here that its video holds nothing now.
    asked = db.search(replace(q, filter=replace(q.filter, video_ids=("a",)))).route.reason
    assert "the collection holds no segment of video 'a'" in asked, asked
    # Confined by its own text to a video deleted since: no filter was asked for either.
    db.create_video("gone", "match-0001")
    db.append_segments("gone", segments("match-0001", unit_vectors(12, seed=4)))
    named = replace(q, text="the best chance in match-0001")
    first = db.search(named)
    db.delete_video("gone", "match-0001")
    later = db.search(named, first.next_page_token)
    assert not later.hits and "filter" not in later.route.reason and "deleted since" in later.route.reason
