"""What the ``strata`` commands print: the user's text as given, and messages that say
what to do."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
from pathlib import Path

import grpc
import pytest
import typer

from service.client import StrataClient, StrataRpcError
from service.gen.strata.v1 import admin_pb2, common_pb2
from tests.tools.conftest import STRATA
from tests.tools.conftest import run_checked as _run
from tests.tools.conftest import strata_ok as _ok
from tools.options import fail
from tools.output import escape
from tools.render import stats_table


def _error(target: str, *args: str) -> str:
    """The one error line of a command that must fail."""
    result = _run(target, *args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error"), result.stderr
    return lines[0]


def test_square_brackets_in_user_text_print_as_given(address: str, tmp_path: Path) -> None:
    caption, labels = "[red]a[/red] then [/x] :smile:", ["[/x]", "[red]b[/red]"]
    rows = [
        {"video_id": "m[b]", "start_ms": i * 2000, "end_ms": i * 2000 + 2000, "text": caption, "labels": labels}
        for i in range(4)
    ]
    data = tmp_path / "a[" / "x]" / "rows.jsonl"  # the path holds "[/x]"
    data.parent.mkdir(parents=True)
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _ok(address, "collections", "create", "marked", "--encoder", "default")
    assert "sealed 1 video" in _ok(address, "ingest", "marked", str(data), "--seal")
    drawn = _ok(address, "tree", "marked", "m[b]", "--depth", "4")
    assert "video m[b]/video/0" in drawn and "[/x] x4" in drawn
    assert f"segment m[b]@0 0:00:00–0:00:02 · [/x], [red]b[/red] · {caption}" in drawn
    shown = _ok(address, "node", "marked", "m[b]@2000", "--neighbors", "1")
    assert f"m[b]@2000 0:00:02–0:00:04 · [/x], [red]b[/red] · {caption}" in shown and "m[b]@0" in shown
    found = _ok(address, "search", "marked", "[/x] [red]a[/red]", "--level", "segment", "--top-k", "1")
    assert "'[/x] [red]a[/red]' → segment" in found and "m[b]" in found and "[red]a[/red] then [/x]" in found
    read = _ok(address, "parse", "[/x] then [red]a[/red]")
    assert "'[/x] then [red]a[/red]'" in read
    assert "ghost[/x]" in _error(address, "tree", "marked", "ghost[/x]")  # a server message
    data.write_text('{"video_id": "[red]v[/red]"}\n')
    assert "a[/x]/rows.jsonl:1: start_ms" in _error(address, "ingest", "marked", str(data))  # the CLI's own


def test_a_sealed_video_is_reopened_to_take_segments_again(address: str, tmp_path: Path) -> None:
    rows = [{"video_id": "v", "start_ms": t, "end_ms": t + 1000, "vector": [1, 0, 0, 1]} for t in (0, 1000, 2000)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    _ok(address, "collections", "create", "sealed", "--dim", "4")
    assert "sealed 1 video" in _ok(address, "ingest", "sealed", str(data), "--seal")
    data.write_text(json.dumps(rows[2]) + "\n")
    refused = _error(address, "ingest", "sealed", str(data))
    assert "is sealed" in refused and "strata videos reopen COLLECTION VIDEO" in refused
    assert "reopened video v (2 segments)" in _ok(address, "videos", "reopen", "sealed", "v")
    again = _ok(address, "videos", "reopen", "sealed", "v")  # it said "reopened" of an open video
    assert "video v (2 segments) was open already: it takes segments" in again and "reopened" not in again
    assert "ingested 1 new segment " in _ok(address, "ingest", "sealed", str(data), "--seal")
    assert "video v/video/0 0:00:00–0:00:03" in _ok(address, "tree", "sealed", "v")  # sealed anew: rebuilt
    assert "NOT_FOUND" in _error(address, "videos", "reopen", "sealed", "ghost")


def test_tree_of_a_video_without_one_says_how_to_build_it(address: str, tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    rows = [{"video_id": "v 1", "start_ms": t, "end_ms": t + 1000, "vector": [1, 0, 0, 1]} for t in (0, 1000)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _ok(address, "collections", "create", "unbuilt", "--dim", "4")
    _ok(address, "ingest", "unbuilt", str(data))
    line = _error(address, "tree", "unbuilt", "v 1")
    # The commands it names need nothing but the names (it named ingest --seal, which needs the file).
    assert "video 'v 1' has no tree yet" in line and "`strata build unbuilt --video 'v 1'`" in line, line
    assert "`strata videos seal unbuilt 'v 1'`" in line, line
    assert "does not exist" not in line
    assert _ok(address, "videos", "seal", "unbuilt", "v 1") == "sealed 1 video\n"
    assert "video v 1/video/0 0:00:00–0:00:02" in _ok(address, "tree", "unbuilt", "v 1")
    with StrataClient(address) as client:
        client.create_video("unbuilt", "empty")
    assert "video 'empty' has no segments yet" in _error(address, "tree", "unbuilt", "empty")
    assert "video 'ghost' does not exist" in _error(address, "tree", "unbuilt", "ghost")


def test_collections_list_spells_metrics_as_the_flag_takes_them(address: str) -> None:
    for name, metric in (("m-cos", "cos"), ("m-ip", "ip"), ("m-l2sq", "l2sq")):
        _ok(address, "collections", "create", name, "--dim", "4", "--metric", metric)
    listed = {
        line.split("│")[1].strip(): line.split("│")[3].strip()
        for line in _ok(address, "collections", "list").splitlines()
        if "│ m-" in line
    }
    assert listed == {"m-cos": "cos", "m-ip": "ip", "m-l2sq": "l2sq"}


def test_grouped_search_heads_each_video_and_ranks_its_hits_within_it(address: str, tmp_path: Path) -> None:
    captions = {("m[1]", 0): "kick-off in the centre circle", ("m[1]", 2000): "a corner kick swung into the box"}
    captions[("m2", 0)] = "the referee shows a yellow card"
    rows = [{"video_id": v, "start_ms": t, "end_ms": t + 2000, "text": text} for (v, t), text in captions.items()]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _ok(address, "collections", "create", "grouped", "--encoder", "default")
    _ok(address, "ingest", "grouped", str(data))
    lines = _ok(address, "search", "grouped", "corner", "--level", "segment", "--group-by-video").splitlines()
    headings = [i for i, line in enumerate(lines) if ". video " in line]
    assert [lines[i].split(", best score")[0].strip() for i in headings] == [
        "1. video m[1]: 2 hits",
        "2. video m2: 1 hit",
    ]
    assert lines[0].startswith("'corner' → segment")  # the query and its route, once, above the groups
    tables = [lines[i + 1 : j] for i, j in zip(headings, [*headings[1:], len(lines)], strict=True)]
    for table, ranks in zip(tables, (["1", "2"], ["1"]), strict=True):
        assert table[1].split("┃")[1].strip() == "# in video", table  # the header says what the rank counts
        assert [row.split("│")[1].strip() for row in table if row.startswith("│")] == ranks
    assert "corner kick" in tables[0][3] and "yellow card" in tables[1][3]


def _on_a_terminal(target: str, *args: str) -> tuple[int, str, str]:
    """``strata ARGS`` with stderr on a pseudo-terminal and stdout piped: the exit code,
    stdout, and all that the terminal was sent."""
    terminal, stderr = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR")}
    env.update(STRATA_TARGET=target, TERM="xterm", COLUMNS="100")
    proc = subprocess.Popen([STRATA, *args], stdout=subprocess.PIPE, stderr=stderr, env=env)
    os.close(stderr)
    shown = b""
    try:
        while select.select([terminal], [], [], 60)[0] and (chunk := os.read(terminal, 4096)):
            shown += chunk
    except OSError:  # EIO once the command has closed its end
        pass
    finally:
        os.close(terminal)
    out = proc.stdout.read() if proc.stdout else b""
    return proc.wait(timeout=60), out.decode(), shown.decode(errors="replace")


def test_verify_and_snapshot_show_the_elapsed_time_on_a_terminal_only(address: str, tmp_path: Path) -> None:
    _ok(address, "collections", "create", "watched", "--dim", "4")
    for args, label, summary in (
        (["verify", "watched"], "verify", "checked 1 collection,"),
        (["snapshot", str(tmp_path / "on-terminal")], "snapshot", "snapshot of commit sequence"),
    ):
        code, out, shown = _on_a_terminal(address, *args)
        assert code == 0 and summary in out and "\x1b" not in out, (out, shown)
        assert label in shown and re.search(r"\d:\d\d:\d\d", shown), shown  # a spinner, its label, time elapsed
    piped = _run(address, "verify", "watched")
    assert piped.returncode == 0 and piped.stderr == ""  # not on a terminal: nothing but the result
    piped = _run(address, "snapshot", str(tmp_path / "piped"))
    assert piped.returncode == 0 and piped.stderr == "" and "snapshot of commit sequence" in piped.stdout


def test_control_characters_in_stored_text_are_shown_not_sent_to_the_terminal(address: str, tmp_path: Path) -> None:
    # Any client may write captions: an ESC in one must not clear, retitle or recolour the
    # terminal of the operator who reads it, nor a bidirectional override reorder a line.
    caption = "goal\x1b]0;owned\x07 scored\x1b[2J\r by \u202eevil\u061c"
    rows = [{"video_id": "m", "start_ms": i * 2000, "end_ms": i * 2000 + 2000, "text": caption} for i in range(3)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _ok(address, "collections", "create", "controls", "--encoder", "default")
    assert "sealed 1 video" in _ok(address, "ingest", "controls", str(data), "--seal")
    shown = r"goal\x1b]0;owned\x07 scored\x1b[2J\x0d by \u202eevil\u061c"
    outputs = [
        _ok(address, "tree", "controls", "m", "--depth", "4"),
        _ok(address, "node", "controls", "m@0", "--neighbors", "1"),
        _ok(address, "search", "controls", "goal scored", "--level", "segment", "--top-k", "2"),
    ]
    for out in outputs:
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e\u061c]", out), repr(out)
    assert shown in outputs[0] and shown in outputs[1]
    # A segment without labels shows no empty field, a parent of one child no "1 children".
    assert "·  ·" not in outputs[0] and "· 1 child\n" in outputs[0] and "1 children" not in outputs[0]
    assert r"goal\x1b]0;owned\x07" in outputs[2]
    # JSON is for programs: the caption comes back as stored.
    found = json.loads(_ok(address, "search", "controls", "goal scored", "--level", "segment", "--json"))
    assert found["hits"][0]["text"] == caption


def test_stats_draw_a_collection_with_nothing_ingested_as_one_row() -> None:
    """Every level is listed, zero where empty: a collection holding nothing is still one
    row of dashes, and one holding segments shows each level."""
    every = [common_pb2.LEVEL_SEGMENT, common_pb2.LEVEL_SCENE, common_pb2.LEVEL_DRIVE]
    every += [common_pb2.LEVEL_HALF, common_pb2.LEVEL_VIDEO]
    zero = [admin_pb2.LevelStats(level=level, exact=True) for level in every]
    ingested = [admin_pb2.LevelStats(level=every[0], node_count=3, indexed_count=3, exact=True), *zero[1:]]
    reply = admin_pb2.GetStatsResponse(
        collections=[
            admin_pb2.CollectionStats(name="empty", levels=zero),
            admin_pb2.CollectionStats(name="older", levels=[]),  # a server that listed no empty level
            admin_pb2.CollectionStats(name="games", video_count=1, levels=ingested),
        ]
    )
    table = stats_table(reply)
    assert list(table.columns[0].cells) == ["empty", "older", *["games"] * len(every)]
    assert list(table.columns[2].cells)[:2] == ["-", "-"]


def test_a_backslash_never_passes_for_an_escaped_character() -> None:
    # The text \x1b typed in a caption printed exactly as an ESC character does.
    assert escape("\x1b") == r"\x1b"  # the character
    assert escape(r"\x1b") == r"\\x1b"  # the text
    assert escape("\\\x1b") == r"\\\x1b"  # a backslash, then the character
    assert escape(r"a\u202e") == r"a\\u202e" and escape("a\u202e") == r"a\u202e"
    assert escape(r"C:\videos\x1") == r"C:\videos\x1"  # nothing to mistake: as written


def test_a_count_too_large_for_a_request_is_a_usage_error_naming_its_option(address: str, tmp_path: Path) -> None:
    # Past 2**31 - 1 no request could hold it: a traceback ended the command ("Value out of range").
    rows = [{"video_id": "m", "start_ms": i * 2000, "end_ms": i * 2000 + 2000, "text": "a goal"} for i in range(3)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _ok(address, "collections", "create", "counted", "--encoder", "default")
    assert "sealed 1 video" in _ok(address, "ingest", "counted", str(data), "--seal")
    sent = {
        "--top-k": ["search", "counted", "goal", "--top-k"],
        "--group-size": ["search", "counted", "goal", "--group-by-video", "--group-size"],
        "--similar": ["node", "counted", "m@0", "--similar"],
        "--neighbors": ["node", "counted", "m@0", "--neighbors"],
        "--depth": ["tree", "counted", "m", "--depth"],
    }
    for option, args in sent.items():
        for value in ("2147483648", "99999999999999999999"):
            result = _run(address, *args, value, COLUMNS="200")
            assert result.returncode == 2 and not result.stdout, result.stderr
            assert f"'{option}'" in result.stderr and "2147483647" in result.stderr, result.stderr
    # A count a request holds is sent: the server refuses it past its own limit, naming the option.
    for option in ("--top-k", "--group-size", "--similar"):
        assert _error(address, *sent[option], "2147483647").endswith(f"(given as {option})")
    # Times past int64 likewise; one a request holds is refused by the server, by option.
    huge = _run(address, "build", "counted", "--scene-min-ms", "99999999999999999999", COLUMNS="200")
    assert huge.returncode == 2 and "'--scene-min-ms'" in huge.stderr and "9223372036854775807" in huge.stderr
    assert _error(address, "build", "counted", "--scene-min-ms", str(2**62)).endswith("(given as --scene-min-ms)")


def test_a_query_or_video_named_in_a_title_or_message_shows_as_the_table_shows_text(
    address: str, tmp_path: Path
) -> None:
    # Quoted as Python does, then escaped: a backslash typed once showed as four, an ESC as \\x1b.
    caption = r"a goal \x1b" + "\x1b" + r" C:\v"
    shown = r"a goal \\x1b\x1b C:\v"  # the text \x1b, the character, a backslash nothing follows
    rows = [{"video_id": "m", "start_ms": i * 2000, "end_ms": i * 2000 + 2000, "text": caption} for i in range(2)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _ok(address, "collections", "create", "quoted", "--encoder", "default")
    _ok(address, "ingest", "quoted", str(data))
    found = _ok(address, "search", "quoted", caption, "--level", "segment", "--top-k", "1")
    assert f"'{shown}' → segment" in found and f"│ {shown} " in found, found
    assert f"'{shown}': " in _ok(address, "parse", caption)
    assert '"the keeper\'s save": ' in _ok(address, "parse", "the keeper's save")
    with StrataClient(address) as client:
        client.create_video("quoted", r"cam\x1b")
    assert r"video 'cam\\x1b' has no segments yet" in _error(address, "tree", "quoted", r"cam\x1b")


def test_node_says_none_of_a_section_asked_for_that_holds_nothing(address: str, tmp_path: Path) -> None:
    # A segment's children, a root's ancestors and neighbours: a heading with nothing under it.
    rows = [{"video_id": "m", "start_ms": t, "end_ms": t + 2000, "text": "a goal"} for t in (0, 2000)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _ok(address, "collections", "create", "lonely", "--encoder", "default")
    assert "sealed 1 video" in _ok(address, "ingest", "lonely", str(data), "--seal")
    shown = _ok(address, "node", "lonely", "m@0", "--children", "--neighbors", "1").splitlines()
    assert shown[1:] == ["children: none", "before: none", "after", "  segment m@2000 0:00:02–0:00:04 · a goal"]
    shown = _ok(address, "node", "lonely", "m/video/0", "--ancestors", "--neighbors", "1").splitlines()
    assert shown[1:] == ["ancestors: none", "before: none", "after: none"]


@pytest.mark.parametrize(
    ("message", "asked"),
    [
        ("the store failed (disk); restart the server, which recovers from its files", False),
        ("recovering the indexes; retry shortly", False),
        ("failed to connect to all addresses; last error: UNKNOWN: Connection refused", True),
    ],
)
def test_a_server_that_answered_unavailable_is_not_asked_whether_it_runs(
    message: str, asked: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    # "the store failed ...; restart the server (is a server running at --target ...?)"
    with pytest.raises(typer.Exit):
        fail(StrataRpcError(grpc.StatusCode.UNAVAILABLE, message, {}))
    said = capsys.readouterr().err
    assert message in " ".join(said.split()) and ("is a server running" in said) is asked
