"""Routed (AUTO) and mixed (ALL) search on a generated library with the real encoder."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hierarchy.db import Database
from hierarchy.filters import AttributeCondition
from hierarchy.types import EmbeddingSpace, Filter, Level, Mode, SearchQuery, SegmentInput, TimeRange
from tests.hierarchy.helpers import SOCCER as COLL
from tests.hierarchy.helpers import all_pages, fast_options, sealed_soccer_match
from tools.soccer import generate


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A sealed match whose captions are embedded by the built-in encoder."""
    db = sealed_soccer_match(Path(tmp_path_factory.mktemp("auto")), fast_options())
    yield db
    db.close()


@pytest.fixture(scope="module")
def graph_library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The same match, with filters above 50 nodes answered by the graph (a large library's path)."""
    db = sealed_soccer_match(Path(tmp_path_factory.mktemp("auto-graph")), fast_options(exact_filter_below=50))
    yield db
    db.close()


def test_routed_searches_side_by_side_answer_as_one_at_a_time(library: Database) -> None:
    # Texts not searched before, so the encoder runs for each while other searches find
    # their evidence (one page at a time, see hierarchy.answers).
    texts = ["a header cleared off the line", "the opening half of the game", "three corners in a row"]
    with ThreadPoolExecutor(4) as pool:
        side_by_side = [f.result(timeout=120) for f in [pool.submit(auto, library, t) for t in texts * 3]]
    for i, result in enumerate(side_by_side):
        alone = auto(library, texts[i % len(texts)])
        assert [(h.node.id, h.score) for h in result.hits] == [(h.node.id, h.score) for h in alone.hits]
        assert result.route.levels == alone.route.levels


def auto(db: Database, text: str, top_k: int = 5, **kwargs: object) -> object:
    return db.search(SearchQuery(COLL, text=text, mode=Mode.AUTO, top_k=top_k, **kwargs))


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("the second half of the match", Level.HALF),
        ("first half with multiple turnovers", Level.HALF),
        ("a long home possession that ends in a shot", Level.DRIVE),
        ("a match with a stoppage-time winner", Level.VIDEO),
        ("a set piece delivered into the box", Level.SCENE),
    ],
    ids=["ordinal-half", "count-half", "possession", "match", "set-piece-scene"],
)
def test_structured_queries_land_at_their_level(library: Database, text: str, level: Level) -> None:
    result = auto(library, text)
    assert result.route.levels == (level,), result.route.reason
    assert result.hits and all(h.node.level is level for h in result.hits)


def test_event_queries_answer_with_moments_or_scenes(library: Database) -> None:
    result = auto(library, "corner kick for the away side")
    assert result.route.levels[0] in (Level.SEGMENT, Level.SCENE)
    assert "no scope words" in result.route.reason


def test_superlative_count_ranks_halves_by_label_counts(library: Database) -> None:
    result = auto(library, "the half with the most corners", top_k=4)
    counts = [h.node.label_counts.get("corner kick", 0) for h in result.hits]
    assert len(counts) == 2 and counts == sorted(counts, reverse=True)  # one match: two halves


@pytest.mark.parametrize(
    ("text", "direction"), [("the busiest half for corners", 1), ("the quietest half for corners", -1)]
)
def test_busiest_and_quietest_rank_halves_by_what_they_hold(library: Database, text: str, direction: int) -> None:
    result = auto(library, text, top_k=4)
    counts = [h.node.label_counts.get("corner kick", 0) for h in result.hits]
    assert result.route.levels == (Level.HALF,) and len(counts) == 2
    assert counts[0] != counts[1] and counts == sorted(counts, reverse=direction > 0)


def test_ordinal_picks_the_nth_half_of_each_video(library: Database) -> None:
    result = auto(library, "the second half")
    assert result.hits and all(h.node.id.endswith("/half/1") for h in result.hits)


