"""Query understanding: which level a search text asks for, and the phrase to embed.

``parse`` reads a text with word tables and compiled patterns (no model, about 0.1 ms):
- scope: the level the wording names. From the head noun phrase ("a half with…", "the
  last possession of the game"); else from a container ("in the first half", "of the
  match", "before the interval") when a count or an ordinal needs one; else from cues
  with no scope noun: a result or fixture ("a goalless draw", "A hosting B") names a
  match; having the ball plus a length or an end ("keep the ball for a long spell,
  ending…") names a possession. Statements ("A man is seen…") describe a moment: no
  scope. "attack", "move", "set piece", "spell" and "situation" are phases (SCENE) unless
  "of possession"/"on the ball"; "shot" is an event, never a scope. Nouns of a stretch of
  time ("delay", "pause", "stoppage", "routine", …) are phases too.
- ongoing: a participle of play going on ("the hosts keeping the ball"): a stretch, not a moment.
- ordinal: "the second half" orders halves; "the opening goal" orders events, within the
  scope if any. "a second look" is another look, not an ordinal.
- part: an event or a smaller level inside a part of each video named by its position
  ("a goal in the second half", "corners before the interval", "a long possession in
  the first half") asks for the events (or possessions), searched inside that part:
  ``within`` and ``within_position`` name it, and no ordinal is set. A text that names
  nothing but the part ("what happened in the second half") asks for the part itself.
- count: read only where a level above a moment holds what is counted ("Two men are
  playing" is no count): "3 goals", "with one goal" (0 and 1 only after "with", "had" …;
  "player 1" names), ranges ("between 1 and 3", "2 or 3", "2 to 4"); "several" at least 2,
  "many" at least 3; "more"/"most"/"busiest" rank up, "fewer"/"quietest" down.
- event: the text minus words that only carry structure (scope nouns that only name a
  level, with their determiners and linking words: "the first half with", "a match
  where"; ordinals of a level; count words; "find me"; video ids), then minus articles
  and linking words at either end. Scope nouns that also describe play stay ("a long
  home possession"), so do ordinals of events ("opening goal", "closing credits"). If
  nothing is left the event is the whole text and ``fallback`` is set.
- video_ref: an id such as "match-0001" (letters, "-" or "_", 3+ digits), not embedded.
- result: a game result asked of a whole video ("a match the hosts won"; ``hierarchy.results``).
- side: else the one side the text names, home or away ("corner kick for the away side",
  "a long home possession").
- every: the text opens with "every", "each" or "all" ("every goal of match-0001"): all
  the events it names are asked for; the quantifier leaves the event.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from hierarchy import sequence
from hierarchy.parsed import CountPredicate, Ordinal, ParsedQuery
from hierarchy.results import parse_result, parse_side
from hierarchy.types import Level


def _table(spec: str, value: object) -> dict[tuple[str, ...], object]:
    """Phrases separated by "|" mapped to ``value``."""
    return {tuple(p.split()): value for p in spec.split("|")}


def _levels(spec: dict[Level, str], pure: bool) -> dict[str, tuple[Level, bool]]:
    """Each noun of ``spec`` and its plural in "s" mapped to its level and ``pure``."""
    return {w + s: (lv, pure) for lv, words in spec.items() for w in words.split() for s in ("", "s")}


# Pure scope nouns only name a level and leave the event; the others also describe play.
_NOUNS = _levels({Level.SEGMENT: "moment instant clip segment snippet", Level.SCENE: "scene", Level.DRIVE: "chapter",
                  Level.HALF: "half halves period", Level.VIDEO: "match matches game video fixture"}, True) | _levels(
    {Level.SEGMENT: "play", Level.DRIVE: "possession drive",
     Level.SCENE: "sequence passage phase spell attack move situation buildup delay pause stoppage interruption "
                  "stretch flurry bout routine"}, False)  # fmt: skip
_NOUNS["seconds"] = (Level.SEGMENT, True)  # "second" alone is an ordinal
_PAIRS = {("set", "piece"), ("set", "pieces"), ("build", "up")}  # scene nouns of two words
_VERB_FORMS = set("plays moves attacks drives matches halves clips spells".split())  # also verbs: "he plays"
# After a scope noun, a time it names, not the level: "a stoppage-time winner" is a goal.
_A_TIME = {"time", "times"}
_NOT_HALF = set("time times way volley volleys back backs chance chances hour dozen a an the".split())
_ORDINALS = {w: i + 1 for i, w in enumerate("first second third fourth fifth sixth seventh eighth ninth tenth".split())}
_ORDINALS |= {"opening": 1, "last": -1, "final": -1, "closing": -1, "latest": -1, "penultimate": -2}
_ORDINAL_PHRASES = _table("second to last|next to last|second last", -2)
_NTH = re.compile(r"(\d{1,3})(?:st|nd|rd|th)")
_NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
_NUMBERS = {w: i for i, w in enumerate(f"{_NUMBER_WORDS} sixteen seventeen eighteen nineteen twenty".split())}
_ARTICLES = {"a", "an", "the"}
_DETS = _ARTICLES | set("this that these those each every any all which what one either both some".split())
_PLURAL_ONLY = set("these those all both several multiple many".split())
_PLURAL_LEAD = _DETS | _PLURAL_ONLY
_DEFINITE = set("the this that its their his her".split())
_PREPS = set(
    "of in with for by from to at on into onto during after before around against between within over under "
    "without through throughout across near off up down about like towards via until since".split()
)
_RELATIVE = set("that which who whom whose where when while as if because".split())
_CONNECT = _RELATIVE | set("and or but then than so".split())
_AUX = set("is are was were be been being has have had do does did can could will would should may might saw".split())
_VERBISH = set("lose loses lost losing keep keeps kept keeping win wins won winning hold holds held holding".split())
_VERBISH |= set("give gave given giving regain regained surrender surrendered concede conceded retain retained".split())
_BOUNDARY = _PREPS | _CONNECT | _AUX | _VERBISH
_FUNCTION = _BOUNDARY | _DETS
_LINK = _PREPS | _CONNECT | set("has have had saw sees is was featuring containing including".split())
_EDGE = _LINK | _ARTICLES
_NP_LEAD = _DETS | set(_ORDINALS) | set("whole entire full complete single same".split())
_EVERY = {"every", "each", "all"}  # opening a text: all the events it names, in time order
# Words that name no event: a text of these and a part asks for the part itself.
_GENERIC = set("what whatever happened happens happening goes went on everything anything all action play "
               "highlights key moments events the".split())  # fmt: skip
_CONTAINER_PREPS = set("in of during within throughout across from over at before after until since into".split())
_UNITS = set("second seconds sec secs minute minutes min mins hour hours yard yards metre metres meter meters "
             "m km foot feet ft year years percent per".split())  # fmt: skip
_ADJ_END = ("ous", "ful", "ive", "ic", "al", "able", "ible", "ing", "ed", "est", "ent", "ant", "less", "ly")
_IRREGULAR = {"men": "man", "women": "woman", "people": "person", "children": "child", "feet": "foot", "halves": "half"}
# Count words as (lo, hi): at least n + lo, at most n + hi (None: no bound); a number follows _BEFORE_N.
_BEFORE_N = (_table("at least|no fewer than|no less than", (0, None)) | _table("more than|over|above", (1, None))
             | _table("at most|no more than|up to", (None, 0)) | _table("fewer than|less than|under|below", (None, -1))
             | _table("exactly|precisely|only|just", (0, 0)))  # fmt: skip
_AFTER_N = _table("or more|or over|plus", (0, None)) | _table("or fewer|or less", (None, 0))
_VAGUE = _table("multiple|several|a couple of|a couple|a few", 2) | _table(
    "many|numerous|lots of|a lot of|plenty of", 3
)
_RANKED = _table("the most|most|more", 1) | _table("the fewest|fewest|the least|least|fewer|less", -1)
_ZERO = _table("no|zero|without any|without a|without an", 0)
# Superlatives of a level by what it holds: "the busiest half for corners" (most corners).
_BUSY = _table("busiest|most eventful|liveliest|most hectic", 1) | _table("quietest|least eventful|calmest", -1)
_TIMES = {"twice": 2, "thrice": 3}
_NAMED_BY_NUMBER = frozenset({"number", "player", "match", "game", "team", "shirt", "round", "video"})  # "player 1"
_SMALL_COUNT_LEAD = frozenset("with had has have saw featuring containing".split())  # before a count of 0 or 1
_INTERVALS = _table("interval|half time|halftime|break", True)
_ON_BALL = _table("of possession|on the ball|in possession", True)
# First words of every phrase table: most words start no phrase, and this says so at once.
_STARTS = {k[0] for tb in (_ORDINAL_PHRASES, _BEFORE_N, _AFTER_N, _VAGUE, _RANKED, _ZERO, _BUSY, _INTERVALS, _ON_BALL)
           for k in tb}  # fmt: skip

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_REF = re.compile(r"\b[a-z]+(?:[-_][a-z]+)*[-_]\d{3,}\b", re.I)
_LEAD = re.compile(r"^\W*(?:please\s+)?(?:(?:find|show|give|get|fetch|search|look|looking)(?:\s+(?:me|us))?"
                   r"(?:\s+for)?\s+|i\s+want\s+(?:to\s+see\s+)?)?(?:(?:every|any)thing\s+)?", re.I)  # fmt: skip
_RESULT = re.compile(
    r"\b(?:(?:a|an|home|away|narrow|big|comfortable|late|\d+[-–]\d+)\s+win|victory|victories|defeat|"
    r"(?:a|the|goalless|scoreless|score|nil[-\s]nil|\d+[-–]\d+)\s+draw|stalemate|thrashing|clean\s+sheet|scoreline|"
    r"honou?rs\s+even|versus|vs)\b|\bhosting\s+(?-i:[A-Z])", re.I)  # fmt: skip
_HOLD = re.compile(r"\b(?:ha(?:ve|s|d|ving)|keep(?:s|ing)?|kept|hold(?:s|ing)?|held|retain\w*)\s+(?:the\s+ball|"
                   r"possession)\b|\bon\s+the\s+ball\b", re.I)  # fmt: skip
# Words ending in "-ing" that are not a verb's participle.
_NOT_PARTICIPLE = set(
    "thing something nothing anything everything evening morning ceiling building during string "
    "spring opening closing beginning ending wedding pudding meeting clothing lightning".split()
)
_SPAN = re.compile(
    r"\b(?:end(?:s|ed|ing)?\s+(?:in|with)|until|briefly|for\s+an?\s+(?:\w+\s+)?(?:spell|while|time))\b", re.I
)


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    level: Level
    pure: bool


class _Tokens:
    """Words of the text (lower-cased), their spans, and which of them leave the event."""

    def __init__(self, text: str) -> None:
        found = list(_WORD.finditer(text))
        self.text, self.words = text, [m.group().lower() for m in found]
        self.spans, self.drop = [m.span() for m in found], [False] * len(found)

    def word(self, i: int) -> str:
        return self.words[i] if 0 <= i < len(self.words) else ""

    def gap(self, i: int) -> str:
        """The characters between word ``i - 1`` and word ``i``."""
        return self.text[self.spans[i - 1][1] : self.spans[i][0]] if 0 < i < len(self.words) else " "

    def match(self, i: int, table: dict) -> tuple[tuple[str, ...], int] | None:
        """The longest phrase of ``table`` at word ``i`` (not across a comma), and the index after it."""
        if self.word(i) not in _STARTS:
            return None
        for size in (3, 2, 1):
            key = tuple(self.words[i : i + size])
            if len(key) == size and key in table and "," not in "".join(map(self.gap, range(i + 1, i + size))):
                return key, i + size
        return None

    def cut(self, i: int, j: int) -> None:
        self.drop[i:j] = [True] * max(0, j - i)

    def kept_before(self, i: int) -> bool:
        return any(not self.drop[j] and self.words[j] not in _FUNCTION for j in range(i))


def _number(word: str) -> int | None:
    return int(word) if word.isdecimal() and len(word) < 7 else _NUMBERS.get(word)


def _count_number(t: _Tokens, i: int) -> int | None:
    """The whole number word ``i`` is, as a count: not the digits of a negative number
    ("at least -3" was a count of 3) nor either side of a decimal point ("3.5 corners"
    counted 5, and left "3" in the event)."""
    return None if _signed(t, i) or "." in {t.gap(i), t.gap(i + 1)} else _number(t.word(i))


def _signed(t: _Tokens, i: int) -> bool:
    """Whether word ``i`` follows a minus sign of its own (" -3", not "2-1" nor "one-two")."""
    if not 0 <= i < len(t.words):
        return False
    before = t.text[t.spans[i - 1][1] if i else 0 : t.spans[i][0]]
    return before.endswith(("-", "\u2212")) and (len(before) > 1 or i == 0) and not before[:-1].strip(" \t")


def _ordinal_at(t: _Tokens, i: int) -> tuple[int, int] | None:
    """The position an ordinal at word ``i`` names, and the index after it."""
    if hit := t.match(i, _ORDINAL_PHRASES):
        return -2, hit[1]
    if (w := t.word(i)) in _ORDINALS:
        return _ORDINALS[w], i + 1
    return (int(m.group(1)), i + 1) if (m := _NTH.fullmatch(w)) and int(m.group(1)) and not _signed(t, i) else None


def _mention_at(t: _Tokens, i: int, start: int) -> _Mention | None:
    """A scope noun at word ``i`` used as one: not a verb ("plays the drums"), not a mass noun."""
    w, nxt, prev = t.word(i), t.word(i + 1), t.word(i - 1)
    if w == "second" and (_number(prev) is not None or prev == "split"):
        return _Mention(i, i + 1, Level.SEGMENT, True)  # "a 30-second clip"
    if pair := (w, nxt) in _PAIRS:
        level, pure, plural = Level.SCENE, False, nxt.endswith("s")
    elif w in _NOUNS and not (w == "half" and nxt in _NOT_HALF) and nxt not in _A_TIME:
        (level, pure), plural = _NOUNS[w], w.endswith("s")
    else:
        return None
    if w in _VERB_FORMS and i > start and prev not in _PLURAL_LEAD and _number(prev) is None:
        return None  # "a girl plays hopscotch", "a truck drives past"
    if w.startswith("period") and nxt == "of":
        level, pure = Level.SCENE, False  # "a period of pressure"
    elif w.startswith("spell") and t.match(i + 1, _ON_BALL):
        level = Level.DRIVE
    lead_plural = plural and i == start  # "possessions that end in a goal"
    ok = pure or lead_plural or _has_det(t, i, start, plural)
    return _Mention(i, i + 1 + pair, level, pure) if ok else None


def _has_det(t: _Tokens, i: int, start: int, plural: bool) -> bool:
    """Whether the noun phrase ending at word ``i`` opens with a determiner, ordinal or number that fits it."""
    for j in range(i - 1, max(start, i - 4) - 1, -1):
        if (n := _number(w := t.words[j])) is not None:
            return plural or n == 1  # "Two men play squash": "play" is a verb there
        if w in _DETS or w in _ORDINALS:
            return plural or w not in _PLURAL_ONLY
        if w in _BOUNDARY or "," in t.gap(j + 1):
            return False
    return False


def _head(t: _Tokens, start: int, mentions: list[_Mention]) -> _Mention | None:
    """The scope noun of the first noun phrase, unless it is the subject of a verb."""
    j = start
    while j < len(t.words) and not (j > start and (t.words[j] in _ARTICLES or "," in t.gap(j))):
        if t.words[j] in _BOUNDARY and not (j == start and t.words[j] in _DETS):
            break
        j += 1
    head = next((m for m in mentions if m.start < j), None)
    if head is None or t.word(start) in {"which", "what"}:
        return head
    k = head.end
    while t.word(k).endswith("ly") or t.word(k) in {"then", "also", "now", "again", "still"}:
        k += 1
    nxt = t.word(k)  # "The video finally begins…" describes a moment
    return None if nxt in _AUX or (nxt.endswith("s") and not nxt.endswith("ss") and len(nxt) > 3) else head


def _container(t: _Tokens, m: _Mention) -> bool:
    """Whether ``m`` closes a phrase such as "in the first half" or "of this match"."""
    j = m.start - 1
    while t.word(j) in _NP_LEAD - _DETS or _NTH.fullmatch(t.word(j)):  # "the second half", "the 2nd half"
        j -= 1
    return t.word(j) in _DETS and t.word(j - 1) in _CONTAINER_PREPS


def _is_sentence(t: _Tokens, start: int) -> bool:
    """A statement ("A man is seen…") describes a moment rather than naming a level."""
    for w in t.words[start:]:
        if w in _RELATIVE or w in {"is", "are", "was", "were"}:
            return w not in _RELATIVE
    return False


def _interval(t: _Tokens) -> tuple[int | None, int, int] | None:
    """ "before/after the interval" and the like: the half it names, and its words."""
    for i, w in enumerate(t.words):
        if w in {"before", "until", "after", "since", "at"}:
            hit = t.match(i + 2 if t.word(i + 1) == "the" else i + 1, _INTERVALS)
            if hit and not (w == "at" and hit[0] == ("break",)):
                return {"at": None, "before": 1, "until": 1}.get(w, 2), i, hit[1]
    return None


def _find_ordinal(t: _Tokens, start: int, mentions: list[_Mention], events_before: int) -> tuple[Ordinal, int] | None:
    """The first ordinal that orders a level or, after "the" and before ``events_before``, events."""
    nouns = {m.start for m in mentions}
    for i in range(start, len(t.words)):
        if i in nouns or not (hit := _ordinal_at(t, i)):
            continue  # "a 30-second clip": that "second" is a unit
        pos, end = hit
        nxt = t.word(end)
        if not nxt or nxt in _FUNCTION or nxt in _ORDINALS or _number(nxt) is not None or "," in t.gap(end):
            continue  # "the last third", "first, a man…"
        target = next((m for m in mentions if end <= m.start < end + 3), None)
        if target and not any(w in _BOUNDARY for w in t.words[end : target.start]):
            t.cut(i, end)
            return Ordinal(pos, target.level, False), i
        if i < events_before and (i == start or t.word(i - 1) in _DEFINITE):
            return Ordinal(pos, None, True), i  # kept in the event: "the closing credits"
    return None


def _find_count(t: _Tokens, start: int, mentions: list[_Mention]) -> tuple[CountPredicate, str] | None:
    """The first count predicate and the phrase it counts (singular); its words leave the event."""
    nouns = {m.start for m in mentions}
    for i in range(start, len(t.words)):
        if (found := _count_at(t, i)) is None:
            continue
        count, end = found
        if t.words[i] in _TIMES:  # "scored twice" counts the word before
            counted = [] if i == start or t.word(i - 1) in _FUNCTION else [t.words[i - 1]]
        elif t.match(i, _BUSY):  # "the busiest half for corners": what follows the level and "for"
            after = next((m.end for m in mentions if m.start == end), end)
            counted = _counted(t, after + 1, nouns) if t.word(after) in {"for", "with"} else []
        else:
            counted = _counted(t, end, nouns)
        if not counted or count.superlative and counted[0].endswith(_ADJ_END):
            continue  # "the most exciting match" ranks by an adjective, not a count
        if count.max_count == 0 and not counted[0].endswith("s") and t.words[end - 1] not in {"a", "an"}:
            continue  # "no description"; but "a half without a booking" counts none
        t.cut(i, end)
        return count, " ".join([*counted[:-1], singular(counted[-1])])
    return None


def _bounded(n: int, lo: int | None, hi: int | None) -> CountPredicate:
    low, high = 0 if lo is None else n + lo, None if hi is None else n + hi
    return CountPredicate(max(low, 0), exact=low == high, max_count=high)


def _count_at(t: _Tokens, i: int) -> tuple[CountPredicate, int] | None:
    """A count whose words start at word ``i``, and the index after its words."""
    if hit := t.match(i, _BEFORE_N):
        n = _count_number(t, hit[1])
        return None if n is None else (_bounded(n, *_BEFORE_N[hit[0]]), hit[1] + 1)
    if found := _range_at(t, i):
        return found
    if t.word(i).isdecimal() and t.word(i - 1) in {"and", "or", "to"} and t.word(i - 2).isdecimal():
        return None  # the end of a range that is none ("between -2 and 3"): not a count of its own
    if (n := _count_number(t, i)) is not None and (n > 1 or t.word(i - 1) in _SMALL_COUNT_LEAD):
        if t.gap(i + 1).lstrip().startswith("+"):  # "3+ goals"
            return _bounded(n, 0, None), i + 1
        if after := t.match(i + 1, _AFTER_N):
            return _bounded(n, *_AFTER_N[after[0]]), after[1]
        joined = {t.gap(i).strip(), t.gap(i + 1).strip()} & {"-", "–", ":"} or t.word(i + 1) in {"v", "vs", "on"}
        if t.word(i + 1) in _UNITS or t.word(i - 1) in _NAMED_BY_NUMBER or joined:
            return None  # "90 minutes", "number 10", "a 2-1 win", "1 v 1 duels"
        return _bounded(n, 0, 0), i + 1
    if hit := t.match(i, _VAGUE):
        return CountPredicate(_VAGUE[hit[0]]), hit[1]
    if hit := t.match(i, _BUSY) or (t.match(i, _RANKED) if t.word(i - 1) != "at" else None):
        up = {**_RANKED, **_BUSY}[hit[0]] > 0  # "at least" without a number is no count
        return CountPredicate(int(up), superlative=True, direction=1 if up else -1), hit[1]
    if hit := t.match(i, _ZERO):
        return _bounded(0, 0, 0), hit[1]
    return (_bounded(_TIMES[t.words[i]], 0, 0), i + 1) if t.word(i) in _TIMES else None


def _range_at(t: _Tokens, i: int) -> tuple[CountPredicate, int] | None:
    """ "between 1 and 3", "2 or 3", "2 to 4": a count in a range, and the index after it."""
    lead = 1 if t.word(i) == "between" else 0
    lo, hi = _count_number(t, i + lead), _count_number(t, i + lead + 2)
    if lo is None or hi is None or t.word(i + lead + 1) not in ({"and"} if lead else {"or", "to"}):
        return None
    return CountPredicate(min(lo, hi), exact=lo == hi, max_count=max(lo, hi)), i + lead + 3


def _counted(t: _Tokens, i: int, nouns: set[int]) -> list[str]:
    """Up to three words from ``i`` naming what is counted; empty when they name a level or unit."""
    words: list[str] = []
    for j in range(i, min(i + 3, len(t.words))):
        if (w := t.words[j]) in _FUNCTION or j in nouns or words and "," in t.gap(j) or _number(w) is not None:
            break
        words.append(w)
    return [] if i in nouns or t.word(i) in _UNITS else words


def singular(word: str) -> str:
    """Strip an English plural where that is easy: turnovers -> turnover, penalties -> penalty."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zzes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3 else word


