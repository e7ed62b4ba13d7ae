"""Page tokens: opaque, bound to their request, and never a crash on bad input."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hierarchy import paging
from hierarchy.errors import InvalidArgument

OWNER = paging.digest("videos", "games")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@pytest.mark.parametrize("position", [0, 17, "v042", ["a", 3]])
def test_round_trip(position: Any) -> None:
    assert paging.decode(paging.encode(position, OWNER), OWNER) == position


def test_token_is_url_safe_without_padding() -> None:
    token = paging.encode("a position/with+odd?chars", OWNER)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_empty_token_is_the_first_page() -> None:
    assert paging.decode("", OWNER) is None


def test_digest_is_stable_and_tells_requests_apart() -> None:
    assert paging.digest("videos", "games") == OWNER
    assert paging.digest("videos", "other") != OWNER
    assert paging.digest("search", 1, 10) != paging.digest("search", 1, 11)


def test_a_token_names_its_collection_and_older_tokens_name_none() -> None:
    token = paging.encode(10, OWNER, collection_id=3)
    assert paging.decode(token, OWNER, collection_id=3) == 10
    with pytest.raises(InvalidArgument, match="since deleted") as err:
        paging.decode(token, OWNER, collection_id=4)
    assert err.value.field == "page_token"
    assert paging.decode(paging.encode(10, OWNER), OWNER, collection_id=4) == 10  # made before tokens named it


def test_token_of_another_request_is_refused() -> None:
    token = paging.encode(10, paging.digest("search", "games", "corner kick", 10))
    with pytest.raises(InvalidArgument) as err:
        paging.decode(token, paging.digest("search", "games", "free kick", 10))
    assert err.value.field == "page_token"


@pytest.mark.parametrize(
    "token",
    ["garbage", "!!!!", "e30", "W10", "bnVsbA", base64.urlsafe_b64encode(b'{"p":1}').decode(), "a"],
)
def test_malformed_token_is_refused_with_the_given_field(token: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        paging.decode(token, OWNER, field="next")
    assert err.value.field == "next"


@pytest.mark.parametrize("position", [[1], 0, 7, {"a": "b"}, None])
def test_a_list_token_whose_position_is_not_a_name_is_refused(position: Any) -> None:
    """List RPCs page by the last name shown: a forged ``[1]`` used to list after the
    text "[1]", and ``0`` from the first page."""
    assert paging.decode_name(paging.encode("v042", OWNER), OWNER) == "v042"
    assert paging.decode_name("", OWNER) == ""
    with pytest.raises(InvalidArgument, match="malformed") as err:
        paging.decode_name(paging.encode(position, OWNER), OWNER)
    assert err.value.field == "page_token"


def test_deeply_nested_token_is_refused() -> None:
    token = base64.urlsafe_b64encode(b"[" * 1000).decode()  # 1.3 kB, easily sent
    with pytest.raises(InvalidArgument) as err:
        paging.decode(token, OWNER)
    assert err.value.field == "page_token"


@given(st.text())
def test_decoding_any_text_returns_a_position_or_refuses(token: str) -> None:
    try:
        paging.decode(token, OWNER)
    except InvalidArgument as err:
        assert err.field == "page_token"


def forge(payload: Any) -> str:
    """A token-shaped string holding any JSON value."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@given(json_values, json_values)
def test_decoding_forged_json_returns_a_position_or_refuses(position: Any, owner: Any) -> None:
    for payload in (position, {"p": position, "d": owner}, {"p": position}, {"d": OWNER}):
        try:
            paging.decode(forge(payload), OWNER)
        except InvalidArgument as err:
            assert err.field == "page_token"
    assert paging.decode(forge({"p": position, "d": OWNER}), OWNER) == position


@pytest.mark.parametrize(
    "position",
    [
        [1], [1, 2, 3, 4], [-1, 2], [1, True], [1, 2, "x"], [1, 2, [True]], [1, 2, [{"a": 1}]],
        [1, 2, list(range(paging.RESUME_AFTER + 1))], "1,2", None, [1, 2, [], [[1]]], [1, 2, [], [[1, -5]]],
        [1, 2, [], [[1, True]]], [1, 2, [], [[i, 1] for i in range(paging.MAX_PINS + 1)]], [1, 2, [], [], 5],
        [1, 2, [], [[0, 1]]], [1, 2, [], [[6, 1]]], [1, 2, [], [[10**30, 1]]], [1, 2, [], [[1, 5], [1, 6]]],
        [1, 2, [], [], [0.5]], [1, 2, [], [], ["x", 3]], [1, 2, [], [], [0.5, -3]], [1, 2, [], [], [True, 3]],
        [1, 2, [], [], [float("nan"), 3]], [1, 2, [], [], [0.5, 3], 1, 1], [1, 2, [], [], [10**400, 3]],
        [1, 2, [], [], None, 0], [1, 2, [], [], None, 6], [1, 2, [], [], None, -1], [1, 2, [], [], None, True],
        [1, 2, [], [], None, 1.0], [1, 2, [], [], None, "scene"], [1, 2, [], [], None, [1]],
        [1, 2, [], [], None, None, None, 0], [1, 2, [], [], None, None, None, 2],
        [1, 2, [], [], None, None, None, True], [1, 2, [], [], None, None, None, "yes"],
        [1, 2, [], [], None, None, None, 1, 1, 1], [1, 2, [], [], None, None, None, 1.0],
        [1, 2, [], [], None, None, None, None, -1], [1, 2, [], [], None, None, None, None, True],
        [1, 2, [], [], None, None, None, None, 1.5], [1, 2, [], [], None, None, None, None, "3"],
        [1, 2, [], [], None, None, None, None, 2**31],  # a rank past a uint32's room for a page
    ],
    ids=repr,
)  # fmt: skip
def test_a_forged_search_position_is_refused(position: Any) -> None:
    with pytest.raises(InvalidArgument) as err:
        paging.Position.of(position)
    assert err.value.field == "page_token"


