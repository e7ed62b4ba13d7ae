"""``strata search`` as an operator runs it: filters, paging by the token it prints, and
JSON that holds the whole answer."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.tools.conftest import run_checked as _run
from tests.tools.conftest import strata_ok as _ok

# Two matches of ten 2-second moments; the first six are the home side's.
PLAYS = ["pass", "pass", "dribble", "pass", "cross", "shot", "pass", "tackle", "pass", "goal"]
ROWS = [
    {
        "video_id": video,
        "start_ms": i * 2000,
        "end_ms": i * 2000 + 2000,
        "text": f"a {play} in midfield",
        "labels": [play],
        "attributes": {"team": "home" if i < 6 else "away", "minute": i * 10},
    }
    for video in ("g1", "g2")
    for i, play in enumerate(PLAYS)
]
SHOTS = {"g1@10000", "g2@10000"}  # minute 50, home, 0:00:10-0:00:12


@pytest.fixture(scope="module")
def games(address: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A sealed collection of the two matches; yields its name."""
    data = tmp_path_factory.mktemp("search") / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    _ok(address, "collections", "create", "games", "--encoder", "default")
    assert "sealed 2 videos" in _ok(address, "ingest", "games", str(data), "--seal")
    return "games"


def _found(target: str, *args: str) -> dict[str, Any]:
    return json.loads(_ok(target, "search", "games", *args, "--json"))


def _ids(target: str, *options: str) -> set[str]:
    """The ids of every segment hit of "a shot" under ``options`` (all fit one page)."""
    return {h["id"] for h in _found(target, "a shot", "--level", "segment", "--top-k", "50", *options)["hits"]}


def _where(moment: Callable[[int], bool]) -> set[str]:
    """The ids of the segments, in both matches, of the moments (0-9) that pass."""
    return {f"{video}@{i * 2000}" for video in ("g1", "g2") for i in range(len(PLAYS)) if moment(i)}


def test_each_filter_leaves_out_the_hits_it_excludes(address: str, games: str) -> None:
    every = _ids(address)
    assert len(every) == len(ROWS) and SHOTS <= every
    # Time: the hits overlapping it, in seconds or as a clock time; a span ending at --from is out.
    assert _ids(address, "--from", "10", "--to", "0:00:12") == SHOTS
    assert _ids(address, "--from", "0:00:12") == _where(lambda i: i >= 6)
    assert _ids(address, "--to", "10.5") == _where(lambda i: i <= 5)
    # Labels: any of them.
    assert _ids(address, "--label", "shot", "--label", "goal") == SHOTS | {"g1@18000", "g2@18000"}
    # Attributes: a string, a number (not the text "50"), an inclusive range; all must hold.
    assert _ids(address, "--attr", "team=away") == _where(lambda i: i >= 6)
    assert _ids(address, "--attr", "minute=50") == SHOTS and _ids(address, "--attr", 'minute="50"') == set()
    assert _ids(address, "--attr", "minute>=50", "--attr", "minute<=50") == SHOTS
    assert _ids(address, "--attr", "minute<=40", "--attr", "team=home") == _where(lambda i: i <= 4)
    assert _ids(address, "--video", "g2", "--label", "shot") == {"g2@10000"}
    # The table too: the shot is the best hit, and gone when its label is filtered out.
    assert "a shot in midfield" in _ok(address, "search", "games", "a shot", "--level", "segment", "--top-k", "1")
    shown = _ok(address, "search", "games", "a shot", "--level", "segment", "--label", "goal")
    assert "a goal in midfield" in shown and "a shot in midfield" not in shown


@pytest.mark.parametrize(
    "conditions",
    [
        ["minute>80"],  # the API's bounds are inclusive
        ["team"],
        ["=home"],
        ["minute>=many"],
        ["team==home"],
        ['code="80'],
        ["minute<=1", "minute<=2"],  # one bound twice
        ["minute=5", "minute>=1"],  # an equality and a bound
        ["minute>=1e400"],  # past a float's range: no bound
        ["minute=-1e400"],
    ],
)
def test_a_malformed_attr_is_a_usage_error_naming_the_option_and_its_forms(
    address: str, games: str, conditions: list[str]
) -> None:
    given = [arg for condition in conditions for arg in ("--attr", condition)]
    result = _run(address, "search", "games", "a shot", *given, COLUMNS="200")  # the box wraps no word
    assert result.returncode == 2 and not result.stdout, result.stderr
    assert f"Invalid value for --attr: {conditions[-1]!r}" in result.stderr and "KEY=VALUE" in result.stderr, (
        result.stderr
    )