def _drop_structure(t: _Tokens, m: _Mention) -> None:
    """Take a pure scope noun, its determiners and its linking word out of the event."""
    t.cut(m.start, m.end)
    j = m.start - 1
    while j >= 0 and (t.words[j] in _NP_LEAD or _number(t.words[j]) is not None):
        t.drop[j], j = True, j - 1
    if j >= 0 and t.words[j] in _PREPS and t.kept_before(j):
        t.drop[j] = True  # "fouls in the first half": the preposition goes with its noun
        return
    k = m.end
    # "a half in which …", "a match with …"; not the "at" of an "at least N" left whole
    while k < len(t.words) and t.words[k] in _LINK and not _count_words(t, k):
        t.drop[k], k = True, k + 1


def _event(t: _Tokens) -> str:
    """The words left, in order, with the text between neighbours kept; ends trimmed."""
    keep = [i for i, d in enumerate(t.drop) if not d]
    # A count with no level to count in ("at least 2 goals") stays whole: not "least 2 goals".
    while keep and t.words[keep[0]] in _EDGE and not _count_words(t, keep[0]):
        keep.pop(0)
    # "kick-off", "throw-in": a link word hyphened to the word before is part of it.
    while keep and t.words[keep[-1]] in _EDGE and not (len(keep) > 1 and _hyphened(t, keep[-2], keep[-1])):
        keep.pop()
    parts = [_lead(t, i, bool(n) and keep[n - 1] == i - 1) + t.text[slice(*t.spans[i])] for n, i in enumerate(keep)]
    return " ".join("".join(parts).split())


