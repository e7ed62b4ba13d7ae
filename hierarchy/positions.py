"""Answers by their place in time: the n-th event of each video (or of a named part of
it), the n-th node inside each container, and every labelled event in time order."""

from __future__ import annotations

import numpy as np

from hierarchy import candidates, nodes, router, search
from hierarchy.candidates import Context, Ranked
from hierarchy.query import ParsedQuery, without_ordinals
from hierarchy.types import Filter, Level, SearchQuery


def ordered_event(parsed: ParsedQuery) -> str:
    """What an event ordinal orders: the event without its ordinal ("the opening goal": goal)."""
    return without_ordinals(parsed.event) or parsed.event


def nth_event(ctx: Context, query: SearchQuery, parsed: ParsedQuery, vector: np.ndarray) -> list[Ranked] | None:
    """Per video, the n-th segment (in time) matching the event, best video first. What
    is ordered (:func:`ordered_event`) is matched to the labels, else embedded (when the
    query sent no vector) and matched by score: None when no segment scores as a match
    (``router.MATCH_Z``), so that the caller answers with the best matches and says why
    instead of answering nothing (a small library, or one where many moments read alike,
    scores even an exact caption below it)."""
    what = ordered_event(parsed)
    labels = candidates.matching_labels(what, ctx.labels())
    if labels:
        rows = nodes.labelled_segments(ctx.cur, ctx.cid, labels, query.filter)
    else:
        if ctx.encode is not None and query.vector is None and what != parsed.event:
            vector = ctx.encode(what)
        found = candidates.pool(ctx, Level.SEGMENT, query.filter, vector, candidates.COUNT_POOL)
        keep = found.keys[found.scores >= router.MATCH_Z] if found is not None else np.zeros(0, np.int64)
        if not len(keep):
            return None
        rows = [(int(k), n.video_id, n.start_ms) for k, n in candidates.fetch(ctx, [int(k) for k in keep]).items()]
    if container(ctx, parsed, Level.SEGMENT) is not None:  # "the last corner of the first half"
        rows = _by_container(ctx, parsed, rows)
    picked = _pick_per_group(rows, parsed.ordinal.position if parsed.ordinal else 1)
    keys, sims = search.score_exactly(ctx.index(Level.SEGMENT), np.array(picked, np.int64), vector)
    scores = ctx.moments(Level.SEGMENT).z(vector, sims)
    return [Ranked(int(k), Level.SEGMENT, float(z), float(s)) for k, s, z in zip(keys, sims, scores, strict=True)]


def every_event(
    ctx: Context, query: SearchQuery, parsed: ParsedQuery, vector: np.ndarray
) -> tuple[list[Ranked], str] | None:
    """Every segment labelled with the event that passes the filter and lies in the
    query's part ("every goal of match-0001"), video by video in time order, with the
    reason; None when no label names the event or there are more than ``candidates.LEVEL_SCAN``."""
    labels = candidates.matching_labels(without_ordinals(parsed.event) or parsed.event, ctx.labels())
    if not labels:
        return None
    rows = nodes.labelled_segments(ctx.cur, ctx.cid, labels, query.filter)
    if len(rows) > candidates.LEVEL_SCAN:
        return None
    keys = np.array(sorted(key for key, _, _ in rows), np.int64)
    if ctx.part is not None:
        keys = np.intersect1d(keys, candidates.in_part(ctx, Level.SEGMENT, Filter()))
    if ctx.visible is not None:
        keys = keys[ctx.visible(Level.SEGMENT, keys)]
    scored, sims = search.score_exactly(ctx.index(Level.SEGMENT), keys, vector)
    scores = ctx.moments(Level.SEGMENT).z(vector, sims).tolist()
    found = {key: (z, s) for key, z, s in zip(scored.tolist(), scores, sims.tolist(), strict=True)}
    in_time = sorted((video, start, key) for key, video, start in rows)
    listed = [Ranked(key, Level.SEGMENT, *found[key]) for _, _, key in in_time if key in found]
    return listed, f"every '{labels[0]}' segment in time order, video by video ({len(listed)} found)"


def container(ctx: Context, parsed: ParsedQuery, level: Level) -> Level | None:
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
    held = ctx.spans(within).spans(candidates.every_at(ctx, within, parsed.within_position).tolist())
    owners = list(held)
    at = candidates.owners(held, [(video, start) for _, video, start in rows])
    return [(key, str(owners[i]), start) for (key, _, start), i in zip(rows, at.tolist(), strict=True) if i >= 0]


def nth_in_containers(ctx: Context, parsed: ParsedQuery, level: Level, keys: np.ndarray) -> np.ndarray:
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


def event_reason(parsed: ParsedQuery) -> str:
    """The route's reason for an event ordinal: which event, counted in what."""
    where = parsed.ordinal.of.label if parsed.ordinal and parsed.ordinal.of else "video"
    if parsed.within_position and parsed.within is not None:
        where = f"{parsed.within.label} {parsed.within_position} of a video"
    return f"ordinal {parsed.ordinal.position if parsed.ordinal else 1} of '{parsed.event}' in each {where}"
