"""Execute routed (AUTO) and mixed (ALL) searches: candidates at every level, routing,
counting and ordinals. Returns a ranked list of (key, level, score,
similarity) and the route; the facade pages it and attaches nodes and evidence."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import duckdb
import numpy as np

from hierarchy import deadlines, nodes, results, router, search
from hierarchy.calibrate import LevelMoments
from hierarchy.index import LevelIndex
from hierarchy.query import ParsedQuery, parse, without_ordinals
from hierarchy.router import Pool
from hierarchy.spans import LevelSpans
from hierarchy.types import Filter, Level, Mode, Node, Route, SearchQuery

POOL = 100
SENTENCE_POOL = 200
COUNT_POOL = 2000
LEVEL_SCAN = 20_000
RESULT_BONUS = 100.0  # calibrated scores span a few units: videos holding a result rank first
SIDE_BONUS = 100.0  # and answers of the side a query names (the other side's last)


@dataclass(frozen=True)
class Ranked:
    """One ranked answer before paging."""

    key: int
    level: Level
    score: float
    similarity: float


@dataclass
class Context:
    """What a routed search needs from the database."""

    cur: duckdb.DuckDBPyConnection
    cid: int
    index: Callable[[Level], LevelIndex]
    moments: Callable[[Level], LevelMoments]
    encode: Callable[[str], np.ndarray] | None
    labels: Callable[[], list[str]]
    exact_filter_below: int
    spans: Callable[[Level], LevelSpans] | None = None  # in-memory spans, for video and time filters
    fetch: Callable[[list[int]], dict[int, Node]] | None = None  # nodes by key (cached); None: the store
    deadline: float | None = None  # time.monotonic(); checked before each candidate pool
    # Which candidate keys of a level a later page may see (written by its first page's
    # commit); None: all. Routing then reads the library as the first page did.
    visible: Callable[[Level, np.ndarray], np.ndarray] | None = None
    # More keys of a level to score exactly beside an unfiltered search's graph answers
    # (the children of the best parents: hierarchy.search), given the parents already found
    # best first, if any; None for a level searched by its graph alone.
    narrow: Callable[[Level, np.ndarray | None], Callable[[np.ndarray], np.ndarray] | None] | None = None
    # Several texts embedded in one pass (a paragraph's sentences); None: one by one.
    encode_many: Callable[[list[str]], np.ndarray] | None = None
    # Attributes of nodes by key, without building the nodes; None: from ``fetch``.
    attributes: Callable[[list[int]], dict[int, dict[str, Any]]] | None = None
    # (video, start, attributes) of the segments carrying any of some labels (cached by
    # the caller until the next write); None: the store is asked each time.
    labelled: Callable[[list[str]], list[tuple[str, int, dict[str, Any]]]] | None = None
    # The part of each video the query confines the search to, (level, position): "a goal
    # in the second half" -> (HALF, 2); set from the parse.
    part: tuple[Level, int] | None = None


def execute(
    ctx: Context, query: SearchQuery, vector: np.ndarray, wanted: int
) -> tuple[list[Ranked], Route, np.ndarray]:
    """The ranked answers of an AUTO or ALL query, its route, and the vector that scored."""
    parsed = parse(query.text)
    query, named = _in_named_video(ctx, query, parsed)
    if parsed.part is not None and ctx.spans is not None:
        ctx = replace(ctx, part=parsed.part)
        named += f"; inside {parsed.part[0].label} {parsed.part[1]} of each video, as the query says"
    event = _event_vector(ctx, query, parsed, vector)
    size = max(POOL, wanted)
    if query.mode is Mode.ALL:
        pools = _pools(ctx, router.BUILT, query.filter, event, size)
        reason = "every level in one list, by calibrated score" + named
        return _mixed(pools), Route(tuple(p.level for p in pools), reason, router.confidences(pools), parsed), event
    # Only the levels routing can pick are searched: the one the wording names, or else a
    # moment or a scene (router.UNSCOPED).
    structured = router.structured_level(parsed)
    pools = _pools(ctx, router.UNSCOPED if structured is None else (structured,), query.filter, event, size)
    share = _merge_share(ctx, pools, event) if structured is None else 0.0
    present = [level for level in router.BUILT if len(ctx.index(level))]
    level, conf, reason = router.pick_level(parsed, pools, share, present)
    if structured is None and level is Level.SCENE:
        level, reason = _promoted(ctx, query, pools, event, size, reason)
    ranked = _at_level(ctx, query, parsed, level, event, pools)
    if parsed.side and level in (Level.SEGMENT, Level.SCENE, Level.DRIVE):
        head, note = _by_side(ctx, parsed.side, ranked[:size])
        ranked, reason = head + ranked[size:], reason + note
    if level is Level.VIDEO and parsed.result is not None:
        ranked, note = _by_result(ctx, parsed.result, ranked)
        reason += note
    if level is Level.VIDEO and ctx.encode is not None and router.is_paragraph(query.text):
        ranked = _by_sentence_evidence(ctx, query, ranked)
        reason += "; each sentence's best scene in a video adds to its score"
    elif level in (Level.HALF, Level.VIDEO) and parsed.count is None and parsed.ordinal is None:
        # A half or a whole match is an average of everything in it; what sets one apart
        # ("a late winner", "a half in which City found the net") is a scene. Bottom-up
        # evidence: its best scene adds to its score. Only the best ``size`` are weighed
        # (all videos are ranked when a result is read).
        ranked = _by_scene_evidence(ctx, query, ranked[:size], [event]) + ranked[size:]
        reason += f"; a {level.label}'s best scene adds to its score"
    if parsed.ordinal is not None and parsed.ordinal.event_ordered:
        level, ranked, reason = Level.SEGMENT, _nth_event(ctx, query, parsed, event), _event_reason(parsed)
    return ranked, Route((level,), reason + named, conf, parsed), event


def _in_named_video(ctx: Context, query: SearchQuery, parsed: ParsedQuery) -> tuple[SearchQuery, str]:
    """A video the text names by its id ("the final goal of match-0001") becomes the
    video filter when the request sets none, and the reason's note says so; an id that is
    no video of the collection is searched as words would be (it is never embedded)."""
    ref = parsed.video_ref
    if not ref or query.filter.video_ids:
        return query, ""
    named = Filter(video_ids=(ref,))
    spans = (lambda: ctx.spans(Level.SEGMENT)) if ctx.spans is not None else None
    if not len(search.filtered_keys(ctx.cur, ctx.cid, Level.SEGMENT, named, 1, spans)):
        return query, f"; no video '{ref}' in the collection: every video searched"
    scoped = replace(query, filter=replace(query.filter, video_ids=named.video_ids))
    return scoped, f"; in video {ref}, as the query says"


def _pools(ctx: Context, levels: tuple[Level, ...], flt: Filter, vector: np.ndarray, size: int) -> list[Pool]:
    """The candidate pools of ``levels`` (empty levels left out), in that order. Upper
    levels are searched first: a level's search is narrowed by the best nodes of the pool
    above it, so the scene search is not repeated for the segments."""
    found: dict[Level, Pool] = {}
    for level in sorted(levels, reverse=True):
        above = found.get(Level(level + 1)) if level < Level.VIDEO else None
        pool = _pool(ctx, level, flt, vector, size, None if above is None else _best_first(above))
        if pool is not None:
            found[level] = pool
    return [found[level] for level in levels if level in found]


def _promoted(
    ctx: Context, query: SearchQuery, pools: list[Pool], vector: np.ndarray, size: int, reason: str
) -> tuple[Level, str]:
    """Scene or drive for an unscoped query routed to scenes: the drive when most scenes of
    the best scene's drive match about as well (its pool then joins ``pools``)."""
    share = _merge_share(ctx, pools, vector, Level.SCENE)
    if share < router.PROMOTE_SHARE:
        return Level.SCENE, reason
    drives = _pool(ctx, Level.DRIVE, query.filter, vector, size)
    if drives is None or not len(drives.keys):
        return Level.SCENE, reason
    pools.append(drives)
    return Level.DRIVE, f"{reason}; {share:.0%} of the best scene's drive matches as well: the drive"