def _hyphened(t: _Tokens, before: int, i: int) -> bool:
    """Whether word ``i`` is joined to word ``before`` (the one before it) by a hyphen."""
    return before == i - 1 and t.gap(i) in ("-", "\u2010", "\u2011")


def _lead(t: _Tokens, i: int, joined: bool) -> str:
    """What goes before word ``i`` in the event: the text from the word before when both
    are kept, else a space (and the minus sign of a negative number: "-3", not "3")."""
    return t.gap(i) if joined else " -" if _signed(t, i) else " "


def _count_words(t: _Tokens, i: int) -> bool:
    """Whether "at least N" (or the like) starts at word ``i``: N any number, one too large
    or too odd to be counted too ("at least 99999999999999999999 corners" lost its "at")."""
    hit = t.match(i, _BEFORE_N)
    return hit is not None and (_number(t.word(hit[1])) is not None or t.word(hit[1]).isdecimal())


def _cue(t: _Tokens) -> Level | None:
    """A level named without a scope noun: a result or fixture, or one whole possession."""
    if _RESULT.search(t.text):
        return Level.VIDEO
    return Level.DRIVE if _HOLD.search(t.text) and _SPAN.search(t.text) else None


def _ongoing(t: _Tokens, start: int) -> str:
    """A participle that describes play going on ("the hosts keeping the ball", "a man is
    seen speaking"), or "": one moment is one action, a stretch of play is an activity.
    A participle after a determiner is an adjective ("a sliding tackle", "the winning goal")."""
    for i in range(start, len(t.words)):
        w = t.words[i]
        if len(w) >= 6 and w.endswith("ing") and w not in _NOT_PARTICIPLE and t.word(i - 1) not in _DETS:
            return w
    return ""