@pytest.mark.parametrize(
    ("text", "label", "position"),
    [
        ("the first corner of the match", "corner kick", 0),
        ("the second corner kick", "corner kick", 1),
        ("the opening goal", "goal", 0),
        ("the last goal of the game", "goal", -1),
    ],
)
def test_event_ordinals_pick_the_nth_labelled_moment(library: Database, text: str, label: str, position: int) -> None:
    """What is ordered is the event without its ordinal ("the opening goal": goals),
    matched to the collection's labels."""
    starts = sorted(r["start_ms"] for r in generate(matches=1, seed=5, vectors="none").segments if label in r["labels"])
    result = auto(library, text)
    assert result.route.levels == (Level.SEGMENT,), result.route.reason
    assert [h.node.start_ms for h in result.hits] == [starts[position]]
    # The confidences say what answered ("of the match" scopes the video: it gave 0.9 there).
    assert max(result.route.confidences, key=result.route.confidences.get) is Level.SEGMENT


def test_an_event_ordinal_found_in_no_video_says_so(library: Database) -> None:
    goals = sum("goal" in r["labels"] for r in generate(matches=1, seed=5, vectors="none").segments)
    result = auto(library, "the tenth goal")
    assert goals < 10 and not result.hits
    assert result.route.reason == "ordinal 10 of 'tenth goal' in each video; found in no video"


def test_an_event_nothing_matches_clearly_is_neither_ordered_nor_counted_and_the_reason_says_so(
    tmp_path: Path,
) -> None:
    # Half the moments are the event: none scores far above the rest, so none passes the
    # calibrated match bar. The ordinal answered nothing and the count ranked halves by
    # zeros, neither with a word why.
    db = Database.open(tmp_path, fast_options())
    try:
        db.create_collection("alike", EmbeddingSpace(0, text_encoder="default"))
        db.create_video("alike", "v")
        texts = ["a yellow card for the defender", "a corner kick taken short"] * 8
        db.append_segments("alike", [SegmentInput("v", i * 2000, (i + 1) * 2000, None, t) for i, t in enumerate(texts)])
        db.seal_video("alike", "v")
        nth = db.search(SearchQuery("alike", text="the first yellow card", mode=Mode.AUTO, top_k=3))
        most = db.search(SearchQuery("alike", text="the half with the most yellow cards", mode=Mode.AUTO))
    finally:
        db.close()
    assert "nothing to order in time: no label names 'yellow card' and no moment matches it clearly" in nth.route.reason
    assert nth.hits  # the best matches, where it answered nothing
    assert "nothing counted: no label names 'yellow card' and no moment matches it clearly" in most.route.reason


@pytest.mark.parametrize(
    ("text", "half", "levels"),
    [
        ("a goal in the second half", 1, (Level.SEGMENT, Level.SCENE)),
        ("corner kicks before the interval", 0, (Level.SEGMENT, Level.SCENE)),
        ("a save in the first half", 0, (Level.SEGMENT, Level.SCENE)),
        ("a long home possession in the second half", 1, (Level.DRIVE,)),
    ],
)
def test_a_named_part_confines_the_search_to_it(library: Database, text: str, half: int, levels: tuple) -> None:
    """ "a goal in the second half" asks for goals, found inside each match's second
    half (not for the half, nor for goals anywhere)."""
    halves = generate(matches=1, seed=5, vectors="none").truth["matches"][0]["halves"]
    start, end = halves[half]
    result = auto(library, text, top_k=10)
    assert result.route.levels[0] in levels, result.route.reason
    assert f"inside half {half + 1} of each video" in result.route.reason
    assert len(result.hits) == 10
    assert all(start <= h.node.start_ms < end for h in result.hits)
    unconfined = auto(library, text.split(" in the ")[0].split(" before the ")[0], top_k=10)
    assert any(not start <= h.node.start_ms < end for h in unconfined.hits)  # the part did the work


def test_a_named_part_in_a_large_library_screens_the_graph(library: Database, graph_library: Database) -> None:
    """Over the exact-scan threshold the part's candidates come from the graph (and the
    best scenes' segments), screened to the part: the same best answers as a scan."""
    start, end = generate(matches=1, seed=5, vectors="none").truth["matches"][0]["halves"][1]
    scanned = auto(library, "a goal in the second half", top_k=10)
    screened = auto(graph_library, "a goal in the second half", top_k=10)
    assert len(screened.hits) == 10 and all(start <= h.node.start_ms < end for h in screened.hits)
    assert screened.hits[0].node.id == scanned.hits[0].node.id
    assert len({h.node.id for h in screened.hits} & {h.node.id for h in scanned.hits}) >= 8