def test_bad_times_are_usage_errors_and_the_servers_refusal_names_the_option(address: str, games: str) -> None:
    for option, value in (("--from", "soon"), ("--to", "1:75"), ("--to", "0"), ("--from", "-5")):
        result = _run(address, "search", "games", "a shot", option, value, COLUMNS="200")
        assert result.returncode == 2 and option in result.stderr and not result.stdout, result.stderr
    # A span that ends before it starts: said as typed (the API's refusal named filter.time_range).
    for start, end in (("1:30", "12"), ("12", "0:00:12")):
        result = _run(address, "search", "games", "a shot", "--from", start, "--to", end, COLUMNS="200")
        assert result.returncode == 2 and not result.stdout, result.stderr
        assert f"--from ({start}) must be before --to ({end})" in result.stderr and "time_range" not in result.stderr
    # What the CLI's syntax allows but the API refuses: the server's word, and the option behind it.
    for args, field, given in (
        (["--attr", "team=home", "--attr", "bad.key=1"], "filter.attributes[1].key", "--attr bad.key=1"),
        (["--label", ""], "filter.labels[0]", "--label ''"),
        (["--page-token", "nonsense"], "page_token", "--page-token"),
    ):
        result = _run(address, "search", "games", "a shot", *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1, result.stderr
        assert lines[0].startswith(f"error INVALID_ARGUMENT: {field}") and f"(given as {given})" in lines[0], lines


def _table_rows(out: str) -> list[list[str]]:
    """The cells of each row of a drawn hits table."""
    return [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]


def test_paging_by_the_printed_token_lists_each_hit_once_then_stops(address: str, games: str) -> None:
    query = ["search", "games", "a pass", "--level", "segment", "--top-k", "5", "--attr", "team=home"]
    home = {(r["video_id"], r["start_ms"]) for r in ROWS if r["attributes"]["team"] == "home"}
    # The table: rows numbered on across pages, each page but the last naming the next's token.
    seen: list[list[str]] = []
    out = _ok(address, *query)
    for _ in range(10):
        seen += _table_rows(out)
        token = re.search(r"next page: the same search with --page-token (\S+)", out)
        if token is None:
            break
        out = _ok(address, *query, "--page-token", token[1])
    assert "page-token" not in out
    assert [row[0] for row in seen] == [str(rank) for rank in range(1, len(home) + 1)]
    spans = [(row[2], row[3].split("–")[0]) for row in seen]  # (video, start) of each hit
    assert len(set(spans)) == len(spans) == len(home)
    assert {(video, int(start.split(":")[-1]) * 1000) for video, start in spans} == home
    # JSON: next_page_token, empty on the last page.
    ids: list[str] = []
    page = json.loads(_ok(address, *query, "--json"))
    pages = 1
    while page["next_page_token"]:
        ids += [h["id"] for h in page["hits"]]
        page = json.loads(_ok(address, *query, "--json", "--page-token", page["next_page_token"]))
        pages += 1
    ids += [h["id"] for h in page["hits"]]
    assert pages == 3 and page["next_page_token"] == ""
    assert sorted(ids) == sorted(f"{video}@{start}" for video, start in home)


def test_json_holds_the_whole_answer(address: str, games: str) -> None:
    # The route of a routed search: levels, why, the router's confidences, the parse.
    route = _found(address, "a shot", "--top-k", "1")["route"]
    assert route["levels"] and route["reason"] and route["in_time_order"] is False
    assert route["confidence"] and abs(sum(route["confidence"].values()) - 1) < 0.01
    assert route["parse"]["explanation"] and route["parse"]["event"] == "shot" and route["parse"]["parts"] == []
    assert route["parse"]["scope"] is None  # no level named
    found = _found(address, "a shot", "--level", "half", "--top-k", "1", "--ancestors")
    assert found["route"]["levels"] == ["half"]
    [half] = found["hits"]
    assert half["level"] == "half" and half["rank"] == 1 and half["child_count"] >= 1
    assert half["label_counts"]["shot"] == 1 and half["parent_id"] == f"{half['video_id']}/video/0"
    assert {"score", "similarity", "raw_score", "focus"} <= set(half)
    # Evidence: the segment that explains the half, with its own node and scores.
    best = half["evidence"][0]
    assert best["id"] in SHOTS and best["labels"] == ["shot"] and best["attributes"] == {"team": "home", "minute": 50}
    assert best["similarity"] > 0 and half["start_ms"] <= half["focus"][0] < half["focus"][1] <= half["end_ms"]
    # Ancestors, parent first: the video.
    assert [a["id"] for a in half["ancestors"]] == [half["parent_id"]] and half["ancestors"][0]["level"] == "video"
    assert found["next_page_token"]  # the other match's half is on the next page
    bare = _found(address, "a shot", "--level", "half", "--top-k", "1", "--no-evidence")
    assert bare["hits"][0]["evidence"] == [] and bare["hits"][0]["ancestors"] == []
    # The table: a parent's path, from the video down, with --ancestors.
    shown = _ok(address, "search", "games", "a shot", "--level", "scene", "--top-k", "1", "--ancestors")
    assert re.search(r"g\d/video/0 › g\d/half/0 › g\d/drive/\d", shown), shown
    last = _found(address, "a shot", "--level", "video", "--top-k", "5")
    assert len(last["hits"]) == 2 and last["next_page_token"] == ""


def test_a_refused_text_is_told_what_strata_search_can_do(address: str, games: str) -> None:
    # The server's advice (send a query vector, or a node_id) is for clients: strata search sends text.
    _ok(address, "collections", "create", "vectors", "--dim", "4")
    for args, said, hint in (
        (["vectors", "a shot"], "has no text encoder; send a query vector", "this collection takes vectors from its "
         "own model: search it from a client with a query vector, or find nodes like one with strata node vectors "
         "NODE --similar N)"),
        (["games", ""], "give a query text, a query vector or a node_id", "strata search takes a query text only"),
        (["games", "  "], "give a query text, a query vector or a node_id", "strata search takes a query text only"),
    ):  # fmt: skip
        result = _run(address, "search", *args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1 and len(lines) == 1 and not result.stdout, result.stderr
        assert said in lines[0] and f"({hint}" in lines[0], lines[0]


def test_group_size_without_group_by_video_is_a_usage_error_naming_both(address: str, games: str) -> None:
    # It was dropped without a word: the hits came back ungrouped.
    result = _run(address, "search", "games", "a shot", "--group-size", "2", COLUMNS="200")
    assert result.returncode == 2 and not result.stdout, result.stderr
    assert "Invalid value for --group-size:" in result.stderr and "add --group-by-video" in result.stderr, result.stderr
    grouped = _found(address, "a shot", "--group-by-video", "--group-size", "2")["groups"]
    assert len(grouped) == 2 and all(len(group["hits"]) == 2 for group in grouped)