def _best_first(pool: Pool) -> np.ndarray:
    """A pool's keys by raw similarity, best first."""
    return pool.keys[np.argsort(-np.asarray(pool.similarities), kind="stable")]


def _merge_share(ctx: Context, pools: list[Pool], vector: np.ndarray, level: Level = Level.SEGMENT) -> float:
    """The share of the best ``level`` node's parent whose children of that level score
    within ``MERGE_MARGIN`` of it (bottom-up evidence: a moment like its whole scene is
    not a moment of its own, nor a scene like its whole drive a scene of its own). 0 when
    the parent holds that node alone."""
    found = next((p for p in pools if p.level is level), None)
    if ctx.spans is None or found is None or not len(found.keys):
        return 0.0
    children, parents = ctx.spans(level), ctx.spans(Level(level + 1))
    best = children.spans([int(found.keys[0])])
    if not best:
        return 0.0
    video, start, _ = next(iter(best.values()))
    parent = parents.inside(video, start, start + 1)
    if not len(parent):
        return 0.0
    span = parents.spans([int(parent[0])])[int(parent[0])]
    siblings = children.inside(*span)
    scores = _pooled_scores(found, siblings)
    if scores is None:
        _, sims = search.score_exactly(ctx.index(level), siblings, vector)
        scores = ctx.moments(level).z(vector, sims)
    if len(scores) < 2:
        return 0.0
    return float(np.mean(scores >= found.scores[0] - router.MERGE_MARGIN))


