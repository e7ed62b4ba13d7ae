"""Game results: "a match the hosts won", "a goalless draw", "a stoppage-time winner".

A whole match's embedding is an average of everything in it; who won is not in it. The
result is in the scoring events and the side that scored each, so a query that asks for
one (at the video level) is answered from them:
- the scoring events are the segments labelled with the collection's label for a goal
  (``SCORING``, or the query's own word if it names one: "points", "touchdowns");
- the side of each is a segment attribute whose values are home and away words
  (``HOME_VALUES``, ``AWAY_VALUES``; "team" in the soccer generator), found from the
  scoring segments themselves, so no key is configured;
- a late goal falls in the last ``LATE_SHARE`` of its video (a twentieth: the final five
  minutes of a hundred-minute broadcast, where stoppage time falls);
- the winning goal is the one that put the eventual winner ahead for good; a late winner
  is a late winning goal.

``parse_result`` reads the wording (no model); ``holds`` tests one video's events.
Videos that hold the result rank first; among them, and among the rest, similarity and
scene evidence order them as for any video query.

``parse_side`` reads the one side a query names ("corner kick for the away side"), with
the same words; the router ranks that side's answers first (``hierarchy.auto``), read
from the same home/away attribute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LATE_SHARE = 0.05
SCORING = ("goal",)  # what counts as a score when the query names none
HOME_VALUES = frozenset({"home", "host", "hosts", "home team", "home side"})
AWAY_VALUES = frozenset({"away", "visitor", "visitors", "visiting", "away team", "away side"})

_I = re.IGNORECASE
_GOALLESS = re.compile(
    r"\b(?:goalless|scoreless|pointless\s+draw|nil[-\s]nil|0\s*[-–]\s*0|no\s+goals?|without\s+a\s+goal|"
    r"neither\s+(?:side|team|club)\s+(?:scored|scores|scoring|found\s+the\s+net))\b",
    _I,
)
_BOTH = re.compile(
    r"\b(?:both\s+(?:sides|teams|clubs)\s+(?:scored|score|scoring|found\s+the\s+net|on\s+the\s+score\s*sheet)|"
    r"(?:goals?|scoring)\s+at\s+both\s+ends|score\s+draw)\b",
    _I,
)
# "tie" is left out: a cup tie is a match, not a draw. "draw" with an object and "drawn
# by" are play ("draw a foul", "a penalty drawn by the striker"), not a result.
_DRAW = re.compile(
    r"\b(?:draw(?!\s+(?:a|an|the|another|his|her|their|its|fouls?|saves?|free|penalt\w+|cards?|defenders?)\b)|"
    r"drawn(?!\s+(?:by|from|out|into|in|on|up|back|against)\b)|stalemate|honou?rs\s+even|all\s+square|"
    r"ended\s+level|finish(?:ed)?\s+level|shar(?:e|ed|ing)\s+the\s+(?:spoils|points))\b",
    _I,
)
# A win or loss verb with an object is play, not a result ("won a corner", "lost the
# ball"), unless the object is the game itself ("won the derby").
_NOT_GAME = (
    r"(?!\s+(?:a|an|the|another|their|his|her|its|possession|back|ball)\b"
    r"(?!\s+(?:match|game|tie|derby|fixture|final|contest)\b))"
)
_WIN = re.compile(
    rf"\b(?:(?:win|wins|won|winning|lose|loses|lost|losing){_NOT_GAME}|winner|winners|victory|victories|"
    r"victorious|triumph|defeat|defeated|decided\s+by|"
    r"(?:beat|beats|beaten)(?!\s+(?:the\s+|his\s+|their\s+)?(?:keeper|goalkeeper|defender|man|wall|offside|press)))\b",
    _I,
)
# Wording where the named side is the one that lost: "the hosts were beaten".
_LOSS = re.compile(rf"\b(?:(?:lose|loses|lost|losing){_NOT_GAME}|beaten|defeat\s+for|defeated\s+at\s+home)\b", _I)
# "home" and "away" name a side before a team noun or after a determiner ("the away
# side", "a long home possession"), not as adverbs ("the ball given away", "heads home").
_TEAM_NOUNS = (
    r"side|sides|team|club|eleven|fans|supporters|crowd|players?|possessions?|spells?|moves?|attacks?|"
    r"goals?|corners?|win|victory|defeat|keeper|goalkeeper|defen[cs]e|end|support"
)
_DETERMINERS = r"a|an|the"
_HOME = re.compile(rf"\bhosts?\b|\b(?:{_DETERMINERS})\s+home\b|\bhome\s+(?:{_TEAM_NOUNS})\b", _I)
_AWAY = re.compile(
    rf"\b(?:visitors?|visiting|travell?ing)\b|\bon\s+the\s+road\b|\b(?:{_DETERMINERS})\s+away\b|"
    rf"\baway\s+(?:{_TEAM_NOUNS})\b",
    _I,
)
_LATE = re.compile(
    r"\b(?:late|stoppage[-\s]time|added[-\s]time|injury[-\s]time|last[-\s]gasp|last[-\s]minute|at\s+the\s+death|"
    r"dying\s+(?:minutes|seconds|moments))\b",
    _I,
)
# Words for a score the query may name instead of a goal ("a draw with no points").
_SCORE_WORDS = {w + s: w for w in ("goal", "point", "touchdown", "basket") for s in ("", "s")}


@dataclass(frozen=True)
class ResultPredicate:
    """The result a query asks of a game.

    ``outcome`` is "win" (a side ahead at the end), "draw" (level) or "" (either, with
    ``goals`` saying who scored); ``side`` the winner asked for ("home", "away", "" for
    either); ``goals`` "none" (nobody scored), "both" (each side did) or ""; ``late`` that
    the winning goal (or, in a draw, the last goal) came late; ``scoring`` the word for a
    score ("goal")."""

    outcome: str = ""
    side: str = ""
    goals: str = ""
    late: bool = False
    scoring: str = SCORING[0]

    def describe(self) -> str:
        """ "home win", "late winner", "goalless draw", "score draw", "both sides scoring"."""
        if self.goals == "none":
            return "goalless draw"
        if self.outcome == "win":
            what = "late winner" if self.late else "win"
            return f"{self.side} {what}" if self.side else what
        late = "late " if self.late else ""
        if self.outcome == "draw":
            return f"{late}score draw" if self.goals == "both" else f"{late}draw"
        return "both sides scoring"


def parse_result(text: str) -> ResultPredicate | None:
    """The result ``text`` asks of a game, or None. Read only for a query scoped to a
    whole video: "the winning goal" is a moment, not a result."""
    scoring = next((_SCORE_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _SCORE_WORDS), SCORING[0])
    late = bool(_LATE.search(text))
    if _GOALLESS.search(text):
        return ResultPredicate("draw", goals="none", scoring=scoring)
    both = bool(_BOTH.search(text))
    if _DRAW.search(text):
        return ResultPredicate("draw", goals="both" if both else "", late=late, scoring=scoring)
    if both:
        return ResultPredicate(goals="both", scoring=scoring)
    if _WIN.search(text):
        return ResultPredicate("win", side=_winner(text), late=late, scoring=scoring)
    return None


def _winner(text: str) -> str:
    """The side named as winning: the first side named, the other one after a loss word."""
    home, away = _HOME.search(text), _AWAY.search(text)
    if home is None and away is None:
        return ""
    named = "home" if away is None or (home is not None and home.start() < away.start()) else "away"
    if _LOSS.search(text):
        return "away" if named == "home" else "home"
    return named


def side_of(value: object) -> str:
    """ "home", "away" or "" for an attribute value."""
    text = str(value).strip().lower()
    return "home" if text in HOME_VALUES else "away" if text in AWAY_VALUES else ""


def side_key(attributes: Iterable[Mapping[str, Any]]) -> str | None:
    """The attribute that holds a side: the first key (in sorted order) whose every value
    reads as home or away (rows without it are passed over: a scene that spans a change
    of possession carries no side). None when no key does."""
    return sides(list(attributes))[0]


def sides(rows: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[str]]:
    """:func:`side_key` of ``rows``, and the side each row holds by it ("home", "away", or
    "" for a row without it; all "" when no key holds a side)."""
    read: dict[str, str] = {}  # a value's text -> its side: a routed search's head of 100 holds a handful
    for key in sorted({k for row in rows for k in row}):
        held: list[str] = []
        for row in rows:
            if key not in row:
                held.append("")
                continue
            text = str(row[key])
            side = read.get(text)
            if side is None:
                side = read[text] = side_of(text)
            if not side:  # most keys (a clock, a period) fail at their first value
                break
            held.append(side)
        else:
            return key, held
    return None, [""] * len(rows)


def parse_side(text: str) -> str:
    """The one side ``text`` names ("corner kick for the away side", "a long home
    possession"): "home", "away", or "" when it names none or both."""
    home, away = _HOME.search(text), _AWAY.search(text)
    if (home is None) == (away is None):
        return ""
    return "home" if home is not None else "away"


@dataclass(frozen=True)
class Goal:
    """One scoring event: when it started and the side that scored ("" if unknown)."""

    start_ms: int
    side: str


def holds(pred: ResultPredicate, goals: list[Goal], span: tuple[int, int]) -> bool:
    """Whether a video whose scoring events are ``goals`` and whose span is ``span``
    (start, end in ms) has the result ``pred`` asks for."""
    goals = sorted(goals, key=lambda g: g.start_ms)
    home, away = _score(goals)
    if pred.goals == "none" and goals:
        return False
    if pred.goals == "both" and not (home and away):
        return False
    if pred.outcome == "draw" and home != away:
        return False
    if pred.outcome == "win" and (home == away or (pred.side and pred.side != ("home" if home > away else "away"))):
        return False
    if not pred.late:
        return True
    decisive = _winning_goal(goals) if pred.outcome == "win" else (goals[-1] if goals else None)
    return decisive is not None and _is_late(decisive.start_ms, span)


def _winning_goal(goals: list[Goal]) -> Goal | None:
    """The goal that put the eventual winner ahead for good (None in a draw)."""
    home, away = _score(goals)
    if home == away:
        return None
    winner, lead, found = ("home" if home > away else "away"), 0, None
    for goal in goals:
        before = lead
        lead += 1 if goal.side == winner else -1 if goal.side else 0
        if before <= 0 < lead:
            found = goal
    return found


def _score(goals: list[Goal]) -> tuple[int, int]:
    """(home, away) goals; a goal of no known side counts for neither."""
    return sum(g.side == "home" for g in goals), sum(g.side == "away" for g in goals)


def _is_late(start_ms: int, span: tuple[int, int]) -> bool:
    begin, end = span
    return start_ms >= end - LATE_SHARE * max(end - begin, 0)


def tally(rows: Iterable[tuple[str, int, Mapping[str, Any]]]) -> tuple[dict[str, list[Goal]], str | None]:
    """Scoring events per video from (video, start, attributes) rows, and the attribute
    their sides were read from (None: no attribute names sides, every side is "")."""
    rows = list(rows)
    key, held = sides([attrs for _, _, attrs in rows])
    goals: dict[str, list[Goal]] = {}
    for (video, start, _), side in zip(rows, held, strict=True):
        goals.setdefault(video, []).append(Goal(int(start), side))
    return goals, key


def needs_sides(pred: ResultPredicate) -> bool:
    """Whether ``pred`` can only be read with each goal's side (all but a goalless draw)."""
    return pred.goals != "none"
