"""The vocabulary of the synthetic soccer data: clubs and players, which events happen in
each phase, the caption templates, and the queries with their truth.

Captions are written from several templates per event, with a clause in the vocabulary
of the phase they belong to, so phases are semantically distinct. Queries are worded
from separate paraphrase tables, so a query never copies a caption; each query carries
its truth, computed from the planted tree.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.soccer import Match, Segment

SQUAD = 6  # a goalkeeper and the five outfield players the commentary names
CLUBS = [
    "Rivermouth Athletic", "Kestrel Vale", "Port Alder", "Grimsford Town", "Lindenhall United",
    "Saltmarsh Rovers", "Ashcombe City", "Oldbridge Wanderers", "Harrowfield", "Corran Bay",
    "Thornbury Albion", "Westmere Forest", "Duncliffe", "Brackenmoor", "Fallowby County",
    "Stonehaven Harriers",
]  # fmt: skip
SURNAMES = [
    "Okafor", "Lindqvist", "Moreau", "Tanaka", "Castillo", "Brennan", "Kowalski", "Haddad",
    "Silva", "Nyberg", "Adeyemi", "Rossi", "Fischer", "Quinlan", "Mensah", "Duarte", "Varga",
    "Holm", "Sato", "Pereira", "Achterberg", "Ferreira", "Novak", "Ibrahim", "Calloway",
    "Ortega", "Larsen", "Bianchi", "Dufresne", "Mbeki", "Albrecht", "Kaya", "Whitlock",
    "Szabo", "Jovanovic", "Marchetti", "Oyelaran", "Petrov", "Gallagher", "Nakamura",
]  # fmt: skip

# ---- what happens in each phase ----
TRANSITIONS = {
    "build_up": {"attack": 70, "stoppage": 18, "set_piece": 12},
    "attack": {"build_up": 45, "set_piece": 35, "stoppage": 20},
    "set_piece": {"attack": 60, "build_up": 40},
    "stoppage": {"set_piece": 60, "build_up": 40},
}
SET_PIECES = {"corner kick": 35, "free kick": 30, "throw-in": 35}
PAUSES = {"foul": 45, "substitution": 40, "injury": 15}
# Running play may repeat within a scene; every other event occurs at most once per scene,
# so label counts are event counts (a half has a handful of corners, not dozens).
FLOW = frozenset({"pass", "dribble", "cross", "header", "clearance", "replay"})
# Event mix inside a scene, keyed by the open-play phase or by the set piece / stoppage kind.
BODY = {
    "build_up": {"pass": 62, "dribble": 24, "header": 8, "clearance": 6},
    "attack": {"pass": 30, "dribble": 22, "cross": 24, "header": 14, "shot": 1, "clearance": 7},
    "corner kick": {"header": 40, "clearance": 30, "cross": 15, "pass": 10, "shot": 5},
    "free kick": {"pass": 35, "header": 30, "cross": 15, "shot": 8, "clearance": 12},
    "throw-in": {"pass": 50, "header": 25, "dribble": 15, "clearance": 10},
    "foul": {"replay": 80, "booking": 20},
    "offside": {"replay": 100},
    "substitution": {"replay": 60, "substitution": 40},
    "injury": {"replay": 100},
}
# Chances of a next event, so sequences such as cross -> header -> save occur.
FOLLOW = {
    "cross": {"header": 0.5},
    "header": {"clearance": 0.3, "save": 0.015},
    "shot": {"save": 0.3},
    "corner kick": {"header": 0.6},
    "dribble": {"shot": 0.01},
}
# How a possession ends, by its last phase (a goal is planned, never drawn).
ENDINGS = {
    "build_up": {"turnover": 50, "tackle": 30, "out of play": 20},
    "attack": {"turnover": 30, "clearance": 25, "shot": 15, "save": 10, "out of play": 12,
               "offside": 8},
    "set_piece": {"clearance": 45, "header": 25, "save": 15, "shot": 15},
}  # fmt: skip

# ---- captions ----
# Event sentences; {team}/{player} are the side in possession, {opp}/{rival}/{keeper} the other.
_EVENTS = {
    "pass": ["{player} plays it short to a teammate", "a simple ball forward keeps it moving",
             "{team} switch play across the pitch", "{team} move it on quickly"],
    "dribble": ["{player} carries the ball past his marker", "{player} runs at the {opp} defence",
                "a quick burst of pace takes him past a challenge"],
    "cross": ["{player} whips a cross towards the far post", "a looping cross from the wing",
              "{team} swing the ball in from wide"],
    "shot": ["{player} fires a shot wide", "{player} lets fly but it is blocked",
             "{player} drags an effort past the post"],
    "save": ["{keeper} gets down to stop {player}'s strike", "a sharp stop from {keeper} denies "
             "{team}", "{keeper} tips {player}'s effort over the bar"],
    "header": ["{player} rises to head it", "a glancing header from {team}",
               "the ball is flicked on with the head"],
    "goal": ["{player} scores for {team}", "GOAL! {player} finds the net for {team}",
             "{player} buries it and {team} celebrate"],
    "turnover": ["{team} give the ball away cheaply", "{rival} intercepts a loose pass from "
                 "{player}", "{player} loses possession to {rival}"],
    "tackle": ["{rival} wins the ball with a firm tackle on {player}",
               "{rival} slides in to dispossess {player}"],
    "clearance": ["{rival} hacks it clear", "{opp} scramble the ball away",
                  "it is headed out of danger"],
    "out of play": ["{player} overhits it and the ball runs out",
                    "the ball goes out off {player}"],
    "offside": ["{player} is flagged offside", "the linesman raises the flag against {player}"],
    "foul": ["{rival} and {player} tangle and the whistle goes",
             "the referee blows for a foul involving {player}", "{player} goes to ground under "
             "pressure from {rival}"],
    "replay": ["a replay shows the incident again", "the broadcast shows it from another angle",
               "another look at the incident on the replay"],
    "booking": ["{rival} is shown a yellow card", "the referee books {rival}"],
    "substitution": ["{team} make a change as {player} comes on",
                     "{player} is replaced as {team} use a substitution"],
    "injury": ["{player} is down and receiving treatment", "the physio attends to {player}"],
    "kick-off": ["{team} kick off from the centre spot",
                 "{player} gets the game going again from the centre circle"],
    "goal kick": ["{team} restart with a goal kick", "{player} takes the goal kick short"],
    "corner kick": ["{player} takes the corner from the flag",
                    "{player} swings the corner kick into the box",
                    "{team} win a corner and {player} stands over it"],
    "free kick": ["{player} stands over the free kick", "{player} curls the free kick into "
                  "the area", "{team} take the free kick quickly"],
    "throw-in": ["{player} takes a long throw into the box", "{team} take the throw-in down "
                 "the line", "{player} launches the throw-in"],
}  # fmt: skip
# The phase clause: the vocabulary every caption of a phase shares.
_PHASE_CLAUSES = {
    "build_up": ["as they build patiently from the back", "keeping possession in midfield",
                 "circulating the ball in the middle third"],
    "attack": ["pushing into the final third", "with the defence stretched near the penalty "
               "area", "as the attack gathers pace towards goal"],
    "set_piece": ["with bodies packed in the box for the delivery", "from the dead-ball "
                  "situation", "as players jostle for position in the area"],
    "stoppage": ["while play is halted", "during the break in play",
                 "with the referee holding up the game"],
}  # fmt: skip


def caption(rng: random.Random, phase: str, label: str, names: dict[str, str]) -> str:
    """A caption for one event in one phase, with ``names`` filled in."""
    sentence = rng.choice(_EVENTS[label]).format(**names)
    clause = rng.choice(_PHASE_CLAUSES[phase]).format(**names)
    return f"{sentence[0].upper()}{sentence[1:]} {clause}."


# ---- queries: worded apart from the captions above ----
_EVENT_QUERIES = {
    "corner kick": ["corner kick for {side}", "{side} earn a corner",
                    "a flag-kick routine by {side}"],
    "free kick": ["{side} awarded a free kick", "a dead-ball chance for {side} after an offence"],
    "throw-in": ["{side} restart by hand from the touchline", "a throw for {side}"],
    "goal": ["{side} hit the back of the net", "the moment {side} score",
             "{side} get on the scoresheet"],
    "shot": ["an attempt from {side} that misses", "{side} try their luck at goal"],
    "save": ["the goalkeeper keeps out an attempt by {side}", "a stop against {side}"],
    "header": ["{side} win an aerial duel", "a headed attempt by {side}"],
    "cross": ["{side} deliver a ball from a wide area", "a centre from the flank by {side}"],
    "offside": ["{side} caught beyond the last defender", "an offside call against {side}"],
    "substitution": ["{side} change personnel", "a player swap for {side}"],
    "turnover": ["{side} lose the ball", "possession surrendered by {side}"],
    "tackle": ["{side} dispossessed by a challenge", "{side} robbed of the ball"],
    "kick-off": ["{side} restart from the halfway line", "{side} get play underway"],
    "injury": ["a player from {side} needing medical attention", "{side} have a man hurt"],
    "foul": ["an offence given with {side} on the ball", "a whistle for an infringement "
             "while {side} have it"],
}  # fmt: skip
_SEQUENCE_QUERIES = {
    ("header", "save"): ["a header that is saved", "a headed attempt the goalkeeper stops"],
    ("cross", "header"): ["a ball from the wing met with the head", "a delivery won in the air"],
    ("shot", "save"): ["an effort kept out by the goalkeeper", "a strike the keeper stops"],
    ("corner kick", "header"): ["a corner met with a header", "a header straight from a corner"],
    ("dribble", "shot"): ["a solo run finished with an attempt", "beating a man then shooting"],
    ("foul", "replay"): ["an offence shown again from another angle",
                         "an infringement and then a second look at it"],
}  # fmt: skip
_SCENE_QUERIES = {
    ("build_up", None): ["a spell of passing in midfield for {side}",
                         "{side} keeping the ball and probing from deep"],
    ("attack", None): ["{side} threatening around the opposition penalty area",
                       "a dangerous move in the last third by {side}"],
    ("set_piece", "corner kick"): ["a corner routine for {side}", "{side} attacking a corner"],
    ("set_piece", "free kick"): ["a free-kick situation for {side}", "{side} with a set piece "
                                 "after a foul"],
    ("set_piece", "throw-in"): ["a long-throw situation for {side}",
                                "{side} restarting from the sideline"],
    ("stoppage", "foul"): ["play halted after an offence involving {side}",
                           "the referee stopping the game for a foul with {side} on the ball"],
    ("stoppage", "offside"): ["a pause for an offside call on {side}", "{side} pulled up for "
                              "offside and the game waits"],
    ("stoppage", "substitution"): ["{side} bring on fresh legs", "a break while {side} make "
                                   "changes"],
    ("stoppage", "injury"): ["a player from {side} down and needing treatment",
                             "a delay for an injury to {side}"],
}  # fmt: skip
_SCENE_END_QUERIES = {
    ("set_piece", "header"): ["a set piece ending in a header",
                              "a dead-ball situation that finishes with a headed effort"],
    ("set_piece", "clearance"): ["a set piece the defence clears", "a dead ball headed away"],
    ("attack", "save"): ["an attacking move that the goalkeeper ends", "an attack that finishes "
                         "with a stop by the keeper"],
    ("attack", "shot"): ["a move in the last third ending with an attempt off target"],
    ("build_up", "turnover"): ["a passing spell that ends with the ball given away"],
}  # fmt: skip
_OUTCOMES = {
    "attempt": ["in a shot", "with an attempt on goal", "in an effort at the target"],
    "goal": ["in a goal", "with the ball in the net"],
    "lost": ["with the ball lost to the opponents", "in a loss of possession"],
    "infringement": ["with an offence given against them", "when the referee penalises them"],
    "cleared": ["with the defence clearing it", "with the ball hacked away"],
    "out": ["with the ball going out of play", "with the ball over the line"],
}  # fmt: skip
_OUTCOME_GROUP = {
    "shot": "attempt", "header": "attempt", "save": "attempt", "goal": "goal", "turnover": "lost",
    "tackle": "lost", "foul": "infringement", "offside": "infringement", "clearance": "cleared",
    "out of play": "out",
}  # fmt: skip
_DRIVE_QUERIES = {
    "long": ["a long {adj} possession that ends {outcome}",
             "{side} keep the ball for a long spell, ending {outcome}"],
    "short": ["a brief {adj} possession that ends {outcome}",
              "{side} have the ball only briefly, ending {outcome}"],
    "any": ["a {adj} possession that ends {outcome}", "a spell on the ball for {side} ending "
            "{outcome}"],
}  # fmt: skip
_AN = re.compile(r"(^|\s)a ([aeiouAEIOU])")
_LONG_MS, _SHORT_MS = 60_000, 20_000
_HALF_SCOPE = [
    ["the first half", "the opening period", "everything before the interval"],
    ["the second half", "the second period", "everything after the interval"],
]
_PLURALS = {"corner kick": "corners", "foul": "fouls", "shot": "shots", "turnover": "turnovers",
            "substitution": "substitutions", "goal": "goals", "offside": "offside calls",
            "save": "saves", "free kick": "free kicks", "booking": "bookings"}  # fmt: skip
_HALF_MORE = ["the half of this match with more {plural}", "which half had more {plural}"]
_HALF_COUNT = ["a half with at least {n} {plural}", "{n} or more {plural} in one half"]
_HALF_MULTIPLE = ["a half with multiple {plural}", "a half that saw several {plural}"]
_FIRST_HALF_COUNT = ["a first half with at least {n} {plural}", "an opening half with {n} or "
                     "more {plural}"]  # fmt: skip
_FIRST_HALF_MULTIPLE = ["a first half with multiple {plural}"]
_VIDEO_OUTCOMES: dict[str, tuple[list[str], Callable[[Match], bool]]] = {
    "late_winner": (["a match with a stoppage-time winner",
                     "a game decided by a late goal deep into added time"],
                    lambda m: m.stoppage_time_winner()),
    "goalless": (["a goalless draw", "a game where neither side scored"],
                 lambda m: m.score() == (0, 0)),
    "home_win": (["a victory for the home team", "a match the hosts won"],
                 lambda m: m.score()[0] > m.score()[1]),
    "away_win": (["a win on the road for the visitors", "a match the away team won"],
                 lambda m: m.score()[0] < m.score()[1]),
    "score_draw": (["a draw in which both teams scored", "honours even with goals at both ends"],
                   lambda m: m.score()[0] == m.score()[1] > 0),
}  # fmt: skip
_PER_MATCH = {"event": 8, "sequence": 3, "scene": 5, "scene_end": 2, "drive": 5, "ordinal": 2}


def _span(video_id: str, start_ms: int, end_ms: int) -> dict:
    return {"video_id": video_id, "start_ms": start_ms, "end_ms": end_ms}


def _query(text: str, level: str, kind: str, video_id: str | None, truth: list[dict]) -> dict:
    return {"id": "", "text": text, "level": level, "kind": kind, "video_id": video_id,
            "truth": truth}  # fmt: skip


def _side(rng: random.Random, m: Match, team: str) -> tuple[str, str]:
    """A noun phrase and an adjective naming ``team``: "the hosts"/"home", or the club."""
    club = m.club(team)
    if team == "home":
        return rng.choice([("the home side", "home"), ("the hosts", "home"), (club, club)])
    return rng.choice([("the away side", "away"), ("the visitors", "away"), (club, club)])


def _sample(rng: random.Random, items: Sequence, k: int) -> list:
    """Up to ``k`` of ``items``, which must come in a deterministic order."""
    return rng.sample(list(items), min(k, len(items)))


def _event_queries(rng: random.Random, m: Match) -> list[dict]:
    """Segment queries: one event by one side, truth every such segment of the match."""
    combos = sorted({(s.label, s.team) for s in m.segments if s.label in _EVENT_QUERIES})
    goals = [c for c in combos if c[0] == "goal"]
    others = [c for c in combos if c[0] != "goal"]
    chosen = goals + _sample(rng, others, _PER_MATCH["event"])
    out = []
    for label, team in chosen:
        text = rng.choice(_EVENT_QUERIES[label]).format(side=_side(rng, m, team)[0])
        truth = [_span(m.video_id, s.start_ms, s.end_ms) for s in m.segments
                 if s.label == label and s.team == team]  # fmt: skip
        out.append(_query(text, "segment", "event", m.video_id, truth))
    return out


def _sequence_queries(rng: random.Random, m: Match) -> list[dict]:
    """Segment queries for two events in a row within one phase; truth spans both."""
    found: dict[tuple[str, str], list[dict]] = {}
    for a, b in zip(m.segments, m.segments[1:], strict=False):
        if (a.label, b.label) in _SEQUENCE_QUERIES and a.scene == b.scene:
            found.setdefault((a.label, b.label), []).append(_span(m.video_id, a.start_ms, b.end_ms))
    out = []
    for pair in _sample(rng, list(found), _PER_MATCH["sequence"]):
        text = rng.choice(_SEQUENCE_QUERIES[pair])
        out.append(_query(text, "segment", "sequence", m.video_id, found[pair]))
    return out


def _scene_queries(rng: random.Random, m: Match) -> list[dict]:
    """Scene queries: a phase (and its kind) for one side, or a phase ending in an event."""
    spans = [_span(m.video_id, *m.scene_span(i)) for i in range(len(m.scenes))]
    by_phase: dict[tuple, list[dict]] = {}
    by_end: dict[tuple, list[dict]] = {}
    for i, sc in enumerate(m.scenes):
        by_phase.setdefault((sc.phase, sc.kind, sc.team), []).append(spans[i])
        end = (sc.phase, m.segments[sc.stop - 1].label)
        if end in _SCENE_END_QUERIES:
            by_end.setdefault(end, []).append(spans[i])
    out = []
    for phase, kind, team in _sample(rng, list(by_phase), _PER_MATCH["scene"]):
        text = rng.choice(_SCENE_QUERIES[phase, kind]).format(side=_side(rng, m, team)[0])
        out.append(_query(text, "scene", "phase", m.video_id, by_phase[phase, kind, team]))
    for end in _sample(rng, list(by_end), _PER_MATCH["scene_end"]):
        out.append(_query(rng.choice(_SCENE_END_QUERIES[end]), "scene", "phase_end",
                          m.video_id, by_end[end]))  # fmt: skip
    return out


def _length(span: tuple[int, int]) -> str:
    ms = span[1] - span[0]
    return "long" if ms >= _LONG_MS else "short" if ms <= _SHORT_MS else "any"


def _drive_queries(rng: random.Random, m: Match) -> list[dict]:
    """Drive queries: a side's possession by length and by how it ends."""
    found: dict[tuple[str, str, str], list[dict]] = {}
    for i, d in enumerate(m.drives):
        span, group = m.drive_span(i), _OUTCOME_GROUP[d.outcome]
        for length in dict.fromkeys((_length(span), "any")):  # ordered: no set of str
            found.setdefault((d.team, group, length), []).append(_span(m.video_id, *span))
    out = []
    for team, group, length in _sample(rng, list(found), _PER_MATCH["drive"]):
        side, adj = _side(rng, m, team)
        outcome = rng.choice(_OUTCOMES[group])
        text = rng.choice(_DRIVE_QUERIES[length]).format(side=side, adj=adj, outcome=outcome)
        text = _AN.sub(r"\1an \2", text)
        out.append(_query(text, "drive", "outcome", m.video_id, found[team, group, length]))
    return out


