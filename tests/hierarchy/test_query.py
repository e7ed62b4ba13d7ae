"""Query understanding: scope, ordinal, count and event phrase of search texts."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hierarchy.query import CountPredicate, Ordinal, ParsedQuery, parse, without_ordinals
from hierarchy.types import Level
from tools.soccer import generate

ANET = "A man is seen speaking to the camera and leads into him playing the drums."


def cases(*rows: tuple) -> list:
    """Parameters named by their query text, so a failure reads as the query."""
    return [pytest.param(*row, id=row[0][:48]) for row in rows]


@pytest.mark.parametrize(
    ("text", "scope"),
    cases(
        ("first half with multiple turnovers", Level.HALF),
        ("the half with the most corners", Level.HALF),
        ("second half of match-0001", Level.HALF),
        ("several fouls in the first half", Level.HALF),
        ("10 or more saves in one half", Level.HALF),
        ("THE SECOND HALF!", Level.HALF),
        ("the opening period", Level.HALF),
        ("everything after the interval", Level.HALF),
        ("which half had more corners", Level.HALF),
        ("the last possession of the game", Level.DRIVE),
        ("a long home possession that ends in a shot", Level.DRIVE),
        ("a spell on the ball for the visitors ending in a shot", Level.DRIVE),
        ("the hosts keep the ball for a long spell, ending with a clearance", Level.DRIVE),
        ("a spell of passing in midfield", Level.SCENE),
        ("a set-piece ending in a header", Level.SCENE),
        ("a period of pressure from the hosts", Level.SCENE),
        ("a dangerous move in the final third", Level.SCENE),
        ("a delay for an injury to the hosts", Level.SCENE),
        ("a pause for an offside call", Level.SCENE),
        ("a corner routine for the visitors", Level.SCENE),
        ("the moment the hosts score", Level.SEGMENT),
        ("a 30-second clip of the crowd", Level.SEGMENT),
        ("a match with a stoppage-time winner", Level.VIDEO),
        ("a stoppage-time winner", None),  # a time the noun names, not a stoppage: the goal
        ("an injury time goal", None),
        ("a long stoppage", Level.SCENE),
        ("a match with three goals", Level.VIDEO),
        ("the first corner of the match", Level.VIDEO),
        ("a goalless draw", Level.VIDEO),
        ("a nil-nil draw", Level.VIDEO),  # as the result reader words it
        ("a 2-1 win for the hosts", Level.VIDEO),
        ("Duncliffe hosting Stonehaven Harriers", Level.VIDEO),
        ("corner kick", None),
        ("corner kick for the away side", None),
        ("the opening goal", None),
        ("possession surrendered by the hosts", None),
        ("the referee stopping the game for a foul", None),
        ("a half-volley from the edge of the box", None),
        ("the visitors keeping the ball and probing", None),
        (ANET, None),
        ("The video begins with a title screen and a man playing a game of pool.", None),
        ("Two men are playing a game of volleyball on the beach.", None),
        ("He plays the drums while she halves an onion.", None),
        ("A girl plays hopscotch on the left.", None),
        ("Two men play squash in a room with a glass wall.", None),
        ("The video finally starts and men are seen canoeing.", None),
    ),
)
def test_scope(text: str, scope: Level | None) -> None:
    assert parse(text).scope == scope


@pytest.mark.parametrize(
    ("text", "ordinal"),
    cases(
        ("first half with multiple turnovers", Ordinal(1, Level.HALF, False)),
        ("second half of the match", Ordinal(2, Level.HALF, False)),
        ("the 2nd half", Ordinal(2, Level.HALF, False)),
        ("an opening half with 13 or more free kicks", Ordinal(1, Level.HALF, False)),
        ("several fouls in the first half", Ordinal(1, Level.HALF, False)),
        ("everything before the interval", Ordinal(1, Level.HALF, False)),
        ("the last possession of the game", Ordinal(-1, Level.DRIVE, False)),
        ("the second-to-last possession", Ordinal(-2, Level.DRIVE, False)),
        ("the opening goal", Ordinal(1, None, True)),
        ("the first corner of the match", Ordinal(1, Level.VIDEO, True)),
        ("an infringement and then a second look at it", None),
        ("a dangerous move in the last third", None),
        ("First, a man ties his shoes.", None),
        ("a 30-second clip of the crowd", None),
        ("When he is done, he shows off the final product.", None),
        ("This child hangs from the first monkey bar.", None),
        ("corner kick", None),
    ),
)
def test_ordinal(text: str, ordinal: Ordinal | None) -> None:
    assert parse(text).ordinal == ordinal


@pytest.mark.parametrize(
    ("text", "count", "counted"),
    cases(
        ("first half with multiple turnovers", CountPredicate(2), "turnover"),
        ("a half that saw several goals", CountPredicate(2), "goal"),
        ("a couple of bookings in the second half", CountPredicate(2), "booking"),
        ("a half with at least 2 shots", CountPredicate(2), "shot"),
        ("more than 3 corners in a half", CountPredicate(4), "corner"),
        ("13 or more free kicks in one half", CountPredicate(13), "free kick"),
        ("a half with 3+ goals", CountPredicate(3), "goal"),
        ("a match with three goals", CountPredicate(3, exact=True, max_count=3), "goal"),
        ("a half with twenty penalties", CountPredicate(20, exact=True, max_count=20), "penalty"),
        ("a match with no goals", CountPredicate(0, exact=True, max_count=0), "goal"),
        ("a half without a booking", CountPredicate(0, exact=True, max_count=0), "booking"),
        ("a match with at most 1 goal", CountPredicate(0, max_count=1), "goal"),
        ("fewer than 3 goals in a match", CountPredicate(0, max_count=2), "goal"),
        ("a match where a player scored twice", CountPredicate(2, exact=True, max_count=2), "scored"),
        ("a half with 0 goals", CountPredicate(0, exact=True, max_count=0), "goal"),
        ("a match with one goal", CountPredicate(1, exact=True, max_count=1), "goal"),
        ("a match with 1 goal", CountPredicate(1, exact=True, max_count=1), "goal"),
        ("a half with between 1 and 3 goals", CountPredicate(1, max_count=3), "goal"),
        ("a half with 2 or 3 corners", CountPredicate(2, max_count=3), "corner"),
        ("a half with two to four corners", CountPredicate(2, max_count=4), "corner"),
        ("a half with 2 or more corners", CountPredicate(2), "corner"),
        ("a match in which player 1 scores", None, ""),  # a name, not a count
        ("a match where one team scored 3 goals", CountPredicate(3, exact=True, max_count=3), "goal"),
        ("a half in which one player scored twice", CountPredicate(2, exact=True, max_count=2), "scored"),
        ("a half where one side dominated", None, ""),
        ("a half with 1 v 1 duels", None, ""),
        ("the half with the most corners", CountPredicate(1, superlative=True, direction=1), "corner"),
        ("which half had more offside calls", CountPredicate(1, superlative=True, direction=1), "offside call"),
        ("the game with the fewest fouls", CountPredicate(0, superlative=True, direction=-1), "foul"),
        ("the busiest half for corners", CountPredicate(1, superlative=True, direction=1), "corner"),
        ("which half was busiest for corners", CountPredicate(1, superlative=True, direction=1), "corner"),
        ("the most eventful match for bookings", CountPredicate(1, superlative=True, direction=1), "booking"),
        ("the quietest half for fouls", CountPredicate(0, superlative=True, direction=-1), "foul"),
        ("the busiest half", None, ""),  # busy with what: nothing to count
        ("the most exciting match", None, ""),
        ("a 2-1 win for the hosts", None, ""),
        ("a game lasting 90 minutes", None, ""),
        ("Two men are playing volleyball.", None, ""),
        ("several people dance in a circle", None, ""),
        ("corner kick", None, ""),
        ("a man without a hat", None, ""),  # no level holds what is counted
    ),
)
def test_count(text: str, count: CountPredicate | None, counted: str) -> None:
    parsed = parse(text)
    assert (parsed.count, parsed.count_event) == (count, counted)


@pytest.mark.parametrize(
    ("text", "event"),
    cases(
        ("first half with multiple turnovers", "turnovers"),
        ("several fouls in the first half", "fouls"),
        ("the half with the most corners", "corners"),
        ("a half with 2 or 3 corners", "corners"),  # the range leaves the event whole
        ("a match with between two and four goals", "goals"),
        ("the half of this match with more free kicks", "free kicks"),
        ("a long home possession that ends in a shot", "long home possession that ends in a shot"),
        ("the last possession of the game", "possession"),
        ("the opening goal", "opening goal"),
        ("the first corner of the match", "first corner"),
        ("a match with a stoppage-time winner", "stoppage-time winner"),
        ("a half in which the visitors found the net", "visitors found the net"),
        ("find me a goal in the second half by the visitors", "goal by the visitors"),
        ("corner kick for the away side", "corner kick for the away side"),
        ("a spell of passing in midfield", "spell of passing in midfield"),
        (ANET, "man is seen speaking to the camera and leads into him playing the drums"),
        ("at least 2 goals", "at least 2 goals"),  # no level to count in: the words stay whole
        ("at most one booking", "at most one booking"),
        # A link word hyphened to the word before is part of it, not an end to trim.
        ("kick-off", "kick-off"),
        ("a throw-in", "throw-in"),
        ("every kick-off of match-0001", "kick-off"),
        ("the first kick-off of the second half", "first kick-off"),
        ("a goal kick in", "goal kick"),
    ),
)
def test_event(text: str, event: str) -> None:
    parsed = parse(text)
    assert (parsed.event, parsed.fallback) == (event, False)


def test_a_count_in_a_range_is_described_by_both_ends() -> None:
    assert parse("a half with 2 to 4 corners").explain().startswith("scope half; 2 to 4 × 'corner'")


def test_a_scope_alone_embeds_the_whole_text_and_names_the_video() -> None:
    parsed = parse("second half of match-0001")
    assert (parsed.event, parsed.fallback, parsed.video_ref) == ("second half of match-0001", True, "match-0001")
    assert parse("the second half").event == "the second half"


def test_container_phrases_are_reported_as_within() -> None:
    assert parse("the last possession of the game").within == Level.VIDEO
    assert parse("several fouls in the first half").within == Level.HALF
    assert parse("the first possession of the 2nd half").explain().endswith("within half 2; event 'possession'")
    assert parse("a half with several fouls").within is None


@pytest.mark.parametrize(
    ("text", "scope", "part"),
    cases(
        ("a goal in the second half", None, (Level.HALF, 2)),
        ("a goal in the 2nd half", None, (Level.HALF, 2)),  # an ordinal in digits names it too
        ("corners in the 1st half", None, (Level.HALF, 1)),
        ("corners after the interval", None, (Level.HALF, 2)),
        ("a save in the first half of match-0001", None, (Level.HALF, 1)),
        ("a long home possession in the first half", Level.DRIVE, (Level.HALF, 1)),
        # The part itself, a count per part, an ordinal inside it:
        ("what happened in the second half", Level.HALF, None),
        ("everything before the interval", Level.HALF, None),
        ("several fouls in the first half", Level.HALF, None),
        ("the first possession of the second half", Level.DRIVE, None),
        ("the first possession of the 2nd half", Level.DRIVE, None),
        ("a match with a goal in the second half", Level.VIDEO, None),
    ),
)
def test_a_named_part_confines_the_search(text: str, scope: Level | None, part: tuple | None) -> None:
    parsed = parse(text)
    assert (parsed.scope, parsed.part) == (scope, part)
    if part is not None:
        assert parsed.ordinal is None and f"within half {part[1]}" in parsed.explain()


@pytest.mark.parametrize(
    ("text", "every", "event"),
    cases(
        ("every goal of match-0001", True, "goal"),
        ("all corners in the second half", True, "corners"),
        ("all corner kicks after the interval", True, "corner kicks"),
        ("all free kicks", True, "free kicks"),
        ("all is quiet in the first half", False, "all is quiet"),
        ("all of the bookings", True, "bookings"),
        ("find me each save by the visitors", True, "save by the visitors"),
        ("all out attack from the hosts", False, "all out attack from the hosts"),
        ("All the kids are dancing on stage.", False, "All the kids are dancing on stage"),  # a statement
        ("a goal", False, "goal"),
    ),
)
def test_every_asks_for_all_the_events(text: str, every: bool, event: str) -> None:
    parsed = parse(text)
    assert (parsed.every, parsed.event) == (every, event)


@pytest.mark.parametrize(
    ("text", "sequence"),
    [
        ("a cross then a header", ("cross", "a header")),
        ("beating a man then shooting", ("beating a man", "shooting")),
        ("an infringement and then a second look at it", ("infringement", "a second look at it")),
        ("a foul, then a replay", ("foul", "a replay")),
        ("a corner kick followed by a goal", ("corner kick", "a goal")),
        ("a goal followed by a kick-off", ("goal", "a kick-off")),
        ("the camera then spins in a circle", ()),  # an adverb: one moment
        ("She scrubs and then wipes down the sink.", ()),  # a full sentence: a description
        ("a cross then a header then a save", ()),  # more than two events
        ("a cross from the left wing by the home full back then a header", ()),  # not brief
        ("then a goal", ()),  # nothing before it
        ("the first goal then a celebration", ()),  # an ordinal orders the events instead
        ("every goal then a replay", ()),
        ("a scene with a cross then a header", ()),  # a level named
        ("a corner kick", ()),
    ],
)
def test_two_events_in_order_are_a_sequence(text: str, sequence: tuple[str, ...]) -> None:
    parsed = parse(text)
    assert parsed.sequence == sequence
    assert ("sequence " in parsed.explain()) == bool(sequence)


def test_explain_is_one_line() -> None:
    explained = parse("first half with multiple turnovers").explain()
    assert explained == "scope half; ordinal 1 of half; at least 2 × 'turnover'; event 'turnovers'"
    assert parse("the first corner of the match").explain().startswith("scope video; ordinal 1 of event in video;")
    assert parse("the opening goal").explain() == "ordinal 1 of event; event 'opening goal'"


@pytest.mark.parametrize("text", ["", "   ", "\n\t "], ids=repr)
def test_blank_text_parses_to_nothing(text: str) -> None:
    assert parse(text) == ParsedQuery(text=text)


WORDS = ["the", "a", "first", "second", "last", "half", "halves", "match", "possession", "of", "in", "with", "most",
         "at", "least", "3", "or", "more", "several", "twice", "no", "goals", "-", ",", "match-0001", "interval",
         "before", "spell", "on", "ball", "set", "piece", "is", "hosting", "Two", "+", "é", "1st", "every", "each",
         "all", "busiest", "quietest", "most eventful", "for", "what happened", "corners"]  # fmt: skip


@given(st.one_of(st.text(), st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join)))
def test_parse_never_raises_and_keeps_an_event(text: str) -> None:
    parsed = parse(text)
    assert parsed.text == text
    if any(c.isalpha() for c in text):
        assert parsed.event
    if not text.strip():
        assert parsed == ParsedQuery(text=text)


@pytest.mark.parametrize(
    ("text", "ongoing"),
    cases(
        ("the visitors keeping the ball and probing", "keeping"),
        ("the referee stopping the game for a foul", "stopping"),
        ("A man is seen speaking to the camera.", "speaking"),
        ("a player down and needing treatment", "needing"),
        ("corner kick for the away side", ""),
        ("the hosts lose the ball", ""),
        ("a sliding tackle on the edge of the box", ""),  # after a determiner: an adjective
        ("the winning goal", ""),
        ("something happens in the evening", ""),  # -ing nouns
        ("the opening goal", ""),
    ),
)
def test_ongoing_play_is_told_from_one_action(text: str, ongoing: str) -> None:
    parsed = parse(text)
    assert parsed.ongoing == ongoing
    assert (f"ongoing '{ongoing}'" in parsed.explain()) == bool(ongoing)


@pytest.fixture(scope="module")
def soccer_queries() -> list[dict]:
    return generate(matches=3, seed=0, vectors="none").queries


def scope_label(text: str) -> str | None:
    scope = parse(text).scope
    return scope.label if scope else None


@pytest.mark.parametrize("level", ["half", "video", "drive", "segment"])
def test_generated_queries_get_their_level(soccer_queries: list[dict], level: str) -> None:
    """At least 90 % of generated queries parse to their level (a segment query may have no scope)."""
    chosen = [q["text"] for q in soccer_queries if q["level"] == level]
    accept = {level, None} if level == "segment" else {level}
    misses = [f"{text!r} -> {parse(text).explain()}" for text in chosen if scope_label(text) not in accept]
    assert chosen and len(misses) <= 0.1 * len(chosen), f"{len(misses)}/{len(chosen)} misses:\n" + "\n".join(misses)


def test_generated_queries_cover_every_level(soccer_queries: list[dict]) -> None:
    assert {"segment", "scene", "drive", "half", "video"} <= set(Counter(q["level"] for q in soccer_queries))


@pytest.mark.parametrize(
    ("phrase", "ordered"),
    [("opening goal", "goal"), ("first corner", "corner"), ("second to last corner kick", "corner kick"),
     ("3rd substitution", "substitution"), ("final whistle", "whistle"), ("corner kick", "corner kick")],
)  # fmt: skip
def test_what_an_event_ordinal_orders(phrase: str, ordered: str) -> None:
    assert without_ordinals(phrase) == ordered


@pytest.mark.parametrize(
    ("text", "event"),
    cases(
        # Counted as 3 ("-3"), as 5 with "3" left in the event ("3.5"), and the "at" of a
        # number too long to count dropped from the event ("least 999… corners").
        ("half with at least -3 corners", "at least -3 corners"),
        ("a half with 3.5 corners", "3.5 corners"),
        ("half with at least 99999999999999999999 corners", "at least 99999999999999999999 corners"),
        ("half with between -2 and 3 goals", "-2 and 3 goals"),
        ("the -1st goal", "-1st goal"),
    ),
)
def test_a_negative_or_decimal_number_is_no_count_and_stays_in_the_event(text: str, event: str) -> None:
    parsed = parse(text)
    assert (parsed.count, parsed.ordinal, parsed.event) == (None, None, event)


@pytest.mark.parametrize(
    ("text", "count"),
    cases(
        ("a half with 2 or 3 corners", CountPredicate(2, max_count=3)),
        ("halves with 3 to 5 corners", CountPredicate(3, max_count=5)),
        ("a match with at least 3 goals", CountPredicate(3)),
        ("a 2-1 win with 3 goals", CountPredicate(3, exact=True, max_count=3)),
    ),
)
def test_whole_numbers_beside_signs_and_ranges_still_count(text: str, count: CountPredicate) -> None:
    assert parse(text).count == count


def test_a_word_after_or_is_no_range_end() -> None:
    # Only a number after "or" ends a range: "more" here still reads as a count (lost once).
    count = parse("1 or more goals in one half").count
    assert count is not None and count.min_count == 1