@pytest.mark.parametrize(
    ("text", "label", "half"),
    [
        ("every goal", "goal", None),
        ("all goals", "goal", None),  # the label 'goal', not also 'goal kick'
        ("each of the goals", "goal", None),
        ("all corners after the interval", "corner kick", 1),
    ],
)
def test_every_lists_each_labelled_event_in_time_order(
    library: Database, text: str, label: str, half: int | None
) -> None:
    """ "every goal": all of them, page after page, in time order; in a named part, those inside it."""
    data = generate(matches=1, seed=5, vectors="none")
    starts = sorted(r["start_ms"] for r in data.segments if label in r["labels"])
    if half is not None:
        start, end = data.truth["matches"][0]["halves"][half]
        starts = [s for s in starts if start <= s < end]
    query = SearchQuery(COLL, text=text, mode=Mode.AUTO, top_k=3)
    pages = all_pages(library, query)
    assert [h.node.start_ms for page in pages for h in page.hits] == starts
    assert pages[0].route.levels == (Level.SEGMENT,)
    assert max(pages[0].route.confidences, key=pages[0].route.confidences.get) is Level.SEGMENT
    assert f"every '{label}' segment in time order" in pages[0].route.reason


def test_every_without_a_label_ranks_the_best_matches(library: Database) -> None:
    result = auto(library, "each spectacular overhead kick", top_k=5)
    assert len(result.hits) == 5 and "no label names 'spectacular overhead kick'" in result.route.reason