def _half_segments(m: Match, i: int) -> list[Segment]:
    start, end = m.half_span(i)
    return [s for s in m.segments if start <= s.start_ms < end]


def _label_count(segments: list[Segment], label: str) -> int:
    return sum(1 for s in segments if s.label == label)


def _half_queries(rng: random.Random, m: Match) -> list[dict]:
    """Half queries inside one match: each half by name, and the half with more of an event."""
    halves = [_span(m.video_id, *m.half_span(i)) for i in range(len(m.halves))]
    out = [_query(rng.choice(_HALF_SCOPE[i]), "half", "scope", m.video_id, [halves[i]])
           for i in range(len(halves))]  # fmt: skip
    segments = [_half_segments(m, i) for i in range(len(halves))]
    uneven = []
    for label in _PLURALS:
        counts = [_label_count(s, label) for s in segments]
        if len(set(counts)) == len(counts):
            uneven.append((label, counts.index(max(counts))))
    for label, best in _sample(rng, uneven, _PER_MATCH["ordinal"]):
        text = rng.choice(_HALF_MORE).format(plural=_PLURALS[label])
        out.append(_query(text, "half", "ordinal", m.video_id, [halves[best]]))
    return out


def _threshold(counts: list[int]) -> int | None:
    """A count that some but not all items reach, near the upper quartile."""
    values = sorted(counts)
    n = values[(3 * (len(values) - 1)) // 4]
    if n == values[0]:
        n = next((v for v in values if v > n), None)
    return n if n else None


def _corpus_half_queries(rng: random.Random, matches: Sequence[Match]) -> list[dict]:
    """Half queries over every match: count thresholds, the most of an event, who scored."""
    halves = [(m, i, _span(m.video_id, *m.half_span(i))) for m in matches for i in range(2)]
    segments = [_half_segments(m, i) for m, i, _ in halves]
    out = []
    for label in _PLURALS:
        counts = [_label_count(s, label) for s in segments]
        n = _threshold(counts)
        if n is None:
            continue
        hits = [h[2] for h, c in zip(halves, counts, strict=True) if c >= n]
        wording = _HALF_MULTIPLE if n == 2 else _HALF_COUNT
        text = rng.choice(wording).format(n=n, plural=_PLURALS[label])
        out.append(_query(text, "half", "count", None, hits))
        firsts = [h[2] for h, c in zip(halves, counts, strict=True) if c >= n and h[1] == 0]
        wording = _FIRST_HALF_MULTIPLE if n == 2 else _FIRST_HALF_COUNT
        text = rng.choice(wording).format(n=n, plural=_PLURALS[label])
        out.append(_query(text, "half", "count", None, firsts))
        top = [h[2] for h, c in zip(halves, counts, strict=True) if c == max(counts)]
        out.append(_query(f"the half with the most {_PLURALS[label]}", "half", "ordinal",
                          None, top))  # fmt: skip
    scorers = sorted({m.club(g["team"]) for m in matches for g in m.goals})
    for club in _sample(rng, scorers, 2):
        hits = [h[2] for h in halves
                if any(h[0].club(g["team"]) == club and g["period"] == h[1] + 1
                       for g in h[0].goals)]  # fmt: skip
        out.append(_query(f"a half in which {club} found the net", "half", "event", None, hits))
    return out


def _video_queries(rng: random.Random, matches: Sequence[Match]) -> list[dict]:
    """Video queries: results, late winners, goal counts, fixtures, the most of an event."""
    whole = {m.video_id: _span(m.video_id, 0, m.duration_ms) for m in matches}
    out = []
    for texts, test in _VIDEO_OUTCOMES.values():
        hits = [whole[m.video_id] for m in matches if test(m)]
        out.append(_query(rng.choice(texts), "video", "outcome", None, hits))
    n = _threshold([len(m.goals) for m in matches])
    if n is not None:
        hits = [whole[m.video_id] for m in matches if len(m.goals) >= n]
        out.append(_query(f"a game with {n} or more goals", "video", "count", None, hits))
    for m in _sample(rng, list(matches), 3):
        hits = [whole[x.video_id] for x in matches if (x.home, x.away) == (m.home, m.away)]
        out.append(_query(f"{m.home} hosting {m.away}", "video", "scope", None, hits))
    corners = [_label_count(m.segments, "corner kick") for m in matches]
    top = [whole[m.video_id] for m, c in zip(matches, corners, strict=True) if c == max(corners)]
    out.append(_query("the game with the most corners", "video", "ordinal", None, top))
    return out


def make_queries(matches: Sequence[Match], seed: int) -> list[dict]:
    """The query set of ``matches`` with its truth at every level; empty-truth queries dropped."""
    rng = random.Random(f"soccer-queries-{seed}")
    per_match = (_event_queries, _sequence_queries, _scene_queries, _drive_queries, _half_queries)
    queries = [q for m in matches for build in per_match for q in build(rng, m)]
    queries += _corpus_half_queries(rng, matches) + _video_queries(rng, matches)
    queries = [q for q in queries if q["truth"]]
    for i, q in enumerate(queries):
        q["id"] = f"q{i:05d}"
    return queries
