"""Execute routed (AUTO) and mixed (ALL) searches: candidates at every level, routing,
counting, results, sides and bottom-up evidence (answers by their place in time are
``hierarchy.positions``). Returns a ranked list of (key, level, score, similarity) and
the route; the facade pages it and attaches nodes and evidence."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hierarchy import candidates, nodes, pairs, positions, results, router, search
from hierarchy.candidates import Context, Ranked, Spans
from hierarchy.order import best_first, in_sorted
from hierarchy.query import ParsedQuery, parse
from hierarchy.router import Pool
from hierarchy.types import Filter, Level, Mode, Route, SearchQuery

POOL = 100
SENTENCE_POOL = 200
RESULT_BONUS = 100.0  # calibrated scores span a few units: videos holding a result rank first
SIDE_BONUS = 100.0  # and answers of the side a query names (the other side's last)
SIDED = (Level.SEGMENT, Level.SCENE, Level.DRIVE)  # the levels a side reorders


def execute(
    ctx: Context,
    query: SearchQuery,
    vector: np.ndarray,
    wanted: int,
    kept: Level | None = None,
    confined: bool = False,
) -> tuple[list[Ranked], Route, np.ndarray]:
    """The ranked answers of an AUTO or ALL query, its route, and the vector that scored;
    ``kept``: the level the search's first page was routed to (its later pages keep it);
    ``confined``: whether its first page was confined to a video its text names (its later
    pages are, even when that video is deleted since)."""
    parsed = parse(query.text)
    scoped, named = _in_named_video(ctx, query, parsed, confined)
    # Answers past the head are the level's by calibrated score unless the text confined the
    # search to a video it names, or a reorder below applies: then no search of other videos
    # continues the ranking (grouping's rounds).
    in_named = scoped is not query
    plain, query = not in_named, scoped
    if parsed.part is not None and ctx.spans is not None:
        ctx = replace(ctx, part=parsed.part)
        named += f"; inside {parsed.part[0].label} {parsed.part[1]} of each video, as the query says"
    event = _event_vector(ctx, query, parsed, vector)
    size = max(POOL, wanted)
    if query.mode is Mode.ALL:
        pools = _pools(ctx, router.BUILT, query.filter, event, size)
        reason = "every level in one list, by calibrated score" + named
        # Each pool holds its level's best ``size``: past that many, the merged list could
        # miss a level's answers that rank above others it holds.
        mixed = _mixed(pools)[:size]
        route = Route(tuple(p.level for p in pools), reason, router.confidences(pools), parsed, confined=in_named)
        return mixed, route, event
    # Only the levels routing can pick are searched: the one the wording names, or else a
    # moment or a scene (router.UNSCOPED).
    structured = router.structured_level(parsed)
    pools = _pools(ctx, router.UNSCOPED if structured is None else (structured,), query.filter, event, size)
    share = _merge_share(ctx, pools, event) if structured is None else 0.0
    present = [level for level in router.BUILT if len(ctx.index(level))]
    unheld = "" if any(len(p.keys) for p in pools) else _unheld(ctx, query, in_named)  # (said only then)
    level, conf, reason = router.pick_level(parsed, pools, share, present, unheld)
    paired = _pairs(ctx, query, parsed, size) if structured is None else None
    if paired:
        conf = router.settled(Level.SEGMENT, present)  # the pairs answer, whatever the pools suggested
        return paired, Route((Level.SEGMENT,), _pairs_reason(parsed) + named, conf, parsed, confined=in_named), event
    if paired is not None:  # a sequence is made of moments: with no pair, the best single ones
        first, second = parsed.sequence
        level, conf = Level.SEGMENT, router.settled(Level.SEGMENT, present)
        reason = f"a sequence: '{first}' then '{second}'; no two moments in a row match the sequence: single moments"
    elif structured is None and len(parsed.sequence) == 2 and ctx.parts is None:
        first, second = parsed.sequence
        reason += f"; a sequence ('{first}' then '{second}') not paired: no vector for each event (part_vectors)"
    if structured is None and level is Level.SCENE:
        level, reason = _promoted(ctx, query, pools, event, size, reason)
    if structured is None and kept is not None and kept is not level:
        level, reason = kept, _kept(ctx, query, pools, event, size, (kept, level))
    # Counted by score where no label names the event: the moments that match it, found once.
    by_score = parsed.count is not None and not candidates.matching_labels(parsed.count_event, ctx.labels())
    matched = _matching_segments(ctx, query, parsed) if by_score else []
    ranked = _at_level(ctx, query, parsed, level, event, pools, matched)
    if by_score and not matched:
        why = (
            "no vector for it (part_vectors)"
            if ctx.parts is None
            else f"no moment matches it clearly (a calibrated score of {router.MATCH_Z:g})"
        )
        reason += f"; nothing counted: no label names '{parsed.count_event}' and {why}"
    # The side, and a parent's best scene below, reorder a fixed head of the ranking (the
    # best ``POOL``), as the joint rerank does: a head that grew with the page asked for
    # moved answers between pages (repeated on one, skipped on another).
    if parsed.side and level in SIDED:
        head, note = _by_side(ctx, parsed.side, ranked[:POOL])
        ranked, reason, plain = head + ranked[POOL:], reason + note, False
    if level is Level.VIDEO and parsed.result is not None:
        ranked, note = _by_result(ctx, parsed.result, ranked)
        reason, plain = reason + note, False
    by_sentence = _sentence_vectors(ctx, query) if level is Level.VIDEO else None
    if by_sentence is not None:
        ranked = _by_scene_evidence(ctx, query, ranked[:POOL], list(by_sentence)) + ranked[POOL:]
        reason, plain = reason + "; each sentence's best scene in a video adds to its score", False
    elif level in (Level.HALF, Level.VIDEO) and parsed.count is None and parsed.ordinal is None:
        # A half or a whole match is an average of everything in it; what sets one apart
        # ("a late winner", "a half in which City found the net") is a scene. Bottom-up
        # evidence: its best scene adds to its score. Only the best ``POOL`` are weighed
        # (all videos are ranked when a result is read).
        ranked = _by_scene_evidence(ctx, query, ranked[:POOL], [event]) + ranked[POOL:]
        reason, plain = reason + f"; a {level.label}'s best scene adds to its score", False
    nth = positions.nth_event(ctx, query, parsed, event) if parsed.ordinal and parsed.ordinal.event_ordered else None
    if nth is not None:
        ranked, reason = nth, positions.event_reason(parsed) + ("" if nth else "; found in no video")
        level, plain, conf = Level.SEGMENT, False, router.settled(Level.SEGMENT, present)
    elif parsed.ordinal is not None and parsed.ordinal.event_ordered:
        reason += (
            f"; nothing to order in time: no label names '{positions.ordered_event(parsed)}' and no moment"
            f" matches it clearly (a calibrated score of {router.MATCH_Z:g}): the best matches"
        )
    elif parsed.every and structured is None:
        listed = positions.every_event(ctx, query, parsed, event)
        if listed is not None:
            ranked, reason = listed
            conf = router.settled(Level.SEGMENT, present)
            route = Route((Level.SEGMENT,), reason + named, conf, parsed, in_time_order=True, confined=in_named)
            return ranked, route, event
        reason += f"; no label names '{parsed.event}' (or too many carry it to list): the best matches"
    return ranked, Route((level,), reason + named, conf, parsed, plain=plain, confined=in_named), event


def _unheld(ctx: Context, query: SearchQuery, in_named: bool) -> str:
    """Why a search found no candidate at any level of a library that holds nodes;
    ``in_named``: its video filter is the one its text names, not the caller's."""
    asked = replace(query.filter, video_ids=()) if in_named else query.filter  # (set only where none was asked)
    if asked.video_ids and ctx.spans is not None:  # a mistyped id found nothing, and said nothing of it
        segments = ctx.spans(Level.SEGMENT)
        if missing := [v for v in asked.video_ids if not len(segments.matching((v,), 0, 0))]:
            videos = f"video{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}"
            return f"the collection holds no segment of {videos} (check the video ids)"
    if not asked.empty:
        return "nothing passes the filter"
    if ctx.part is not None:
        return f"nothing lies inside {ctx.part[0].label} {ctx.part[1]} of a video"
    # A later page answers as of its first page's commit: what was written since is
    # hidden, and what that page saw may be deleted since.
    return "nothing that this search's first page saw is left"