def _pooled_scores(pool: Pool, keys: np.ndarray) -> np.ndarray | None:
    """The pool's calibrated scores of ``keys`` when it holds every one of them (a pool
    filtered to a video scores all its nodes; an unfiltered one, the best scenes' own
    segments), else None: scoring them again would give the same numbers."""
    if not len(keys) or len(keys) > len(pool.keys):
        return None
    order = np.argsort(pool.keys, kind="stable")
    held = pool.keys[order]
    at = np.minimum(np.searchsorted(held, keys), len(held) - 1)
    if not np.array_equal(held[at], keys):
        return None
    return np.asarray(pool.scores)[order[at]]


def _by_result(ctx: Context, pred: results.ResultPredicate, ranked: list[Ranked]) -> tuple[list[Ranked], str]:
    """Videos holding the game result ``pred`` first (``hierarchy.results``), each group
    in its order; and the reason's note on how the result was read."""
    labels = matching_labels(pred.scoring, ctx.labels())
    if not labels:
        return ranked, f"; no label names a {pred.scoring}: the result is not read"
    found = _fetch(ctx, [r.key for r in ranked])
    videos = {r.key: found[r.key] for r in ranked if r.key in found}
    every = ctx.labelled(labels) if ctx.labelled is not None else nodes.labelled_events(ctx.cur, ctx.cid, labels)
    wanted = {n.video_id for n in videos.values()}
    rows = [row for row in every if row[0] in wanted]
    goals, side = results.tally(rows)
    if side is None and rows and results.needs_sides(pred):
        return ranked, f"; no attribute names the side of a '{labels[0]}': the result is not read"
    held = {
        key for key, n in videos.items() if results.holds(pred, goals.get(n.video_id, []), (n.start_ms, n.end_ms))
    }
    rescored = [Ranked(r.key, r.level, r.score + RESULT_BONUS * (r.key in held), r.similarity) for r in ranked]
    by = f" by '{side}'" if side else ""
    note = f"; {len(held)} of {len(videos)} videos hold '{pred.describe()}' ('{labels[0]}' events{by})"
    return sorted(rescored, key=lambda r: -r.score), note