def test_a_named_part_keeps_the_request_filter(library: Database) -> None:
    data = generate(matches=1, seed=5, vectors="none")
    start, end = data.truth["matches"][0]["halves"][1]
    window = TimeRange(start, start + (end - start) // 3)
    result = auto(library, "a goal in the second half", top_k=10, filter=Filter(time_range=window))
    assert result.hits and all(window.start_ms <= h.node.start_ms < window.end_ms for h in result.hits)
    assert auto(library, "a goal in the first half", filter=Filter(time_range=window)).hits == []


@pytest.mark.parametrize(
    ("text", "level", "where"),
    [
        ("the last corner of the first half", Level.SEGMENT, "last corner of half 1"),
        ("the first corner after the interval", Level.SEGMENT, "first corner of half 2"),
        ("the first possession of the second half", Level.DRIVE, "start of half 2"),
        ("the last possession before the interval", Level.DRIVE, "end of half 1"),
    ],
)
def test_ordinals_order_inside_the_container_they_name(library: Database, text: str, level: Level, where: str) -> None:
    """ "of the first half", "after the interval": the ordinal counts inside that half."""
    data = generate(matches=1, seed=5, vectors="none")
    halves = data.truth["matches"][0]["halves"]
    corners = [r["start_ms"] for r in data.segments if r["labels"] == ["corner kick"]]
    expected = {
        "last corner of half 1": max(c for c in corners if c < halves[0][1]),
        "first corner of half 2": min(c for c in corners if c >= halves[1][0]),
        "start of half 2": halves[1][0],
        "end of half 1": halves[0][1],
    }[where]
    result = auto(library, text)
    assert result.route.levels == (level,), result.route.reason
    assert len(result.hits) == 1
    node = result.hits[0].node
    assert (node.end_ms if where.startswith("end") else node.start_ms) == expected
    assert "half 1" in result.route.reason or "half 2" in result.route.reason


@pytest.mark.parametrize("text", ["the first possession", "the first possession of the first half"])
def test_an_ordinal_counts_among_what_passes_the_filter(library: Database, text: str) -> None:
    """With a filter, "the first possession" is the first of those that pass it (the away
    side's first), however the query words it."""
    away = Filter(attributes=(AttributeCondition("team", "away"),))
    drives = library.search(SearchQuery(COLL, Level.DRIVE, text="possession", top_k=1000, filter=away)).hits
    first = min(drives, key=lambda h: h.node.start_ms).node
    result = library.search(SearchQuery(COLL, text=text, mode=Mode.AUTO, filter=away))
    assert [h.node.id for h in result.hits] == [first.id], result.route.reason


def test_a_half_ordinal_names_a_fixed_half_whatever_the_filter_passes(library: Database) -> None:
    """Under a filter of the second half's time, "the first half" is none of it (not the
    first of the halves that pass), and "the second half" is still the second."""
    halves = generate(matches=1, seed=5, vectors="none").truth["matches"][0]["halves"]
    late = Filter(time_range=TimeRange(halves[1][0] + 1000, 0))
    assert auto(library, "the first half", filter=late).hits == []
    assert [h.node.id.rsplit("/", 2)[1:] for h in auto(library, "the second half", filter=late).hits] == [["half", "1"]]


def test_an_ordinal_answers_in_every_video_of_a_large_level(tmp_path: Path) -> None:
    """ "The last moment" of 21 videos of 1,000 segments each: every video answers (the
    level's first 20,000 nodes alone were ranked, and the last video was left out)."""
    db = Database.open(tmp_path, fast_options())
    db.create_collection("many", EmbeddingSpace(8))
    rng = np.random.default_rng(3)
    for v in range(21):
        db.create_video("many", f"v{v:02d}")
        vectors = rng.standard_normal((1000, 8)).astype(np.float32)
        db.append_segments(
            "many", [SegmentInput(f"v{v:02d}", i * 1000, i * 1000 + 1000, vectors[i]) for i in range(1000)]
        )
    result = db.search(SearchQuery("many", text="the last moment", vector=vectors[0], top_k=50, mode=Mode.AUTO))
    assert sorted((h.node.video_id, h.node.start_ms) for h in result.hits) == [
        (f"v{v:02d}", 999_000) for v in range(21)
    ]
    db.close()


def test_a_count_in_a_named_part_counts_only_there(library: Database) -> None:
    """ "a match with two goals in the second half" counts the goals of its second half;
    "a half without a booking" ranks the half that comes closest first."""
    data = generate(matches=1, seed=5, vectors="none")
    second = data.truth["matches"][0]["halves"][1][0]
    late_goals = sum(1 for r in data.segments if r["labels"] == ["goal"] and r["start_ms"] >= second)
    holds = auto(library, f"a match with {late_goals} goals in the second half")
    assert holds.route.levels == (Level.VIDEO,) and len(holds.hits) == 1
    assert "counted in half 2 of each video" in holds.route.reason
    match = holds.hits[0]  # says how many it counted, and shows them: the second half's goals
    assert match.count == late_goals and match.evidence and all(e.node.labels == ("goal",) for e in match.evidence)
    assert all(e.node.start_ms >= second for e in match.evidence), [e.node.start_ms for e in match.evidence]
    misses = auto(library, f"a match with {late_goals + 1} goals in the second half")
    assert holds.hits[0].score > 0 > misses.hits[0].score  # the predicate holds, then misses by one
    periods = [r["attributes"]["period"] for r in data.segments if r["labels"] == ["booking"]]
    fewer_after = periods.count(2) < periods.count(1)
    fewest = auto(library, "a half without a booking")
    assert fewest.route.parse.count.max_count == 0
    assert [h.node.start_ms >= second for h in fewest.hits] == [fewer_after, not fewer_after]


def _pair_members(first: str, second: str) -> set[tuple[int, int]]:
    """Spans of the segments of the test match that are part of a ``first`` then
    ``second`` pair (the second at most 3 segments and 10 s after the first)."""
    rows = sorted(generate(matches=1, seed=5, vectors="none").segments, key=lambda r: r["start_ms"])
    members = set()
    for i, a in enumerate(rows):
        for b in rows[i + 1 : i + 4]:
            if first in a["labels"] and second in b["labels"] and b["start_ms"] - a["end_ms"] <= 10_000:
                members |= {(a["start_ms"], a["end_ms"]), (b["start_ms"], b["end_ms"])}
    return members


@pytest.mark.parametrize(
    ("text", "labels", "unordered"),
    [
        ("a foul then a replay", ("foul", "replay"), "a foul and a replay"),
        ("a cross then a header", ("cross", "header"), "a cross and a header"),
    ],
)
def test_two_events_in_order_are_answered_with_pairs_of_moments(
    library: Database, text: str, labels: tuple[str, str], unordered: str
) -> None:
    """ "a foul then a replay": every answer is a moment of a foul followed by a replay,
    where the same words without the order find such moments among others."""
    members = _pair_members(*labels)
    result = auto(library, text, top_k=5)
    assert result.route.levels == (Level.SEGMENT,) and "a sequence" in result.route.reason
    assert result.route.parse.sequence == (labels[0], f"a {labels[1]}")
    assert len(result.hits) == 5 and all((h.node.start_ms, h.node.end_ms) in members for h in result.hits)
    assert not auto(library, unordered).route.parse.sequence
    assert sum((h.node.start_ms, h.node.end_ms) in members for h in auto(library, unordered, top_k=5).hits) < 5
    # A filter holds for the answers (and their partners, which the pairing checks).
    late = auto(library, text, top_k=5, filter=Filter(time_range=TimeRange(2_700_000, 0)))
    assert late.hits and all(h.node.end_ms > 2_700_000 for h in late.hits)


def test_route_explains_itself(library: Database) -> None:
    result = auto(library, "several fouls in the first half")
    route = result.route
    assert route.reason and route.parse is not None and route.parse.count is not None
    assert abs(sum(route.confidences.values()) - 1.0) < 1e-6
    for hit in result.hits:
        assert hit.evidence, "a parent answer carries the segments that explain it"
        for child in hit.evidence:
            assert child.node.video_id == hit.node.video_id
            assert hit.node.start_ms <= child.node.start_ms and child.node.end_ms <= hit.node.end_ms


def test_all_mode_mixes_levels_without_nested_duplicates(library: Database) -> None:
    result = library.search(SearchQuery(COLL, text="a header from a corner", mode=Mode.ALL, top_k=20))
    spans = [(h.node.video_id, h.node.start_ms, h.node.end_ms) for h in result.hits]
    for i, (v, a, b) in enumerate(spans):
        for w, c, d in spans[i + 1 :]:
            assert v != w or b <= c or d <= a, "a scene and its own segments are one answer"
    assert all(h.raw_score >= h.score for h in result.hits)
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True), "scores fall down the list"


