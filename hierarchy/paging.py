"""Opaque page tokens that never expire.

A token records where the next page starts and a digest of the request it belongs to,
so a token reused with a different request is refused instead of paging silently wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from hierarchy.errors import InvalidArgument
from hierarchy.types import Level


def digest(*parts: Any) -> str:
    """A short stable digest of request fields."""
    raw = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def encode(position: Any, request_digest: str, collection_id: int | None = None) -> str:
    """Token for the page that starts at ``position`` (of the collection with that id:
    names are reused after a delete, ids never)."""
    data: dict[str, Any] = {"p": position, "d": request_digest}
    if collection_id is not None:
        data["c"] = collection_id
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, request_digest: str, field: str = "page_token", collection_id: int | None = None) -> Any:
    """The position stored in ``token``; None for an empty token. A token of another
    collection of the same name (deleted since) is refused; tokens made before they
    carried the collection pass."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position, owner, made_for = data["p"], data["d"], data.get("c", collection_id)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise InvalidArgument(field, "is malformed; pass back a next_page_token unchanged") from exc
    if owner != request_digest:
        raise InvalidArgument(field, "belongs to a different request; keep the other fields unchanged")
    if made_for != collection_id:
        raise InvalidArgument(
            field, "belongs to a collection of this name since deleted; start again from the first page (no page_token)"
        )
    return position


def decode_name(token: str, request_digest: str, collection_id: int | None = None) -> str:
    """:func:`decode` of a list's token, whose position is the last name shown ("" for an
    empty token); any other position is refused as malformed."""
    if not token:
        return ""
    after = decode(token, request_digest, collection_id=collection_id)
    if not isinstance(after, str):
        raise InvalidArgument("page_token", "is malformed; pass back a next_page_token unchanged")
    return after


# The last answers of a page a token keeps: the next page starts after the latest of them
# still ranked (a deleted answer no longer pushes the ones after it onto a page not shown).
RESUME_AFTER = 8
MAX_RANKS = 2**31  # answers a token may say were shown: a hit's rank is a uint32, with room for a page
LEVELS = frozenset(int(level) for level in Level)
MAX_PINS = len(LEVELS)  # statistics versions a token names, one a level
MAX_SEEN = 200  # answers of a reranked search a token lists as shown: twice its reranked head