def _by_side(ctx: Context, side: str, ranked: list[Ranked]) -> tuple[list[Ranked], str]:
    """Answers of the named ``side`` first and the other side's last, each group in its
    order (answers with no side, such as a scene spanning a change of possession, between);
    the side is read from the attribute whose values are home and away words."""
    keys = [r.key for r in ranked]
    if ctx.attributes is not None:
        found = ctx.attributes(keys)
    else:
        found = {k: n.attributes for k, n in _fetch(ctx, keys).items()}
    key = results.side_key(found.values())
    if key is None:
        return ranked, f"; no attribute names a side: '{side}' is not read"

    def bonus(r: Ranked) -> float:
        attributes = found.get(r.key, {})
        value = results.side_of(attributes[key]) if key in attributes else ""
        return SIDE_BONUS if value == side else -SIDE_BONUS if value else 0.0

    rescored = [Ranked(r.key, r.level, r.score + bonus(r), r.similarity) for r in ranked]
    return sorted(rescored, key=lambda r: -r.score), f"; the {side} side's answers first (by '{key}')"


def _by_sentence_evidence(ctx: Context, query: SearchQuery, ranked: list[Ranked]) -> list[Ranked]:
    """Re-rank videos for a multi-sentence description: bottom-up evidence from the scenes
    that best match each sentence, added to the whole description's calibrated score."""
    encode = ctx.encode
    assert encode is not None  # a paragraph is only split when there is an encoder
    sentences = [s.strip() for s in re.split(r"[.!?]+", query.text) if len(s.split()) >= 3]
    # In one pass where the encoder can: five sentences took 11 ms against 27 one by one.
    vectors = list(ctx.encode_many(sentences)) if ctx.encode_many and sentences else [encode(s) for s in sentences]
    return _by_scene_evidence(ctx, query, ranked, vectors)


def _by_scene_evidence(
    ctx: Context, query: SearchQuery, ranked: list[Ranked], vectors: list[np.ndarray]
) -> list[Ranked]:
    """Re-rank parents (videos, halves) by bottom-up evidence: the calibrated score of
    each one's best scene for each of ``vectors``, averaged, added to its own score."""
    found = _fetch(ctx, [r.key for r in ranked])
    parents = {r.key: (n.video_id, n.start_ms, n.end_ms) for r in ranked if (n := found.get(r.key)) is not None}
    support = _exact_support(ctx, query, parents, vectors)
    if support is None:
        support = _pooled_support(ctx, query, parents, vectors)
    scale = 1.0 / max(len(vectors), 1)
    rescored = [Ranked(r.key, r.level, r.score + scale * support.get(r.key, 0.0), r.similarity) for r in ranked]
    return sorted(rescored, key=lambda r: -r.score)


Spans = dict[int, tuple[str, int, int]]  # key -> (video, start, end)

_VIDEO_SHIFT = 42  # (video code << 42) + start orders spans by video, then by start (ms < 2**42)


def _owners(parents: Spans, starts: list[tuple[str, int]]) -> np.ndarray:
    """For each (video, start), the place in ``list(parents)`` of the parent whose span
    holds it, or -1 (the parents of one level do not overlap in a video)."""
    keys = list(parents)
    if not keys or not starts:
        return np.full(len(starts), -1, np.int64)
    codes = {video: code for code, video in enumerate(sorted({v for v, _, _ in parents.values()}))}
    order = np.array(sorted(range(len(keys)), key=lambda i: (parents[keys[i]][0], parents[keys[i]][1])), np.int64)
    first = np.array([(codes[parents[keys[i]][0]] << _VIDEO_SHIFT) + parents[keys[i]][1] for i in order], np.int64)
    ends = np.array([parents[keys[i]][2] for i in order], np.int64)
    probe = np.array([(codes[v] << _VIDEO_SHIFT) + s if v in codes else -1 for v, s in starts], np.int64)
    at = np.maximum(np.searchsorted(first, probe, "right") - 1, 0)
    held = (probe >= 0) & (first[at] >> _VIDEO_SHIFT == probe >> _VIDEO_SHIFT) & (first[at] <= probe)
    held &= np.array([s for _, s in starts], np.int64) < ends[at]
    return np.where(held, order[at], -1)