def test_a_page_resumes_after_the_latest_answer_still_ranked() -> None:
    at = paging.Position.of([6, 40, [4, 5, 6]])  # the page before ended at offset 6 with keys 4, 5, 6
    assert at.resume([1, 2, 3, 4, 5, 6, 7, 8]) == 6  # nothing gone
    assert at.resume([1, 3, 4, 5, 6, 7, 8]) == 5  # an answer before them gone
    assert at.resume([1, 2, 3, 4, 5, 7, 8]) == 5  # the last one gone
    assert at.resume([1, 2, 3, 7, 8]) == 3  # all three gone: three places up
    assert paging.Position.of([6, 40]).resume([1, 3, 4, 5, 6, 7, 8]) == 6  # a token of offset and commit alone
    assert at.next(9, [7, 8, 9]) == [9, 40, [7, 8, 9]]


def test_a_page_whose_remembered_answers_are_all_gone_resumes_after_the_last_one_s_score() -> None:
    """Keys 4, 5, 6 closed the page before (6 at 0.4); 2 went with them. By score the
    next page starts at 7, where three places up would start at 8."""
    at = paging.Position.of(paging.Position(6, 40).next(6, [4, 5, 6], last=(0.4, 6)))
    assert at.after == (0.4, 6)
    keys, scores = [1, 3, 7, 8], [0.9, 0.7, 0.3, 0.2]
    assert at.resume(keys, scores) == 2 and at.resume(keys) == 3
    assert at.resume([1, 3, 8, 7], [0.9, 0.7, 0.3, 0.3]) == 3  # not ordered by key on a tie: places up
    assert at.resume([1, 3, 7, 8], [0.9, 0.7, 0.4, 0.2]) == 2  # a tie with the last one shown: by key
    assert paging.Position(6, 40).next(6, [6], last=(float("-inf"), 6)) == [6, 40, [6]]  # no cursor to keep


def test_a_page_ranked_by_score_resumes_after_the_last_answer_shown_however_far_down_it_moved() -> None:
    """A graph asked for more answers finds some it had missed: the answers shown move down
    by more than a page's tail, and the next page starts after them, not a page back."""
    at = paging.Position.of(paging.Position(6, 40).next(6, [4, 5, 6], last=(0.4, 6)))
    found = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]  # better answers the shallower search missed
    keys = [1, 2, 3, *found, 4, 5, 6, 7, 8]
    scores = [0.9, 0.8, 0.7, *np.linspace(0.69, 0.5, len(found)), 0.45, 0.42, 0.4, 0.3, 0.2]
    assert at.resume(keys, scores) == keys.index(6) + 1
    assert at.resume(keys[:12], scores[:12]) == 12  # not ranked deep enough: past its end (rank deeper)


def test_a_position_names_the_statistics_its_levels_were_scored_with() -> None:
    at = paging.Position.of([6, 40, [4, 5, 6], [[1, 1700000000123], [2, 1700000000124]]])
    assert at.pins == ((1, 1700000000123), (2, 1700000000124)) and at.resume([4, 5, 6, 7]) == 3
    assert at.next(9, [7], {2: 11, 1: 10}) == [9, 40, [7], [[1, 10], [2, 11]]]
    assert paging.Position.of([6, 40, [4]]).pins == ()


def test_a_position_keeps_the_level_a_routed_search_chose() -> None:
    at = paging.Position.of(paging.Position(6, 40).next(9, [7], route=2))
    assert at.route == 2 and at.after is None and at.offset == 9
    assert paging.Position.of(at.next(12, [8], {1: 10}, (0.5, 8), route=2)) == paging.Position(
        12, 40, (8,), ((1, 10),), (0.5, 8), 2
    )
    assert paging.Position.of([6, 40, [4], [], [0.5, 4]]).route is None  # a token of an earlier server


def test_a_position_keeps_that_a_routed_search_stays_in_a_video_its_text_names() -> None:
    at = paging.Position.of(paging.Position(6, 40).next(9, [7], route=1, confined=True))
    assert at.confined and at.route == 1 and at.seen is None
    seen = paging.Position.of(at.next(12, [8], route=1, seen=[7, 8], confined=True))
    assert seen.confined and seen.seen == (7, 8)
    assert not paging.Position.of(at.next(12, [8], route=1)).confined
    assert len(at.next(12, [8], route=1)) == 6  # left out when unset: earlier servers read it
