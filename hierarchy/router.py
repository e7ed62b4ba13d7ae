"""Routing: answer a query at the granularity that fits it, and say why.

Signals, in order of precedence:

1. Structure in the wording (``hierarchy.query``): a scope word names the level; a count
   ("multiple turnovers") ranks nodes of the scope (a half by default) by how many of
   their segments match the counted event; an ordinal picks the n-th node of its level
   in each video ("the second half"), or the n-th matching event ("the opening goal").
2. Calibrated evidence and aspect: without structure, every level is searched and each
   level's best calibrated score (``hierarchy.calibrate``) is compared after discounting
   the extreme value that chance alone gives a level of that size (``sqrt(2 ln n)``);
   the level with the most surprising best match answers, after a prior for the level
   that is the natural unit of the answer (``UNIT_PRIOR``):
   - a participle of play going on ("the hosts keeping the ball", "a man is seen
     speaking") describes a stretch of play: the scene;
   - bottom-up evidence: when most segments of the best moment's scene match about as
     well as it does (``MERGE_SHARE`` of them within ``MERGE_MARGIN``), the moment is
     not distinct from its scene, and the scene is the unit (auto-merging);
   - otherwise the query names something that happens and the best moment stands alone
     in its scene: the segment.
   The same evidence one level up: when an unscoped query goes to scenes and most of the
   best scene's drive matches about as well (``PROMOTE_SHARE`` of its scenes within
   ``MERGE_MARGIN``), the drive answers (a long event is not one of its scenes).

The prior was set on the retrieval evaluation (``tools.evaluate.retrieval``). On
synthetic soccer the surprise difference between the two levels hardly tells a moment
query from a scene query (seeds 3, 11, 20), and a moment query's best segment stands
alone (a median 15 % of its scene within the margin). On ActivityNet Captions, whose
2-second segments carry the captions of the events around them, every sentence's best
segment has its whole scene within the margin, and the scene answers. Promotion to the
drive was set on the same evaluation: on 200 ActivityNet videos it raised AUTO's
in-video R1@.5 from 0.269 to 0.287 (the drive level alone 0.284) at a share of 0.65
(0.288 at 0.5, 0.280 at 0.8); on soccer (seeds 3, 11, 20, 40) no query moved at 0.65,
while 0.5 sent 7 of them to drives (routing 0.938 -> 0.928).

Counting prefers labels: when the counted event names a label of the collection ("a
corner" -> ``corner kick``), the stored label counts of each node are exact. Otherwise a
segment matches the event when its calibrated score passes ``MATCH_Z``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from hierarchy.calibrate import LevelMoments
from hierarchy.query import ParsedQuery
from hierarchy.types import Level

MATCH_Z = 3.0
UNIT_PRIOR = 2.0  # added to the surprise of the unit level (segment or scene) of an unscoped query
MERGE_SHARE = 0.5  # share of the best moment's scene matching about as well: the scene is the unit
MERGE_MARGIN = 0.5  # "about as well": within this many calibrated units of the best moment
PROMOTE_SHARE = 0.65  # share of the best scene's drive matching about as well: the drive answers
BUILT = (Level.SEGMENT, Level.SCENE, Level.DRIVE, Level.HALF, Level.VIDEO)
# Without words that name a larger span, a query describes something that happens: a
# moment or a scene. Drives, halves and whole videos are answers to structured queries.
UNSCOPED = (Level.SEGMENT, Level.SCENE)


@dataclass(frozen=True)
class Pool:
    """One level's candidates: keys, raw similarities and calibrated scores, best first.
    ``scored``: when they are the best of every node of the level in the videos the search
    was confined to (a filter on videos alone), each scored exactly, the keys of those
    nodes held when they were scored (in key order): one of them still held that the pool
    does not hold scores at most its last. None otherwise."""

    level: Level
    keys: np.ndarray
    similarities: np.ndarray
    scores: np.ndarray
    size: int
    scored: np.ndarray | None = None

    @property
    def surprise(self) -> float:
        """The best calibrated score less what chance gives a level of this size."""
        if len(self.scores) == 0:
            return -math.inf
        return float(self.scores[0]) - math.sqrt(2.0 * math.log(max(self.size, 2)))


def pool(
    level: Level,
    keys: np.ndarray,
    sims: np.ndarray,
    moments: LevelMoments,
    vector: np.ndarray,
    scored: np.ndarray | None = None,
) -> Pool:
    """Candidates of one level with their calibrated scores."""
    return Pool(level, keys, sims, moments.z(vector, sims), moments.count, scored)


def confidences(
    pools: list[Pool], sharpness: float = 2.0, prior: dict[Level, float] | None = None
) -> dict[Level, float]:
    """A softmax over the levels' surprises (plus ``prior``): how much each level looks like the answer."""
    live = [p for p in pools if len(p.keys)]
    if not live:
        return {}
    prior = prior or {}
    values = np.array([p.surprise + prior.get(p.level, 0.0) for p in live]) * sharpness
    weights = np.exp(values - values.max())
    weights /= weights.sum()
    return {p.level: float(w) for p, w in zip(live, weights, strict=True)}


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` of three words or more, stripped, in order."""
    return [s.strip() for s in re.split(r"[.!?]+", text) if len(s.split()) >= 3]


def is_paragraph(text: str) -> bool:
    """Two or more sentences of several words: a description of a whole video."""
    return len(sentences(text)) >= 2


def parts(parsed: ParsedQuery) -> tuple[str, ...]:
    """The parts of a query text that a routed search embeds on their own, in order: the
    sentences of a description in several sentences (each one's best scene in a video adds
    to the video's score), the two events of a sequence the wording does not scope ("a
    foul then a replay": pairs of moments), or the event a count counts ("a half with
    three corners": where no label names it, segments that match it are counted); () for
    any other text. A client that embeds with its own model sends a vector for each
    (``SearchQuery.part_vectors``), and the search then runs no text encoder."""
    if is_paragraph(parsed.text):
        return tuple(sentences(parsed.text))
    if len(parsed.sequence) == 2 and structured_level(parsed) is None:
        return parsed.sequence
    if parsed.count is not None and parsed.count_event:
        return (parsed.count_event,)
    return ()


def structured_level(parsed: ParsedQuery) -> Level | None:
    """The level the wording asks for, if any (scope, the level an ordinal orders, a half
    for a count without a scope, the video for a multi-sentence description)."""
    if parsed.scope is not None:
        return parsed.scope
    if is_paragraph(parsed.text):
        return Level.VIDEO
    if parsed.ordinal is not None and parsed.ordinal.of is not None and not parsed.ordinal.event_ordered:
        return parsed.ordinal.of
    if parsed.count is not None:
        return Level.HALF
    return None


def settled(level: Level, levels: list[Level]) -> dict[Level, float]:
    """The confidences of an answer whose level the query settles (its wording, an event
    ordinal, a sequence): 0.9 for ``level``, the rest shared by the other ``levels``."""
    levels = levels if level in levels else [level, *levels]
    return (
        {other: (0.9 if other is level else 0.1 / (len(levels) - 1)) for other in levels}
        if len(levels) > 1
        else {level: 1.0}
    )


def pick_level(
    parsed: ParsedQuery,
    pools: list[Pool],
    merge_share: float = 0.0,
    present: list[Level] | None = None,
    unheld: str = "nothing passes the filter",
) -> tuple[Level, dict[Level, float], str]:
    """The answering level, the confidence per level, and a one-line reason. ``merge_share``
    is the share of the best moment's scene that matches about as well as it does;
    ``present``: the levels that hold nodes (default: those with candidates); ``unheld``:
    why no level has a candidate while some hold nodes."""
    wanted = structured_level(parsed)
    if wanted is not None:
        levels = present if present is not None else [p.level for p in pools if len(p.keys)]
        return wanted, settled(wanted, levels), _structure_reason(parsed, wanted)
    unit, why = _unit(parsed, merge_share)
    if present is not None and Level.SCENE not in present and unit is Level.SEGMENT:
        why = "no scenes yet (no tree is built): a moment"
    conf = confidences([p for p in pools if p.level in UNSCOPED], prior={unit: UNIT_PRIOR})
    if not conf:  # no candidate at any level: none held, or none the search may answer with
        held = unheld if present else "nothing is indexed yet"
        return Level.SEGMENT, {}, f"{held}; answering with segments"
    best = max(conf, key=lambda level: conf[level])
    runner = sorted(conf.values(), reverse=True)[1] if len(conf) > 1 else 0.0
    outcome = "" if best is unit else f"; but the {best.label} level's match stands out further"
    reason = f"no scope words; {why}{outcome} (confidence {conf[best]:.2f}, next {runner:.2f})"
    return best, conf, reason


def _unit(parsed: ParsedQuery, merge_share: float) -> tuple[Level, str]:
    """The level an unscoped query's answer is naturally made of, and why."""
    if parsed.ongoing:
        return Level.SCENE, f"'{parsed.ongoing}' describes play going on: a scene"
    if merge_share >= MERGE_SHARE:
        return Level.SCENE, f"{merge_share:.0%} of the best moment's scene matches as well: the scene"
    return Level.SEGMENT, "the best moment stands out in its scene: a moment"


def _structure_reason(parsed: ParsedQuery, level: Level) -> str:
    parts = []
    if parsed.scope is not None:
        parts.append(f"the query names a {level.label}")
    if parsed.ordinal is not None:
        box = parsed.within
        inside = f" in {box.label} {parsed.within_position}" if box and parsed.within_position else ""
        parts.append(f"ordinal {parsed.ordinal.position}{inside}")
    if parsed.count is not None:
        ordinal = parsed.ordinal
        part = ordinal.of if ordinal and not ordinal.event_ordered and ordinal.of and ordinal.of < level else None
        per = f"in {part.label} {ordinal.position} of each {level.label}" if part and ordinal else f"per {level.label}"
        parts.append(f"{parsed.count.describe()} '{parsed.count_event}' counted {per}")
    if not parts and is_paragraph(parsed.text):
        parts.append("a description in several sentences reads as a whole video")
    return "; ".join(parts) or f"answering with {level.label}s"


def count_score(counts: np.ndarray, parsed: ParsedQuery) -> np.ndarray:
    """Rank value of each node's count under the query's count predicate (higher is better)."""
    pred = parsed.count
    if pred is None:
        return np.zeros(len(counts))
    if pred.superlative:
        return counts * float(pred.direction or 1)
    low = pred.min_count
    high = pred.max_count if pred.max_count is not None else (low if pred.exact else math.inf)
    holds = (counts >= low) & (counts <= high)
    if math.isinf(high):
        # At least n: nodes that hold it first; among them, more evidence first.
        return holds * 1000.0 + np.minimum(counts, 999)
    # Exactly n, at most n: nodes that hold it first; the rest by how far they miss it
    # ("a half without a booking": one booking before six).
    missed = np.maximum(low - counts, 0) + np.maximum(counts - high, 0)
    return holds * 1000.0 - np.minimum(missed, 999)


def position_mask(ordinals: np.ndarray, totals: np.ndarray, position: int) -> np.ndarray:
    """Which nodes sit at ``position`` (1-based; negative from the end) among their level."""
    target = np.where(position > 0, position - 1, totals + position)
    return ordinals == target
