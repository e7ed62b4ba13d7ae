"""What a search text asks for, as ``hierarchy.query.parse`` reads it: the level, the
ordinal, the count, the part of each video, the event phrase left to embed, and the rest
(the module docstring of ``hierarchy.query`` says how each is read)."""

from __future__ import annotations

from dataclasses import dataclass

from hierarchy.results import ResultPredicate
from hierarchy.types import Level


@dataclass(frozen=True)
class Ordinal:
    """A position among siblings: 1, 2, 3… from the start, -1 last, -2 second to last.

    ``of`` is the level ordered ("the second half") or, when ``event_ordered``, the level
    within which matching events are ordered ("the first corner of the match").
    """

    position: int
    of: Level | None
    event_ordered: bool


@dataclass(frozen=True)
class CountPredicate:
    """How many events a span holds, or (superlative) that it holds the most or fewest."""

    min_count: int
    exact: bool = False
    superlative: bool = False
    direction: int = 0  # +1 most/more, -1 fewest/fewer; 0 for thresholds
    max_count: int | None = None

    def describe(self) -> str:
        """ "at least 2 ×", "exactly 3 ×", "0 to 4 ×", "most" or "fewest"."""
        if self.superlative:
            return "most" if self.direction > 0 else "fewest"
        if self.exact:
            return f"exactly {self.min_count} ×"
        return f"at least {self.min_count} ×" if self.max_count is None else f"{self.min_count} to {self.max_count} ×"


@dataclass(frozen=True)
class ParsedQuery:
    """The structure of one search text and the event phrase left to embed."""

    text: str
    scope: Level | None = None
    ordinal: Ordinal | None = None
    count: CountPredicate | None = None
    event: str = ""
    count_event: str = ""
    within: Level | None = None  # level of a container phrase: "in the first half" -> HALF
    # The container's position when an ordinal orders inside it ("the first possession of
    # the second half" -> 2) or when the search is confined to it (see ``part``).
    within_position: int = 0
    video_ref: str | None = None
    fallback: bool = False  # no content words were left: event is the whole text
    ongoing: str = ""  # a participle describing play going on ("keeping", "speaking"): a stretch, not a moment
    result: ResultPredicate | None = None  # a game result asked of a video ("a match the hosts won")
    side: str = ""  # the side named ("home", "away"): "corner kick for the away side"
    every: bool = False  # "every goal of match-0001": all of them, not the best few
    sequence: tuple[str, ...] = ()  # two events in order: "a cross then a header" -> ("cross", "a header")

    @property
    def part(self) -> tuple[Level, int] | None:
        """The part of each video searched, as (level, position): "in the second half" -> (HALF, 2)."""
        if self.within is None or not self.within_position or self.ordinal is not None or self.count is not None:
            return None
        return self.within, self.within_position

    def explain(self) -> str:
        """One short line describing the parse."""
        parts = [f"scope {self.scope.label}"] if self.scope else []
        if o := self.ordinal:
            what = o.of.label if o.of else ""
            if o.event_ordered:
                what = f"event in {what}" if what else "event"
            parts.append(f"ordinal {o.position} of {what}")
        parts += [f"{self.count.describe()} '{self.count_event}'"] if self.count else []
        where = f" {self.within_position}" if self.within_position else ""
        parts += [f"within {self.within.label}{where}"] if self.within else []
        parts += [f"video {self.video_ref}"] if self.video_ref else []
        parts += [f"ongoing '{self.ongoing}'"] if self.ongoing else []
        parts += [f"result {self.result.describe()}"] if self.result else []
        parts += [f"side {self.side}"] if self.side else []
        parts += ["every"] if self.every else []
        parts += ["sequence " + " then ".join(f"'{e}'" for e in self.sequence)] if self.sequence else []
        return "; ".join([*parts, f"event '{self.event}'" + (" (whole text)" if self.fallback else "")])