def test_query_by_example_finds_others_at_the_same_level(library: Database) -> None:
    result = library.search(SearchQuery(COLL, node_id="match-0000/scene/3", top_k=5))
    assert result.hits and all(h.node.level is Level.SCENE for h in result.hits)
    assert "match-0000/scene/3" not in {h.node.id for h in result.hits}


def test_auto_pages_do_not_overlap(library: Database) -> None:
    first = auto(library, "a foul", top_k=5)
    second = library.search(SearchQuery(COLL, text="a foul", mode=Mode.AUTO, top_k=5), first.next_page_token)
    assert not {h.node.id for h in first.hits} & {h.node.id for h in second.hits}
    assert [h.rank for h in second.hits] == list(range(6, 6 + len(second.hits)))


def test_a_description_in_several_sentences_reads_as_a_whole_video(library: Database) -> None:
    text = "The home side press high and win a corner. A header from the corner is saved by the keeper."
    result = auto(library, text)
    assert result.route.levels == (Level.VIDEO,)
    assert "several sentences" in result.route.reason and "each sentence" in result.route.reason


def test_routing_prefers_a_moment_that_stands_out_and_a_scene_for_play_going_on(library: Database) -> None:
    moment = auto(library, "corner kick for the away side")
    assert moment.route.levels == (Level.SEGMENT,), moment.route.reason
    scene = auto(library, "the visitors keeping the ball and probing from deep")
    assert scene.route.levels == (Level.SCENE,), scene.route.reason
    assert "'keeping' describes play going on" in scene.route.reason