def _exact_support(
    ctx: Context, query: SearchQuery, parents: Spans, vectors: list[np.ndarray]
) -> dict[int, float] | None:
    """Per parent, the sum over ``vectors`` of its best scene's calibrated score, every
    scene of the candidate parents scored exactly (a few hundred rows: cheaper and truer
    than a library-wide scene search per vector). None where a filter must also pass the
    scenes themselves (times, labels, attributes): the pooled search applies it."""
    flt = query.filter
    if ctx.spans is None or flt.time_range is not None or flt.labels or flt.attributes:
        return None
    scene_spans = ctx.spans(Level.SCENE)
    keys = scene_spans.starting_in(list(parents.values()))
    if ctx.visible is not None:
        keys = keys[ctx.visible(Level.SCENE, keys)]
    keys = np.sort(keys)
    spans = scene_spans.spans(keys.tolist())
    owner = _owners(parents, [spans[k][:2] for k in keys.tolist()])
    keys, owner = keys[owner >= 0], owner[owner >= 0]
    index, moments = ctx.index(Level.SCENE), ctx.moments(Level.SCENE)
    support = np.zeros(len(parents))
    for vector in vectors:
        scored, sims = index.score(keys, vector)
        best = np.full(len(parents), -np.inf)
        np.maximum.at(best, owner[np.searchsorted(keys, scored)], moments.z(vector, sims))
        found = np.isfinite(best)
        # A parent with no scene to score (none sealed yet) gets the weakest found.
        support += np.where(found, best, best[found].min() if found.any() else 0.0)
    return dict(zip(parents, support.tolist(), strict=True))


def _pooled_support(ctx: Context, query: SearchQuery, parents: Spans, vectors: list[np.ndarray]) -> dict[int, float]:
    """Per parent, the sum over ``vectors`` of its best scene's calibrated score among
    the library's best scenes that pass the filter (the last one's score when it has none)."""
    keys = list(parents)
    support = dict.fromkeys(keys, 0.0)
    for vector in vectors:
        scenes = _pool(ctx, Level.SCENE, query.filter, vector, SENTENCE_POOL)
        if scenes is None:
            continue
        found = _fetch(ctx, [int(k) for k in scenes.keys])
        held = [(found[int(k)], float(z)) for k, z in zip(scenes.keys, scenes.scores, strict=True) if int(k) in found]
        best: dict[int, float] = {}
        owners = _owners(parents, [(n.video_id, n.start_ms) for n, _ in held]).tolist()
        for (_, score), at in zip(held, owners, strict=True):
            if at >= 0 and keys[at] not in best:
                best[keys[at]] = score  # pools are best first
        floor = float(scenes.scores[-1]) if len(scenes.scores) else 0.0
        for key in keys:
            support[key] += best.get(key, floor)
    return support


def _event_vector(ctx: Context, query: SearchQuery, parsed: ParsedQuery, vector: np.ndarray) -> np.ndarray:
    """The client's vector when it sent one; else the embedded event phrase."""
    phrase = event_phrase(parsed)
    if query.vector is not None or ctx.encode is None or phrase is None:
        return vector
    return ctx.encode(phrase)


def event_phrase(parsed: ParsedQuery) -> str | None:
    """The phrase a routed text query embeds to score, when it is not the whole text."""
    if parsed.fallback or not parsed.event or parsed.event.strip().lower() == parsed.text.strip().lower():
        return None
    return parsed.event


def _fetch(ctx: Context, keys: list[int]) -> dict[int, Node]:
    return ctx.fetch(keys) if ctx.fetch is not None else nodes.by_keys(ctx.cur, keys)