def _pairs(ctx: Context, query: SearchQuery, parsed: ParsedQuery, size: int) -> list[Ranked] | None:
    """A sequence query's answers: pairs of moments, each event scored by its own vector
    (the client's part vectors, else each event embedded: so only where there is one or
    the other); None for any other query."""
    vectors = ctx.parts(parsed.sequence) if len(parsed.sequence) == 2 and ctx.parts is not None else None
    if vectors is None:
        return None
    return pairs.pairs(ctx, query.filter, (vectors[0], vectors[1]), size)


def _pairs_reason(parsed: ParsedQuery) -> str:
    first, second = parsed.sequence
    return (
        f"a sequence: '{first}' then, within {pairs.GAP_MS // 1000} s, '{second}'; each answer is the longer "
        "moment of a pair, scored by both"
    )


def _in_named_video(ctx: Context, query: SearchQuery, parsed: ParsedQuery, confined: bool) -> tuple[SearchQuery, str]:
    """A video the text names by its id ("the final goal of match-0001") becomes the
    video filter when the request sets none, and the reason's note says so; an id that is
    no video of the collection is searched as words would be (it is never embedded),
    unless the search's first page was ``confined`` to it: then it was deleted since, and
    the search stays in it (its later pages list no other video)."""
    ref = parsed.video_ref
    if not ref or query.filter.video_ids:
        return query, ""
    named = Filter(video_ids=(ref,))
    scoped = replace(query, filter=replace(query.filter, video_ids=named.video_ids))
    spans = (lambda: ctx.spans(Level.SEGMENT)) if ctx.spans is not None else None
    held = search.filtered_keys(ctx.cur, ctx.cid, Level.SEGMENT, named, 1, spans)
    if len(_seen(ctx, Level.SEGMENT, held)):  # a video written after a page's commit is not there yet
        return scoped, f"; in video {ref}, as the query says"
    if confined:
        return scoped, f"; in video {ref}, as the query says (deleted since this search's first page)"
    return query, f"; no video '{ref}' in the collection: every video searched"


