"""Answers grouped by video, read in rounds.

A grouped search reads its ranking deeper until it holds the videos a page shows, up to
``MAX_GROUPED_RANKING`` answers. Past that many, the videos not found yet are ranked by a
search of those videos alone (a *round*), and so on: every answer of a video no round
found ranks below every answer read, so the videos of later rounds follow those of
earlier ones. (Without rounds, a library whose best videos hold more answers than the
limit ended its last page there, as though no other video held an answer.) A page runs
at most ``MAX_ROUNDS`` rounds, each from the first: the cost of a page is bounded, and
videos past them are not listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from hierarchy.candidates import Ranked
from hierarchy.paging import Position, at_or_before

MAX_GROUPED_RANKING = 50_000  # a round of a grouped search reads at most this many answers
MAX_ROUNDS = 8  # rounds a page runs at most (each from the start: pages do not share them)
CHECKED_PER_VIDEO = 4  # videos a later page over a graph checks for each it lists, at most


@dataclass(frozen=True)
class Group:
    """A video's best answers (best first), and the round whose ranking found them."""

    video: str
    members: list[Ranked]
    round: int


def by_video(
    ranked: Iterable[Ranked], spans: Mapping[int, tuple[str, int, int]], size: int, round_: int
) -> list[Group]:
    """Answers by video, videos in the order of their best answer, ``size`` each; an answer
    with no span (gone since it was ranked) is left out."""
    groups: dict[str, list[Ranked]] = {}
    for r in ranked:
        span = spans.get(r.key)
        if span is None:
            continue
        members = groups.setdefault(span[0], [])
        if len(members) < size:
            members.append(r)
    return [Group(video, members, round_) for video, members in groups.items()]


def first_ask(page_end: int, found: int, size: int, round_: int) -> int:
    """Answers a round reads first: enough for the groups a page still needs (videos up to
    one past its end, ``page_end``), ``size`` each, when no video holds two of them; a
    later round, the limit (the round before read as many and found too few videos)."""
    return MAX_GROUPED_RANKING if round_ else max(page_end + 1 - found, 1) * size


def deeper(asked: int) -> int:
    """The next read of a round that did not hold the videos a page needs."""
    return min(asked * 4, MAX_GROUPED_RANKING)


def capped(asked: int, exhausted: bool) -> bool:
    """Whether a round stopped at the limit with answers left past it."""
    return asked >= MAX_GROUPED_RANKING and not exhausted


def cut(rounds: int) -> str:
    """The reason's note on a page whose rounds stopped with videos left unread."""
    read = f"{rounds} rounds of {MAX_GROUPED_RANKING:,} answers" if rounds > 1 else f"{MAX_GROUPED_RANKING:,} answers"
    return f"; grouping stopped after {read}: videos ranked past them are not listed (narrow the filter)"


def rest(held: Iterable[str], groups: Iterable[Group]) -> tuple[str, ...]:
    """The videos of ``held`` no group holds: the filter of the next round."""
    return tuple(sorted(set(held) - {g.video for g in groups}))


def start(at: Position, groups: list[Group], by_score: bool) -> int:
    """Where the page at ``at`` starts among ``groups``: after the last video shown, by
    its best answer's score where pages resume so (``by_score``)."""
    best = [g.members[0] for g in groups]
    scores = [r.score for r in best] if by_score else None
    return at.resume([g.video for g in groups], scores, [r.key for r in best])


def listed(
    candidates: list[Group],
    top_k: int,
    cursor: tuple[float, int] | None,
    best_of: Callable[[Group], list[Ranked]],
    fill: Callable[[Group], Group],
) -> tuple[list[Group], int]:
    """The groups a page lists from ``candidates`` (those found from where it starts), and
    how many of them it used. With ``cursor`` (a later page of a one-level search of a level
    searched through its graph) each video's best answers are read again, exactly
    (``best_of``), and a video whose best ranks at or before the cursor is passed over: the
    graph, asked deeper than for the page before, had missed its best answer, so it ranked
    lower than it does, and it was listed before (or ranks above the page). Without,
    ``fill`` completes each group."""
    if cursor is None:
        return [fill(group) for group in candidates[:top_k]], min(top_k, len(candidates))
    page: list[Group] = []
    used = 0
    for group in candidates[: CHECKED_PER_VIDEO * top_k]:
        if len(page) >= top_k:
            break
        used += 1
        best = best_of(group)
        if best and not at_or_before(best[0].score, best[0].key, cursor):
            page.append(replace(group, members=best))
    return sorted(page, key=lambda g: (-g.members[0].score, g.members[0].key)), used