@functools.lru_cache(maxsize=2048)
def parse(text: str) -> ParsedQuery:
    """Scope, ordinal, count and event phrase of a search text; never raises. Parses
    are immutable and remembered: every page of a search, and a text query's embedding
    (``hierarchy.searcher``) and routing, read the same one."""
    if not text.strip():
        return ParsedQuery(text=text)
    t = _Tokens(text)
    lead = m.end() if (m := _LEAD.match(text)) else 0
    start = next((i for i, (s, _) in enumerate(t.spans) if s >= lead), len(t.words))
    t.cut(0, start)
    refs = list(_REF.finditer(text))
    for r in refs:  # "match-0001" names a video; it has no meaning to embed
        t.drop = [d or r.start() <= s and e <= r.end() for d, (s, e) in zip(t.drop, t.spans, strict=True)]
    mentions = [m for i in range(start, len(t.words)) if not t.drop[i] and (m := _mention_at(t, i, start))]
    return _resolve(t, start, mentions, refs[0].group() if refs else None)


def _every(t: _Tokens, start: int) -> bool:
    """Whether the text opens with "every", "each" or "all (of) (the)"; those words leave
    the event ("every goal of match-0001": goals)."""
    first, nxt = t.word(start), t.word(start + 1)
    if first not in _EVERY or first == "all" and not (nxt in {"of", "the"} or _plural_noun_at(t, start + 1)):
        return False  # "all-out attack"
    end = start + 1
    while t.word(end) in {"of", "the"}:
        end += 1
    t.cut(start, end)
    return True