def _pool(
    ctx: Context, level: Level, flt: Filter, vector: np.ndarray, size: int, parents: np.ndarray | None = None
) -> Pool | None:
    """One level's candidates; ``parents``: the best keys of the level above, best first."""
    deadlines.check(ctx.deadline, f"while searching the {level.label} level")
    index = ctx.index(level)
    if len(index) == 0:
        return None
    spans = (lambda: ctx.spans(level)) if ctx.spans is not None else None
    narrow = ctx.narrow(level, parents) if ctx.narrow is not None else None
    if ctx.part is not None and level < ctx.part[0]:
        allowed = _in_part(ctx, level, flt)
        keys, sims = search.among(index, allowed, vector, size, ctx.exact_filter_below, narrow)
    else:
        keys, sims = search.candidates(
            ctx.cur, index, ctx.cid, level, flt, vector, size, ctx.exact_filter_below, spans, narrow
        )
    if ctx.visible is not None:
        seen = ctx.visible(level, keys)
        keys, sims = keys[seen], sims[seen]
    return router.pool(level, keys, sims, ctx.moments(level), vector)


def _in_part(ctx: Context, level: Level, flt: Filter) -> np.ndarray:
    """Sorted keys of ``level`` that start inside the query's part of each video (every
    second half) and pass ``flt``."""
    assert ctx.spans is not None and ctx.part is not None
    part, position = ctx.part
    held = ctx.spans(part).spans(_every_at(ctx, part, position).tolist())
    keys = np.unique(ctx.spans(level).starting_in(list(held.values())))
    if flt.empty:
        return keys
    spans = lambda: ctx.spans(level)  # noqa: E731
    passing = search.filtered_keys(ctx.cur, ctx.cid, level, flt, max(len(ctx.index(level)), 1), spans)
    return np.intersect1d(keys, passing)


def _mixed(pools: list[Pool]) -> list[Ranked]:
    merged = [
        Ranked(int(k), p.level, float(z), float(s))
        for p in pools
        for k, s, z in zip(p.keys, p.similarities, p.scores, strict=True)
    ]
    return sorted(merged, key=lambda r: -r.score)