def test_a_video_named_by_its_id_is_searched_alone(tmp_path: Path) -> None:
    dim, rng = 16, np.random.default_rng(4)
    db = Database.open(tmp_path, fast_options())
    try:
        db.create_collection(COLL, EmbeddingSpace(dim))
        for video in ("game-001", "game-002", "game-003"):
            db.create_video(COLL, video)
            rows = rng.standard_normal((30, dim)).astype(np.float32)
            db.append_segments(COLL, [SegmentInput(video, i * 2000, (i + 1) * 2000, r) for i, r in enumerate(rows)])
            db.seal_video(COLL, video)
        vector = rng.standard_normal(dim).astype(np.float32)
        named = db.search(SearchQuery(COLL, text="a moment of game-002", vector=vector, mode=Mode.AUTO, top_k=20))
        assert {h.node.video_id for h in named.hits} == {"game-002"}
        assert "in video game-002, as the query says" in named.route.reason
        unknown = db.search(SearchQuery(COLL, text="a moment of game-999", vector=vector, mode=Mode.AUTO, top_k=20))
        assert len({h.node.video_id for h in unknown.hits}) == 3
        assert "no video 'game-999' in the collection: every video searched" in unknown.route.reason
        # A filter the request sets is kept as it is.
        kept = db.search(
            SearchQuery(COLL, text="a moment of game-002", vector=vector, mode=Mode.AUTO, filter=Filter(("game-001",)))
        )
        assert {h.node.video_id for h in kept.hits} == {"game-001"}
    finally:
        db.close()


def test_a_filter_nothing_passes_is_the_reason_not_an_empty_library(library: Database) -> None:
    video = library.list_videos(COLL)[0][0].id
    result = auto(library, "a corner kick", filter=Filter(video_ids=(video,), labels=("no-such-label",)))
    assert result.hits == [] and "nothing passes the filter" in result.route.reason
    # A mistyped video id was "nothing passes the filter" too, which did not say which.
    result = auto(library, "a corner kick", filter=Filter(video_ids=(video, "no-such-video", "nor-this")))
    assert result.hits, "the videos that exist still answer"
    result = auto(library, "a corner kick", filter=Filter(video_ids=("no-such-video", "nor-this")))
    said = "the collection holds no segment of videos 'no-such-video', 'nor-this' (check the video ids)"
    assert result.hits == [] and said in result.route.reason


def test_pages_of_a_sequence_walked_to_the_end_are_one_long_page(library: Database) -> None:
    # Past 200 answers the pairs were drawn from more matches of each event the deeper a
    # page read, so the ranking moved under the pages: answers came back twice.
    query = SearchQuery(COLL, text="a cross then a header", mode=Mode.AUTO, top_k=60)
    walked = [h.node.id for page in all_pages(library, query) for h in page.hits]
    whole = [h.node.id for h in library.search(replace(query, top_k=1000)).hits]
    assert len(walked) > 200 and len(set(walked)) == len(walked)
    assert walked == whole


def test_halves_ranked_by_a_count_keep_their_count_order(tmp_path: Path) -> None:
    # Halves are averages, near duplicates of each other: the joint rerank moved an
    # 8-corner half that looked like the first below a 7-corner one that did not.
    rng = np.random.default_rng(3)
    u, v = np.eye(16, dtype=np.float32)[:2]
    db = Database.open(tmp_path, fast_options())
    db.create_collection("c", EmbeddingSpace(16))
    # (video, half): (its direction, its corners); each half 20 two-second segments.
    halves = {("a", 0): (u, 8), ("a", 1): (v, 7), ("b", 0): (u, 8), ("b", 1): (v, 1)}
    for video in ("a", "b"):
        db.create_video("c", video)
        rows = []
        for half in (0, 1):
            direction, corners = halves[(video, half)]
            for i in range(20):
                start = (half * 20 + i) * 2000
                vector = direction + 0.01 * rng.normal(size=16).astype(np.float32)
                rows.append(
                    SegmentInput(video, start, start + 2000, vector, labels=["corner kick"] if i < corners else [])
                )
        db.append_segments("c", rows)
        db.seal_video("c", video, hints={Level.HALF: [40_000]})
    query = SearchQuery("c", text="the half with the most corners", vector=u + v, mode=Mode.AUTO)
    result = db.search(query)
    assert result.route.levels == (Level.HALF,)
    assert [round(h.score / 100) for h in result.hits] == [8, 8, 7, 1]  # 100 a corner, then the z-score
    db.close()