def _plural_noun_at(t: _Tokens, start: int) -> bool:
    """Whether the words from ``start`` to the next function word (at most four) hold a
    plural: "all corner kicks after the break", not "all out attack"."""
    end = start
    while end < start + 4 and (word := t.word(end)) and word not in _FUNCTION:
        if singular(word) != word:
            return True
        end += 1
    return False


def _confines(head: _Mention | None, counted: object, within: Level | None, ordinal: Ordinal, event: str) -> bool:
    """Whether an ordinal only says which part of each video to search: it orders the
    container, nothing is counted, and what is asked for is smaller than the container:
    the head's level ("a long possession in the second half") or, with no head, an event
    ("a goal in the second half"; not "what happened in the second half")."""
    if counted or within is None or within >= Level.VIDEO or ordinal.event_ordered or ordinal.of is not within:
        return False
    if head is not None:
        return head.level < within
    return bool(event) and not set(event.lower().split()) <= _GENERIC


def without_ordinals(phrase: str) -> str:
    """``phrase`` without the words that order events ("opening goal" -> "goal", "second
    to last corner" -> "corner"): what is ordered, to match labels and to embed."""
    words = phrase.split()
    lower = [w.lower() for w in words]
    drop = [w in _ORDINALS or bool(_NTH.fullmatch(w)) for w in lower]
    for size in (3, 2):  # "second to last", "second last"
        for i in range(len(words) - size + 1):
            if tuple(lower[i : i + size]) in _ORDINAL_PHRASES:
                drop[i : i + size] = [True] * size
    return " ".join(w for w, d in zip(words, drop, strict=True) if not d)