def _pools(ctx: Context, levels: tuple[Level, ...], flt: Filter, vector: np.ndarray, size: int) -> list[Pool]:
    """The candidate pools of ``levels`` (empty levels left out), in that order. Upper
    levels are searched first: a level's search is narrowed by the best nodes of the pool
    above it, so the scene search is not repeated for the segments."""
    found: dict[Level, Pool] = {}
    for level in sorted(levels, reverse=True):
        above = found.get(Level(level + 1)) if level < Level.VIDEO else None
        pool = candidates.pool(ctx, level, flt, vector, size, None if above is None else _best_first(above))
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
    drives = candidates.pool(ctx, Level.DRIVE, query.filter, vector, size)
    if drives is None or not len(drives.keys):
        return Level.SCENE, reason
    pools.append(drives)
    return Level.DRIVE, f"{reason}; {share:.0%} of the best scene's drive matches as well: the drive"


def _kept(
    ctx: Context, query: SearchQuery, pools: list[Pool], vector: np.ndarray, size: int, levels: tuple[Level, Level]
) -> str:
    """The reason of a later page that keeps the level its first page was routed to,
    ``levels[0]``, where the library as it is now (a delete since) routes to ``levels[1]``;
    the kept level's pool joins ``pools``."""
    level, now = levels
    if not any(p.level is level for p in pools):
        found = candidates.pool(ctx, level, query.filter, vector, size)
        pools += [found] if found is not None else []
    return f"{level.label}: the level this search's first page was routed to (the library now routes to {now.label})"


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
    # As of the page's commit: a tree sealed since must not turn a later page's moments
    # into scenes (the route is chosen again on every page).
    parent = _seen(ctx, Level(level + 1), parents.inside(video, start, start + 1))
    if not len(parent):
        return 0.0
    span = parents.spans([int(parent[0])])[int(parent[0])]
    siblings = _seen(ctx, level, children.inside(*span))
    threshold = found.scores[0] - router.MERGE_MARGIN
    held, scores = _held_scores(found, siblings)
    rest = siblings[~held]
    if len(rest) and found.scored is not None and found.scores[-1] < threshold and in_sorted(found.scored, rest).all():
        # Scored with the pool and not held by it, the rest score at most its last: none of
        # them matches. Those gone since are left out, as scoring them again leaves them out.
        present = ctx.index(level).contains(siblings)
        count = int(np.count_nonzero(present))
        return 0.0 if count < 2 else int(np.count_nonzero(scores[present[held]] >= threshold)) / count
    if not held.all() or not len(siblings):  # scored again, they would score as pooled
        _, sims = search.score_exactly(ctx.index(level), siblings, vector)
        scores = ctx.moments(level).z(vector, sims)
    if len(scores) < 2:
        return 0.0
    return float(np.mean(scores >= threshold))