def _at_level(
    ctx: Context, query: SearchQuery, parsed: ParsedQuery, level: Level, vector: np.ndarray, pools: list[Pool]
) -> list[Ranked]:
    """Nodes of ``level`` ranked by calibrated similarity, count predicate and ordinal."""
    needs_all = parsed.count is not None or (parsed.ordinal is not None and not parsed.ordinal.event_ordered)
    needs_all |= level is Level.VIDEO and parsed.result is not None
    if needs_all:
        spans = (lambda: ctx.spans(level)) if ctx.spans is not None else None
        keys = search.filtered_keys(ctx.cur, ctx.cid, level, query.filter, LEVEL_SCAN, spans)
        keys, sims = search.score_exactly(ctx.index(level), keys, vector)
        scores = ctx.moments(level).z(vector, sims)
    else:
        chosen = next((p for p in pools if p.level is level), None)
        if chosen is None:
            return []
        keys, sims, scores = chosen.keys, chosen.similarities, chosen.scores
    scores = np.asarray(scores, np.float64)
    ordinal = parsed.ordinal if parsed.ordinal is not None and not parsed.ordinal.event_ordered else None
    # "a match with two goals in the second half": the ordinal picks the part counted in.
    part = ordinal.of if ordinal is not None and ordinal.of is not None and ordinal.of < level else None
    if parsed.count is not None:
        if part is not None and ctx.spans is not None:
            counts = _counts_in_part(ctx, query, parsed, level, keys, part)
        else:
            counts = _counts(ctx, query, parsed, level, keys)
        scores = router.count_score(counts, parsed) * 100.0 + scores
    if ordinal is not None and part is None:
        if _container(ctx, parsed, level) is not None:
            keep = _nth_in_containers(ctx, parsed, level, keys)
        else:
            keep = _at_position(ctx, level, keys, parsed.ordinal.position)
        keys, sims, scores = keys[keep], sims[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    return [Ranked(int(keys[i]), level, float(scores[i]), float(sims[i])) for i in order]


def _counts_in_part(
    ctx: Context, query: SearchQuery, parsed: ParsedQuery, level: Level, keys: np.ndarray, part: Level
) -> np.ndarray:
    """For each node of ``keys``, how many matching events its ``part`` at the query's
    ordinal holds (a match's second half)."""
    assert ctx.spans is not None and parsed.ordinal is not None
    spans = ctx.spans(part)
    parts = _every_at(ctx, part, parsed.ordinal.position)
    part_spans = spans.spans(parts.tolist())
    parts = np.array([p for p in parts.tolist() if p in part_spans], np.int64)  # gone since: not counted
    counted = _counts(ctx, query, parsed, part, parts)
    owners = ctx.spans(level).spans([int(k) for k in keys])
    at = _owners(owners, [part_spans[p][:2] for p in parts.tolist()])
    row = {key: i for i, key in enumerate(int(k) for k in keys)}
    held = list(owners)
    out = np.zeros(len(keys))
    for count, i in zip(counted.tolist(), at.tolist(), strict=True):
        if i >= 0:
            out[row[held[i]]] += count
    return out


def _counts(ctx: Context, query: SearchQuery, parsed: ParsedQuery, level: Level, keys: np.ndarray) -> np.ndarray:
    """How many segments of each node match the counted event."""
    labels = matching_labels(parsed.count_event, ctx.labels())
    found = _fetch(ctx, [int(k) for k in keys])
    if labels:
        return np.array([sum(found[int(k)].label_counts.get(lb, 0) for lb in labels) for k in keys], np.float64)
    matches = _matching_segments(ctx, query, parsed)
    spans = [(found[int(k)].video_id, found[int(k)].start_ms, found[int(k)].end_ms) for k in keys]
    return np.array([sum(1 for v, s in matches if v == vid and a <= s < b) for vid, a, b in spans], np.float64)


def matching_labels(event: str, labels: list[str]) -> list[str]:
    """Labels of the collection that name ``event`` ("corner" -> "corner kick")."""
    words = event.lower().split()
    if not words:
        return []
    exact = [lb for lb in labels if lb.lower() == event.lower()]
    if exact:
        return exact
    return [lb for lb in labels if all(w in lb.lower().split() or w.rstrip("s") in lb.lower() for w in words)]


def _matching_segments(ctx: Context, query: SearchQuery, parsed: ParsedQuery) -> list[tuple[str, int]]:
    """(video, start) of segments whose calibrated score for the counted event passes."""
    if ctx.encode is None or not parsed.count_event:
        return []
    vector = ctx.encode(parsed.count_event)
    found = _pool(ctx, Level.SEGMENT, query.filter, vector, COUNT_POOL)
    if found is None:
        return []
    keys = found.keys[found.scores >= router.MATCH_Z]
    hits = _fetch(ctx, [int(k) for k in keys])
    return [(n.video_id, n.start_ms) for n in hits.values()]


def _every_at(ctx: Context, level: Level, position: int) -> np.ndarray:
    """Keys of every node of ``level`` at ``position`` in its video (every node for 0)."""
    assert ctx.spans is not None
    keys = ctx.spans(level).matching((), 0, 0)
    return keys[_at_position(ctx, level, keys, position)] if position else keys


def _at_position(ctx: Context, level: Level, keys: np.ndarray, position: int) -> np.ndarray:
    """Mask of ``keys`` that are the ``position``-th node of their level in their video."""
    if ctx.spans is not None:
        ordinals, totals = ctx.spans(level).positions(keys)
    else:
        ordinals, totals = nodes.positions(ctx.cur, ctx.cid, level, [int(k) for k in keys])
    return router.position_mask(ordinals, totals, position)


def _nth_event(ctx: Context, query: SearchQuery, parsed: ParsedQuery, vector: np.ndarray) -> list[Ranked]:
    """Per video, the n-th segment (in time) matching the event, best video first. What
    is ordered is the event without its ordinal ("the opening goal": goals), matched to
    the labels, else embedded (when the query sent no vector) and matched by score."""
    what = without_ordinals(parsed.event) or parsed.event
    labels = matching_labels(what, ctx.labels())
    if labels:
        rows = nodes.labelled_segments(ctx.cur, ctx.cid, labels, query.filter)
    else:
        if ctx.encode is not None and query.vector is None and what != parsed.event:
            vector = ctx.encode(what)
        found = _pool(ctx, Level.SEGMENT, query.filter, vector, COUNT_POOL)
        keep = found.keys[found.scores >= router.MATCH_Z] if found is not None else np.zeros(0, np.int64)
        rows = [(int(k), n.video_id, n.start_ms) for k, n in _fetch(ctx, [int(k) for k in keep]).items()]
    if _container(ctx, parsed, Level.SEGMENT) is not None:  # "the last corner of the first half"
        rows = _by_container(ctx, parsed, rows)
    picked = _pick_per_group(rows, parsed.ordinal.position if parsed.ordinal else 1)
    keys, sims = search.score_exactly(ctx.index(Level.SEGMENT), np.array(picked, np.int64), vector)
    scores = ctx.moments(Level.SEGMENT).z(vector, sims)
    return [Ranked(int(k), Level.SEGMENT, float(z), float(s)) for k, s, z in zip(keys, sims, scores, strict=True)]


def _container(ctx: Context, parsed: ParsedQuery, level: Level) -> Level | None:
    """The level of the container inside which an ordinal orders ``level`` ("the first
    possession of the second half": halves), when one lies between ``level`` and the video."""
    within = parsed.within
    if within is None or ctx.spans is None or not level < within < Level.VIDEO:
        return None
    return within


def _by_container(ctx: Context, parsed: ParsedQuery, rows: list[tuple[int, str, int]]) -> list[tuple[int, str, int]]:
    """(key, container, start) of the ``rows`` (key, video, start) that lie in a container
    of the query's (at its position, when the query gives one: "of the second half")."""
    within = parsed.within
    assert ctx.spans is not None and within is not None
    held = ctx.spans(within).spans(_every_at(ctx, within, parsed.within_position).tolist())
    owners = list(held)
    at = _owners(held, [(video, start) for _, video, start in rows])
    return [(key, str(owners[i]), start) for (key, _, start), i in zip(rows, at.tolist(), strict=True) if i >= 0]


def _nth_in_containers(ctx: Context, parsed: ParsedQuery, level: Level, keys: np.ndarray) -> np.ndarray:
    """Mask of ``keys`` that are the ordinal's node of ``level`` inside their container."""
    assert ctx.spans is not None and parsed.ordinal is not None
    spans = ctx.spans(level).spans(keys.tolist())
    rows = [(key, video, start) for key, (video, start, _) in spans.items()]
    picked = _pick_per_group(_by_container(ctx, parsed, rows), parsed.ordinal.position)
    return np.isin(keys, np.array(picked, np.int64))


def _pick_per_group(rows: list[tuple[int, str, int]], position: int) -> list[int]:
    """From (key, group, start) rows, the ``position``-th key in time of each group (a
    video, or a container within one); negative positions count from the end."""
    by_group: dict[str, list[tuple[int, int]]] = {}
    for key, group, start in rows:
        by_group.setdefault(group, []).append((start, key))
    picked = []
    for events in by_group.values():
        events.sort()
        index = position - 1 if position > 0 else len(events) + position
        if 0 <= index < len(events):
            picked.append(events[index][1])
    return picked


def _event_reason(parsed: ParsedQuery) -> str:
    where = parsed.ordinal.of.label if parsed.ordinal and parsed.ordinal.of else "video"
    if parsed.within_position and parsed.within is not None:
        where = f"{parsed.within.label} {parsed.within_position} of a video"
    return f"ordinal {parsed.ordinal.position if parsed.ordinal else 1} of '{parsed.event}' in each {where}"