def _resolve(t: _Tokens, start: int, mentions: list[_Mention], ref: str | None) -> ParsedQuery:
    """Combine the clues: which level is asked for, what orders and counts it, what is left."""
    sentence = _is_sentence(t, start)
    head = None if sentence else _head(t, start, mentions)
    boxes = [m for m in mentions if m is not head and _container(t, m)]
    interval = _interval(t)
    within = boxes[0].level if boxes else Level.HALF if interval else None
    cue = None if sentence else _cue(t)
    context = [lv for lv in (head and head.level, within, cue) if lv and lv > Level.SEGMENT]
    counted = _find_count(t, start, mentions) if context and not sentence else None
    # Events are ordered only in a query's opening words or when a level holds them:
    # "the opening goal", "a match where the first goal came late"; not "he shows the final product".
    events_before = -1 if sentence else len(t.words) if context else start + 2
    ordinal = _find_ordinal(t, start, mentions, events_before)
    within_position = 0  # "the first possession of the second half": the second orders halves
    if ordinal is not None and within is not None:
        later = _find_ordinal(t, ordinal[1] + 1, mentions, -1)
        within_position = later[0].position if later is not None and later[0].of is within else 0
    if interval and interval[0] and (ordinal is None or interval[1] < ordinal[1]):
        ordinal = (Ordinal(interval[0], Level.HALF, False), interval[1])
    elif interval and interval[0] and not within_position:  # "the first corner after the interval"
        within_position = interval[0]
    if interval:
        t.cut(interval[1], interval[2])
    for m in [m for m in [head, *boxes] if m and m.pure]:
        _drop_structure(t, m)
    every = not sentence and _every(t, start)
    event = _event(t)
    if ordinal and _confines(head, counted, within, ordinal[0], event):  # "a goal in the second half"
        within_position, ordinal = ordinal[0].position, None
    scope = head.level if head else within if within and (counted or ordinal) else cue
    found = ordinal[0] if ordinal else None
    if found and found.event_ordered:
        found = Ordinal(found.position, scope, True)
    return ParsedQuery(text=t.text, scope=scope, ordinal=found, count=counted[0] if counted else None,
                       event=event or " ".join(t.text.split()), count_event=counted[1] if counted else "",
                       within=within, within_position=within_position, video_ref=ref, fallback=not event,
                       ongoing=_ongoing(t, start),
                       result=(result := parse_result(t.text) if scope is Level.VIDEO else None),
                       side="" if result else parse_side(t.text), every=every,
                       # Two events in order, in a plain moment query: "a cross then a header".
                       sequence=sequence.of(t.text, event) if event and scope in (None, Level.SEGMENT)
                       and not (counted or found or every) else ())  # fmt: skip