@dataclass(frozen=True)
class Position:
    """Where a page of search answers starts: ``offset`` in the ranking as of commit
    ``watermark``, or, when the ranking lost answers shown before it (deleted since),
    just after the latest of ``shown`` (the last answers of the page before) that it holds.
    ``pins`` name the calibration statistics each level was scored with (level, version),
    so later pages score as the first did while the server keeps them. ``after`` is the
    (score, key) of the last answer shown, for a ranking ordered by them: when every one
    of ``shown`` is gone, the page starts after it. ``route`` is the level a routed
    search's first page was routed to, which its later pages keep. ``seen`` holds every
    answer a reranked search has shown, while they are few (``MAX_SEEN``): its next page
    is its first answers not among them (a delete between pages can move a look-alike, or
    an answer an overlap dropped, above the last one shown, or one shown below it).
    ``confined``: a routed search's first page was confined to a video its text names,
    where its later pages stay. ``ranks``: the answers (or videos) the pages before showed,
    whose ranks the page's follow, kept where it is not ``offset`` (an answer vanished as
    a page was read): a page's ranks never follow its place in the ranking as it is now,
    which a delete between pages moves up."""

    offset: int
    watermark: int
    shown: tuple[int | str, ...] = ()
    pins: tuple[tuple[int, int], ...] = ()
    # (score, key) of the last answer shown, for a ranking ordered by score then key.
    after: tuple[float, int] | None = None
    route: int | None = None
    # Every answer shown so far, for a reranked search's first MAX_SEEN answers.
    seen: tuple[int, ...] | None = None
    confined: bool = False
    ranks: int | None = None

    @classmethod
    def of(cls, position: Any) -> Position:
        """A decoded token's position (``[offset, watermark, shown, pins, after, route,
        seen, confined, ranks]``; tokens that end after any of the first eight stay valid)."""
        valid = isinstance(position, list) and 2 <= len(position) <= 9 and all(_count(v) for v in position[:2])
        shown = position[2] if valid and len(position) >= 3 else []
        pins = position[3] if valid and len(position) >= 4 else []
        after = position[4] if valid and len(position) >= 5 else None
        route = position[5] if valid and len(position) >= 6 else None
        seen = position[6] if valid and len(position) >= 7 else None
        confined = position[7] if valid and len(position) >= 8 else None
        ranks = position[8] if valid and len(position) == 9 else None
        if not (valid and _shown(shown) and _pins(pins) and (after is None or _after(after))):
            raise InvalidArgument("page_token", "is malformed; pass back a next_page_token unchanged")
        if not ((route is None or (_count(route) and route in LEVELS)) and (seen is None or _seen(seen))):
            raise InvalidArgument("page_token", "is malformed; pass back a next_page_token unchanged")
        ranks_ok = ranks is None or (_count(ranks) and ranks < MAX_RANKS)
        if not (confined is None or (_count(confined) and confined == 1)) or not ranks_ok:
            raise InvalidArgument("page_token", "is malformed; pass back a next_page_token unchanged")
        cursor = None if after is None else (float(after[0]), int(after[1]))
        pinned = tuple((p[0], p[1]) for p in pins)
        seen_keys = None if seen is None else tuple(seen)
        return cls(position[0], position[1], tuple(shown), pinned, cursor, route, seen_keys, confined == 1, ranks)

    def first_rank(self) -> int:
        """The answers ranked before the page (shown on the pages before it)."""
        return self.offset if self.ranks is None else self.ranks

    def resume(self, ranked: list[Any], scores: list[float] | None = None, keys: list[int] | None = None) -> int:
        """Where the page starts in ``ranked`` (answer keys, or videos, best first; with
        their ``scores`` when the ranking is ordered by score, then key: ``keys``, the
        answers' own, or for videos each one's best answer's)."""
        if not self.shown:
            return self.offset
        keys = ranked if keys is None else keys
        # Ordered by score, then key, a ranking holds everything that ranks before the last
        # answer shown before it, wherever that lies: an approximate index asked for more
        # answers than for the page before finds some it had missed, better ones too, and
        # they push the answers shown down by any number of places.
        ordered = self.after is not None and scores is not None and _by_score(keys, scores)
        window = ranked if ordered else ranked[: self.offset + RESUME_AFTER]
        place = {item: i for i, item in enumerate(window)}
        for item in reversed(self.shown):
            if item in place:
                return place[item] + 1
        # Every one of them gone (their video deleted, say): the answers after them moved
        # up by at least as many places (deletes only take answers away; the commit hides
        # new ones), and by more when answers before them went too.
        up = max(self.offset - len(self.shown), 0)
        if not ordered:
            return up
        before = sum(1 for s, k in zip(scores, keys, strict=True) if at_or_before(s, k, self.after))
        # Every answer ranks before the cursor: the ones shown lie past this ranking's end,
        # so it must go deeper. Otherwise they are gone: never past ``up``, as a level that
        # crossed ``exact_below`` since scores from the other copy of its vectors, which can
        # move a tie with the cursor by the last bit.
        return before if before == len(keys) else min(before, up)

    def next(
        self,
        offset: int,
        page: list[Any],
        pins: dict[int, int] | None = None,
        last: tuple[float, int] | None = None,
        route: int | None = None,
        seen: list[int] | None = None,
        confined: bool = False,
        ranks: int | None = None,
    ) -> list[Any]:
        """The position of the page after one that ends at ``offset`` and showed ``page``,
        scored with the statistics versions ``pins`` (level -> version); ``last``: the
        (score, key) of the last answer shown, in a ranking ordered by them; ``route``:
        the level a routed search keeps; ``seen``: every answer shown so far;
        ``confined``: whether the search stays in a video its text names; ``ranks``: the
        answers shown so far."""
        last = last if last is not None and math.isfinite(last[0]) else None
        pinned = [[level, version] for level, version in sorted((pins or {}).items())]
        after = None if last is None else [last[0], last[1]]
        stays = 1 if confined else None
        ranks = None if ranks == offset else ranks  # (the usual case: a token as short as before)
        position = [offset, self.watermark, list(page[-RESUME_AFTER:]), pinned, after, route, seen, stays, ranks]
        while len(position) > 3 and position[-1] in (None, []):  # fields left unset are left out
            position.pop()
        return position


def at_or_before(score: float, key: int, cursor: tuple[float, int]) -> bool:
    """Whether an answer of ``score`` and ``key`` ranks at or before ``cursor`` (score,
    key) in a ranking by score, then key."""
    return score > cursor[0] or (score == cursor[0] and key <= cursor[1])


def _by_score(keys: list[Any], scores: list[float]) -> bool:
    """Whether a ranking is ordered by score (best first), then by key (a guard: only
    rankings of that order are given a cursor)."""
    pairs = list(zip(scores, keys, strict=True))
    return all(a[0] > b[0] or (a[0] == b[0] and a[1] < b[1]) for a, b in zip(pairs, pairs[1:], strict=False))


def _after(value: Any) -> bool:
    """``[score, key]``: a finite number and a key."""
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int | float)):
        return False
    try:  # an integer past a float's range (a forged token) overflows
        finite = not isinstance(value[0], bool) and math.isfinite(value[0])
    except OverflowError:
        return False
    return finite and _count(value[1])


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _shown(shown: Any) -> bool:
    """The last answers of a page: up to RESUME_AFTER keys (numbers) or videos (text)."""
    if not isinstance(shown, list) or len(shown) > RESUME_AFTER:
        return False
    return all(isinstance(v, int | str) and not isinstance(v, bool) for v in shown)


def _seen(seen: Any) -> bool:
    """Every answer shown so far: up to MAX_SEEN keys, each once."""
    if not isinstance(seen, list) or len(seen) > MAX_SEEN or not all(_count(v) and v < 2**63 for v in seen):
        return False
    return len(set(seen)) == len(seen)


def _pins(pins: Any) -> bool:
    """``[level, version]`` pairs of non-negative numbers, each level once."""
    if not isinstance(pins, list) or len(pins) > MAX_PINS:
        return False
    if not all(isinstance(p, list) and len(p) == 2 and all(_count(v) for v in p) for p in pins):
        return False
    levels = [p[0] for p in pins]
    return set(levels) <= LEVELS and len(set(levels)) == len(levels)