def _seen(ctx: Context, level: Level, keys: np.ndarray) -> np.ndarray:
    """Those of ``keys`` written by the commit a search answers as of (all of them when
    nothing was written since)."""
    return keys if ctx.visible is None or not len(keys) else keys[ctx.visible(level, keys)]


def _held_scores(pool: Pool, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``keys`` the pool holds, and their calibrated scores there (a pool
    filtered to a video scores all its nodes, cut to its best; an unfiltered one holds the
    best scenes' own segments): scoring them again would give the same numbers."""
    if not len(keys) or not len(pool.keys):
        return np.zeros(len(keys), bool), np.zeros(0)
    order = np.argsort(pool.keys, kind="stable")
    held = pool.keys[order]
    at = np.minimum(np.searchsorted(held, keys), len(held) - 1)
    found = held[at] == keys
    return found, np.asarray(pool.scores)[order[at[found]]]


def _by_result(ctx: Context, pred: results.ResultPredicate, ranked: list[Ranked]) -> tuple[list[Ranked], str]:
    """Videos holding the game result ``pred`` first (``hierarchy.results``), each group
    in its order; and the reason's note on how the result was read."""
    labels = candidates.matching_labels(pred.scoring, ctx.labels())
    if not labels:
        return ranked, f"; no label names a {pred.scoring}: the result is not read"
    found = candidates.fetch(ctx, [r.key for r in ranked])
    videos = {r.key: found[r.key] for r in ranked if r.key in found}
    every = ctx.labelled(labels) if ctx.labelled is not None else nodes.labelled_events(ctx.cur, ctx.cid, labels)
    wanted = {n.video_id for n in videos.values()}
    rows = [row for row in every if row[0] in wanted]
    goals, side = results.tally(rows)
    if side is None and rows and results.needs_sides(pred):
        return ranked, f"; no attribute names the side of a '{labels[0]}': the result is not read"
    held = {key for key, n in videos.items() if results.holds(pred, goals.get(n.video_id, []), (n.start_ms, n.end_ms))}
    rescored = [_rescored(r, r.score + RESULT_BONUS * (r.key in held)) for r in ranked]
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
        found = {k: n.attributes for k, n in candidates.fetch(ctx, keys).items()}
    key, held = results.sides([found.get(k, {}) for k in keys])
    if key is None:
        return ranked, f"; no attribute names a side: '{side}' is not read"
    bonus = {side: SIDE_BONUS, "": 0.0}
    rescored = [_rescored(r, r.score + bonus.get(s, -SIDE_BONUS)) for r, s in zip(ranked, held, strict=True)]
    rescored.sort(key=lambda r: -r.score)
    return rescored, f"; the {side} side's answers first (by '{key}')"


def _rescored(answer: Ranked, score: float) -> Ranked:
    """``answer`` with a new score (built whole: ``_replace`` costs three times as much)."""
    return Ranked(answer.key, answer.level, score, answer.similarity, answer.explained, answer.count)


def _sentence_vectors(ctx: Context, query: SearchQuery) -> np.ndarray | None:
    """A vector per sentence of a multi-sentence description (videos are then re-ranked by
    the scenes that best match each sentence); None for any other text, or where there
    is neither a text encoder nor the client's part vectors."""
    if ctx.parts is None or not router.is_paragraph(query.text):
        return None
    return ctx.parts(tuple(router.sentences(query.text)))


def _by_scene_evidence(
    ctx: Context, query: SearchQuery, ranked: list[Ranked], vectors: list[np.ndarray]
) -> list[Ranked]:
    """Re-rank parents (videos, halves) by bottom-up evidence: the calibrated score of
    each one's best scene for each of ``vectors``, averaged, added to its own score."""
    parents = candidates.spans_of(ctx, ranked[0].level, [r.key for r in ranked]) if ranked else {}
    support = _exact_support(ctx, query, parents, vectors)
    if support is None:
        support = _pooled_support(ctx, query, parents, vectors)
    scale = 1.0 / max(len(vectors), 1)
    rescored = [_rescored(r, r.score + scale * support.get(r.key, 0.0)) for r in ranked]
    return sorted(rescored, key=lambda r: -r.score)


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
    keys, owner = ctx.spans(Level.SCENE).starting_in_each(list(parents.values()))
    if ctx.visible is not None:
        seen = ctx.visible(Level.SCENE, keys)
        keys, owner = keys[seen], owner[seen]
    order = np.argsort(keys, kind="stable")
    keys, owner = keys[order], owner[order]
    index, moments = ctx.index(Level.SCENE), ctx.moments(Level.SCENE)
    support = np.zeros(len(parents))
    scored, every = index.score_all(keys, np.stack(vectors)) if vectors else (keys, np.zeros((0, len(keys))))
    owner = owner[np.searchsorted(keys, scored)]
    for vector, sims in zip(vectors, every, strict=True):
        best = np.full(len(parents), -np.inf)
        np.maximum.at(best, owner, moments.z(vector, sims))
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
        scenes = candidates.pool(ctx, Level.SCENE, query.filter, vector, SENTENCE_POOL)
        if scenes is None:
            continue
        found = candidates.fetch(ctx, [int(k) for k in scenes.keys])
        held = [(found[int(k)], float(z)) for k, z in zip(scenes.keys, scenes.scores, strict=True) if int(k) in found]
        best: dict[int, float] = {}
        owners = candidates.owners(parents, [(n.video_id, n.start_ms) for n, _ in held]).tolist()
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


def _mixed(pools: list[Pool]) -> list[Ranked]:
    merged = [
        Ranked(int(k), p.level, float(z), float(s))
        for p in pools
        for k, s, z in zip(p.keys, p.similarities, p.scores, strict=True)
    ]
    return sorted(merged, key=lambda r: -r.score)


def _at_level(
    ctx: Context,
    query: SearchQuery,
    parsed: ParsedQuery,
    level: Level,
    vector: np.ndarray,
    pools: list[Pool],
    matched: list[tuple[str, int]],
) -> list[Ranked]:
    """Nodes of ``level`` ranked by calibrated similarity, count predicate and ordinal;
    ``matched``: (video, start) of the moments counted where no label names the event."""
    ordinal = parsed.ordinal if parsed.ordinal is not None and not parsed.ordinal.event_ordered else None
    # "a match with two goals in the second half": the ordinal picks the part counted in.
    part = ordinal.of if ordinal is not None and ordinal.of is not None and ordinal.of < level else None
    if parsed.count is not None or ordinal is not None or (level is Level.VIDEO and parsed.result is not None):
        # Every node that passes the filter is ranked (a cap left whole videos out); of an
        # ordinal's, only the n-th of each video (or named part) that passed it is scored.
        spans = (lambda: ctx.spans(level)) if ctx.spans is not None else None
        keys = search.filtered_keys(ctx.cur, ctx.cid, level, query.filter, candidates.EVERY, spans)
        if ordinal is not None and part is None:
            keys = _nth(ctx, parsed, level, keys)
        keys, sims = search.score_exactly(ctx.index(level), keys, vector)
        scores = ctx.moments(level).z(vector, sims)
    else:
        chosen = next((p for p in pools if p.level is level), None)
        if chosen is None:
            return []
        keys, sims, scores = chosen.keys, chosen.similarities, chosen.scores
    scores = np.asarray(scores, np.float64)
    if parsed.count is not None:
        if part is not None and ctx.spans is not None:
            counts = _counts_in_part(ctx, parsed, level, keys, part, matched)
        else:
            counts = _counts(ctx, parsed, level, keys, matched)
        scores = router.count_score(counts, parsed) * 100.0 + scores
    if parsed.count is None or not (matched or candidates.matching_labels(parsed.count_event, ctx.labels())):
        counts = np.full(len(keys), -1.0)  # nothing counted (the reason says why): no count to show
    order = best_first(keys, scores)
    # Whole columns to Python numbers at once: one per answer took 0.06 ms of 100 answers.
    columns = (
        np.asarray(keys)[order].tolist(),
        scores[order].tolist(),
        np.asarray(sims, np.float64)[order].tolist(),
        counts[order].astype(np.int64).tolist(),
    )
    return [Ranked(key, level, score, sim, (), n) for key, score, sim, n in zip(*columns, strict=True)]


def _nth(ctx: Context, parsed: ParsedQuery, level: Level, keys: np.ndarray) -> np.ndarray:
    """Those of ``keys`` (the nodes that pass the filter) that are the ordinal's among
    them in their video, or in their container ("the first possession of the second
    half"). A half or a video is a fixed part: "the first half" is the video's first
    whatever the filter passes (a filter of the second half's time answers nothing)."""
    assert parsed.ordinal is not None
    if level >= Level.HALF:
        return keys[candidates.at_position(ctx, level, keys, parsed.ordinal.position, among=False)]
    within = positions.container(ctx, parsed, level)
    if within is None:
        return keys[candidates.at_position(ctx, level, keys, parsed.ordinal.position)]
    assert ctx.spans is not None
    # Only the nodes inside the named containers are ordered (and built into rows for it).
    parts = ctx.spans(within).spans(candidates.every_at(ctx, within, parsed.within_position).tolist())
    keys = keys[in_sorted(np.sort(ctx.spans(level).starting_in(list(parts.values()))), keys)]
    return keys[positions.nth_in_containers(ctx, parsed, level, keys)]


def _counts_in_part(
    ctx: Context, parsed: ParsedQuery, level: Level, keys: np.ndarray, part: Level, matched: list[tuple[str, int]]
) -> np.ndarray:
    """For each node of ``keys``, how many matching events its ``part`` at the query's
    ordinal holds (a match's second half); ``matched`` as :func:`_counts` takes it."""
    assert ctx.spans is not None and parsed.ordinal is not None
    spans = ctx.spans(part)
    parts = candidates.every_at(ctx, part, parsed.ordinal.position)
    part_spans = spans.spans(parts.tolist())
    parts = np.array([p for p in parts.tolist() if p in part_spans], np.int64)  # gone since: not counted
    counted = _counts(ctx, parsed, part, parts, matched)
    owners = ctx.spans(level).spans([int(k) for k in keys])
    at = candidates.owners(owners, [part_spans[p][:2] for p in parts.tolist()])
    row = {key: i for i, key in enumerate(int(k) for k in keys)}
    held = list(owners)
    out = np.zeros(len(keys))
    for count, i in zip(counted.tolist(), at.tolist(), strict=True):
        if i >= 0:
            out[row[held[i]]] += count
    return out


def _counts(
    ctx: Context, parsed: ParsedQuery, level: Level, keys: np.ndarray, matched: list[tuple[str, int]]
) -> np.ndarray:
    """How many segments of each node (of ``level``) match the counted event: its stored
    label counts when a label names the event, else how many of the ``matched`` moments
    (video, start; :func:`_matching_segments`) it holds. Read without building the nodes:
    a count ranks every node of its level."""
    labels = candidates.matching_labels(parsed.count_event, ctx.labels())
    wanted = [int(k) for k in keys]
    if labels:
        if ctx.label_counts is not None:
            held = ctx.label_counts(wanted)
        else:
            held = {k: n.label_counts for k, n in candidates.fetch(ctx, wanted).items()}
        return np.array([sum(held.get(k, {}).get(lb, 0) for lb in labels) for k in wanted], np.float64)
    parents = candidates.spans_of(ctx, level, wanted)
    at = candidates.owners(parents, matched)
    per_parent = dict(zip(parents, np.bincount(at[at >= 0], minlength=len(parents)).tolist(), strict=True))
    return np.array([per_parent.get(k, 0) for k in wanted], np.float64)


def _matching_segments(ctx: Context, query: SearchQuery, parsed: ParsedQuery) -> list[tuple[str, int]]:
    """(video, start) of segments whose calibrated score for the counted event passes."""
    vectors = ctx.parts((parsed.count_event,)) if ctx.parts is not None and parsed.count_event else None
    if vectors is None:
        return []
    vector = vectors[0]
    found = candidates.pool(ctx, Level.SEGMENT, query.filter, vector, candidates.COUNT_POOL)
    if found is None:
        return []
    keys = found.keys[found.scores >= router.MATCH_Z]
    hits = candidates.fetch(ctx, [int(k) for k in keys])
    return [(n.video_id, n.start_ms) for n in hits.values()]
