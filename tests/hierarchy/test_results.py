"""Game results asked of a video: the wording, the test of one video, and routed search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.query import parse
from hierarchy.results import Goal, ResultPredicate, holds, parse_result, parse_side, side_key, sides
from hierarchy.types import EmbeddingSpace, Level, Mode, SearchQuery, SegmentInput
from tests.hierarchy.helpers import fast_options


@pytest.mark.parametrize(
    ("text", "described"),
    [
        ("a victory for the home team", "home win"),
        ("a match the hosts won", "home win"),
        ("a win on the road for the visitors", "away win"),
        ("a match the hosts lost", "away win"),
        ("a defeat for the hosts", "away win"),
        ("a game where the visitors beat the hosts", "away win"),
        ("a game in which the hosts won the derby", "home win"),
        ("a game the home side won 2-1", "home win"),
        ("a match with a stoppage-time winner", "late winner"),
        ("a game decided by a late goal deep into added time", "late winner"),
        ("a goalless draw", "goalless draw"),
        ("a game where neither side scored", "goalless draw"),
        ("a draw in which both teams scored", "score draw"),
        ("honours even with goals at both ends", "score draw"),
        ("a match where both teams scored", "both sides scoring"),
        ("a match that ended in a draw", "draw"),
        ("a game that was drawn", "draw"),
    ],
)
def test_result_wording(text: str, described: str) -> None:
    found = parse_result(text)
    assert found is not None and found.describe() == described
    assert parse(text).result == found  # the parse of a match query carries it


@pytest.mark.parametrize(
    "text",
    [
        "a match where the visitors won a corner",  # a win verb with an object is play
        "a match where the hosts kept losing the ball",
        "a match where the striker beat the keeper",
        "a game with 3 or more goals",  # a count, not a result
        "a game in which a penalty was drawn by the striker",  # play, not a draw
        "a match where the winger tried to draw a foul",
    ],
)
def test_play_and_counts_are_not_results(text: str) -> None:
    assert parse_result(text) is None


def test_results_are_read_only_for_whole_videos() -> None:
    assert parse("the winning goal").result is None  # a moment
    assert parse("a late winner in the first half").result is None  # a half


@pytest.mark.parametrize(
    ("text", "side"),
    [
        ("corner kick for the away side", "away"),
        ("the visitors earn a corner", "away"),
        ("a brief away possession that ends in a shot", "away"),
        ("a win on the road", "away"),
        ("a long home possession", "home"),
        ("the hosts keeping the ball", "home"),
        ("a passing spell that ends with the ball given away", ""),  # adverbs, not sides
        ("the striker heads home", ""),
        ("the hosts against the visitors", ""),  # both named
        ("a corner kick", ""),
    ],
)
def test_the_side_a_query_names(text: str, side: str) -> None:
    assert parse_side(text) == side


def test_side_key_is_the_attribute_naming_home_and_away() -> None:
    rows = [{"period": 1, "team": "home"}, {"period": 2, "team": "Away"}]
    assert side_key(rows) == "team"
    assert side_key([{"team": "home"}, {"team": "Rovers"}]) is None
    assert side_key([{"team": "home"}, {"period": 2}]) == "team"  # a node without a side is passed over


def test_sides_reads_each_rows_side_by_the_side_key() -> None:
    rows = [{"clock": "00:10", "team": "Home"}, {"clock": "00:12"}, {"clock": "00:14", "team": "visitors"}]
    assert sides(rows) == ("team", ["home", "", "away"])
    # A key whose values are sides only at first is none: every row holds no side.
    assert sides([{"team": "home"}, {"team": "home"}, {"team": "Rovers"}]) == (None, ["", "", ""])
    assert sides([{"a": "away", "b": "home"}, {"a": "home"}]) == ("a", ["away", "home"])  # the first key in order
    assert sides([]) == (None, [])


def _goals(*events: tuple[int, str]) -> list[Goal]:
    return [Goal(start, side) for start, side in events]


SPAN = (0, 100_000)  # a late goal starts at 95,000 or after


@pytest.mark.parametrize(
    ("pred", "goals", "expected"),
    [
        (ResultPredicate("win", side="home"), _goals((10, "home"), (20, "away"), (30, "home")), True),
        (ResultPredicate("win", side="away"), _goals((10, "home"), (20, "away"), (30, "home")), False),
        (ResultPredicate("win"), _goals((10, "away")), True),
        (ResultPredicate("win"), _goals(), False),
        (ResultPredicate("draw", goals="none"), _goals(), True),
        (ResultPredicate("draw", goals="none"), _goals((10, "home"), (20, "away")), False),
        (ResultPredicate("draw", goals="both"), _goals((10, "home"), (20, "away")), True),
        (ResultPredicate("draw", goals="both"), _goals(), False),
        (ResultPredicate("draw"), _goals(), True),
        # The late goal decides it: 1-1 until 96 s.
        (ResultPredicate("win", late=True), _goals((10, "home"), (20, "away"), (96_000, "away")), True),
        # A late goal that only narrows the margin: the winner came at 30 s.
        (ResultPredicate("win", late=True), _goals((10, "home"), (30, "home"), (96_000, "away")), False),
        # The winner scored late, but the winning goal was the first one.
        (ResultPredicate("win", late=True), _goals((10, "home"), (96_000, "home")), False),
        (ResultPredicate("win", late=True), _goals((90_000, "home")), False),  # not in the last 5 %
    ],
    ids=[
        "home-win", "not-away-win", "any-win", "no-goals-no-win", "goalless", "not-goalless", "score-draw",
        "goalless-is-no-score-draw", "goalless-is-a-draw", "late-winner", "late-goal-not-the-winner",
        "late-goal-after-the-winner", "not-late-enough",
    ],
)  # fmt: skip
def test_holds(pred: ResultPredicate, goals: list[Goal], expected: bool) -> None:
    assert holds(pred, goals, SPAN) is expected


DIM = 16
# (video, [(segment index, side) of each goal]); every video has 60 two-second segments.
GAMES = {
    "home-win": [(10, "home"), (30, "away"), (40, "home")],
    "away-win": [(20, "away")],
    "goalless": [],
    "score-draw": [(5, "home"), (50, "away")],
    "late-winner": [(12, "away"), (58, "home"), (59, "home")],  # 1-0 down, two late goals
}


def _library(path: Path, kits: dict[str, str] | None = None, alike: tuple[str, ...] = ()) -> Database:
    """Five games whose segments are random vectors (the same ones for the games named
    ``alike``: look-alike matches); goals labelled, their sides in the ``team`` attribute
    (as ``kits`` names them, if given)."""
    kits = kits or {"home": "home", "away": "away"}
    rng = np.random.default_rng(3)
    shared = rng.standard_normal((60, DIM)).astype(np.float32)
    db = Database.open(path, fast_options())
    db.create_collection("games", EmbeddingSpace(DIM))
    for video, goals in GAMES.items():
        scorers = dict(goals)
        db.create_video("games", video)
        vectors = shared if video in alike else rng.standard_normal((60, DIM)).astype(np.float32)
        rows = [
            SegmentInput(
                video, i * 2000, (i + 1) * 2000, vectors[i], "",
                ["goal" if i in scorers else "pass"], {"team": kits[scorers.get(i, "home" if i % 2 else "away")]},
            )
            for i in range(60)
        ]  # fmt: skip
        db.append_segments("games", rows)
        db.seal_video("games", video)
    return db


def _routed(db: Database, text: str) -> tuple[list[str], str, object]:
    vector = np.ones(DIM, np.float32)
    found = db.search(SearchQuery("games", text=text, vector=vector, mode=Mode.AUTO, top_k=5))
    assert found.route.levels == (Level.VIDEO,), found.route.reason
    return [h.node.video_id for h in found.hits], found.route.reason, found.route.parse


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("a match the hosts won", {"home-win", "late-winner"}),
        ("a win on the road for the visitors", {"away-win"}),
        ("a goalless draw", {"goalless"}),
        ("a draw in which both teams scored", {"score-draw"}),
        ("a match with a stoppage-time winner", {"late-winner"}),
    ],
)
def test_videos_holding_the_result_rank_first(tmp_path: Path, text: str, first: set[str]) -> None:
    db = _library(tmp_path)
    try:
        videos, reason, parsed = _routed(db, text)
        assert set(videos[: len(first)]) == first, reason
        assert len(videos) == len(GAMES)  # the others follow: a result orders, it does not filter
        assert f"{len(first)} of 5 videos hold '{parsed.result.describe()}' ('goal' events by 'team')" in reason
    finally:
        db.close()


def test_look_alike_matches_holding_the_result_both_rank_first(tmp_path: Path) -> None:
    """Two draws whose videos look alike (near duplicates, as averages of a sport's
    footage are): the joint rerank moved the second below the wins; a result ranks by
    what the videos hold, so both come first."""
    db = _library(tmp_path, alike=("goalless", "score-draw"))
    try:
        videos, reason, _ = _routed(db, "a draw")
        assert set(videos[:2]) == {"goalless", "score-draw"}, reason
    finally:
        db.close()


def test_a_result_is_not_read_without_sides(tmp_path: Path) -> None:
    """Goals whose side no attribute names leave a win unread, and the reason says so; a
    goalless draw needs no sides."""
    db = _library(tmp_path, kits={"home": "red", "away": "blue"})
    try:
        _, reason, _ = _routed(db, "a match the hosts won")
        assert "no attribute names the side of a 'goal': the result is not read" in reason
        videos, reason, _ = _routed(db, "a goalless draw")
        assert videos[0] == "goalless", reason
    finally:
        db.close()


def test_a_result_reads_the_goals_written_since_the_last_search(tmp_path: Path) -> None:
    """Scoring events are cached until the next write, not longer."""
    db = _library(tmp_path)
    try:
        assert "2 of 5 videos hold 'home win'" in _routed(db, "a match the hosts won")[1]
        db.create_video("games", "new-home-win")
        rows = [SegmentInput("new-home-win", i * 2000, (i + 1) * 2000, np.ones(DIM, np.float32) + i, "",
                             ["goal" if i == 3 else "pass"], {"team": "home"}) for i in range(20)]  # fmt: skip
        db.append_segments("games", rows)
        db.seal_video("games", "new-home-win")
        videos, reason, _ = _routed(db, "a match the hosts won")
        assert "3 of 6 videos hold 'home win'" in reason
        assert "new-home-win" in videos[:3]
    finally:
        db.close()


def test_answers_of_the_named_side_rank_first(tmp_path: Path) -> None:
    db = _library(tmp_path)
    try:
        vector = np.ones(DIM, np.float32)
        query = SearchQuery("games", text="a moment for the away side", vector=vector, mode=Mode.AUTO, top_k=20)
        found = db.search(query)
        assert found.route.levels == (Level.SEGMENT,)
        assert found.route.parse.side == "away"
        assert "the away side's answers first (by 'team')" in found.route.reason
        assert all(h.node.attributes["team"] == "away" for h in found.hits)
        plain = db.search(SearchQuery("games", text="a moment", vector=vector, mode=Mode.AUTO, top_k=20))
        assert {h.node.attributes["team"] for h in plain.hits} == {"home", "away"}  # both sides near the vector
    finally:
        db.close()


def test_a_side_is_not_read_without_an_attribute_naming_sides(tmp_path: Path) -> None:
    db = _library(tmp_path, kits={"home": "red", "away": "blue"})
    try:
        query = SearchQuery("games", text="a moment for the away side", vector=np.ones(DIM, np.float32), mode=Mode.AUTO)
        assert "no attribute names a side: 'away' is not read" in db.search(query).route.reason
    finally:
        db.close()
