"""The ``strata`` command end to end: a served subprocess, then the admin commands."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hierarchy.encoder import default_model_path
from service.client import StrataClient
from tools import arguments, cli

STRATA = str(Path(sys.executable).parent / "strata")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """``strata serve --port 0`` in a subprocess; yields its address."""
    proc = subprocess.Popen(
        [STRATA, "serve", "--data-dir", str(tmp_path / "d"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert first.startswith("listening on "), first
        # Bound first, serving once the indexes are recovered: wait for the second line.
        assert proc.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
        yield first.removeprefix("listening on ")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def _strata(target: str, *args: str) -> str:
    env = {**os.environ, "STRATA_TARGET": target}
    result = subprocess.run([STRATA, *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_relative_encoder_folder_is_sent_as_the_folder_it_names_here(served: str, tmp_path: Path) -> None:
    # Stored as typed, it was looked for from wherever the server started next.
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mini").symlink_to(default_model_path())
    env = {**os.environ, "STRATA_TARGET": served}
    made = subprocess.run(
        [STRATA, "collections", "create", "texts", "--encoder", "models/mini"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    with StrataClient(served) as client:
        [texts] = [c for c in client.list_collections() if c.name == "texts"]
    assert texts.space.text_encoder == str(tmp_path / "models" / "mini")


def test_ingest_then_search_json(served: str, tmp_path: Path) -> None:
    rows = [
        {
            "video_id": "m1",
            "start_ms": 0,
            "end_ms": 2000,
            "text": "kick-off in the centre circle",
            "labels": ["kick-off"],
            "video_duration_ms": 10_000,
        },
        {
            "video_id": "m1",
            "start_ms": 2000,
            "end_ms": 4000,
            "text": "a corner kick swung into the box",
            "labels": ["corner kick"],
        },
        {
            "video_id": "m2",
            "start_ms": 0,
            "end_ms": 2000,
            "text": "the referee shows a yellow card",
            "labels": ["foul"],
            "attributes": {"team": "away"},
        },
    ]
    data = tmp_path / "segments.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert "created collection games" in _strata(served, "collections", "create", "games", "--encoder", "default")
    assert "ingested 3 new segments" in _strata(served, "ingest", "games", str(data))
    replayed = _strata(served, "ingest", "games", str(data))  # same file: replayed
    assert "ingested 0 new segments" in replayed and "3 already present" in replayed
    out = json.loads(_strata(served, "search", "games", "corner", "--level", "segment", "--top-k", "2", "--json"))
    assert out["route"]["levels"] == ["segment"]
    assert out["hits"][0]["id"] == "m1@2000" and out["hits"][0]["labels"] == ["corner kick"]
    assert [h["rank"] for h in out["hits"]] == [1, 2]
    assert set(out["hits"][0]) == {
        "rank",
        "id",
        "level",
        "video_id",
        "start_ms",
        "end_ms",
        "parent_id",
        "text",
        "labels",
        "attributes",
        "child_count",
        "label_counts",
        "shot_cut",
        "focus",
        "score",
        "similarity",
        "raw_score",
        "evidence",
        "ancestors",
    }
    assert set(out) == {"route", "hits", "next_page_token"} and out["next_page_token"]  # a third segment is left
    assert out["hits"][0]["focus"] == [2000, 4000]
    only_m2 = json.loads(_strata(served, "search", "games", "corner", "--video", "m2", "--json"))
    assert [h["video_id"] for h in only_m2["hits"]] == ["m2"]
    grouped = json.loads(
        _strata(served, "search", "games", "corner", "--level", "segment", "--group-by-video", "--json")
    )
    assert grouped["hits"] == [] and [g["video_id"] for g in grouped["groups"]] == ["m1", "m2"]
    assert [h["id"] for h in grouped["groups"][0]["hits"]] == ["m1@2000", "m1@0"]
    assert "games" in _strata(served, "collections", "list")
    assert "segment" in _strata(served, "stats")
    _strata(served, "collections", "create", "empty", "--dim", "4")  # nothing ingested: still listed
    assert "empty" in _strata(served, "stats", "empty")


def test_error_exits_non_zero_with_message(served: str) -> None:
    env = {**os.environ, "STRATA_TARGET": served}
    result = subprocess.run([STRATA, "search", "ghost", "x"], capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "NOT_FOUND" in result.stderr


def test_an_empty_tls_ca_file_is_refused_not_taken_for_plaintext(served: str, tmp_path: Path) -> None:
    empty = tmp_path / "ca.pem"
    empty.write_text("")
    env = {**os.environ, "STRATA_TARGET": served}
    result = subprocess.run([STRATA, "stats", "--tls-ca", str(empty)], capture_output=True, text=True, env=env)
    assert result.returncode == 1 and "is empty" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(ValueError, match="root_certificates is empty"):
        StrataClient(served, root_certificates=b"")
    with pytest.raises(ValueError, match="root_certificates is not a valid PEM certificate"):
        StrataClient(served, root_certificates=b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_parse_shows_how_a_routed_search_reads_a_text(served: str) -> None:
    reading = json.loads(_strata(served, "parse", "the first half with multiple corners then a goal", "--json"))
    assert reading["scope"] == "half" and reading["ordinal"] == 1 and reading["count"]  # as search --json names it
    sequence = json.loads(_strata(served, "parse", "a foul then a replay", "--json"))
    assert sequence["parts"] == sequence["sequence"] == ["foul", "a replay"]
    assert "parts" in _strata(served, "parse", "a foul then a replay")


def test_seal_build_tree_and_search_every_level(served: str, tmp_path: Path) -> None:
    rows = [
        {
            "video_id": "g1",
            "start_ms": i * 2000,
            "end_ms": i * 2000 + 2000,
            "labels": [label],
            "text": f"a {label} in midfield",
            "attributes": {"team": "home" if i < 6 else "away", "period": 1},
        }
        for i, label in enumerate(
            ["pass", "pass", "dribble", "pass", "cross", "shot", "pass", "tackle", "pass", "foul"]
        )
    ]
    rows += [{**r, "video_id": video} for video in ("g2", "g3") for r in rows]  # sealed side by side
    data = tmp_path / "g1.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _strata(served, "collections", "create", "games", "--encoder", "default")
    assert "sealed 3 videos" in _strata(served, "ingest", "games", str(data), "--seal")
    roots = json.loads(_strata(served, "search", "games", "a shot", "--level", "video", "--json"))["hits"]
    assert sorted(h["video_id"] for h in roots) == ["g1", "g2", "g3"]
    drawn = _strata(served, "tree", "games", "g1", "--depth", "2")
    assert "video g1/video/0" in drawn and "half g1/half/0" in drawn and "drive g1/drive/1" in drawn
    for level in ("scene", "drive", "half", "video"):
        out = json.loads(_strata(served, "search", "games", "a shot", "--level", level, "--json"))
        assert out["hits"] and {h["level"] for h in out["hits"]} == {level}
    # A count: each half says how many passes it holds; a search that counts nothing, none.
    halves = json.loads(_strata(served, "search", "games", "the half with the most passes", "--json"))["hits"]
    assert halves and {h["level"] for h in halves} == {"half"}
    for h in halves:
        inside = [r for r in rows if r["video_id"] == h["video_id"] and h["start_ms"] <= r["start_ms"] < h["end_ms"]]
        assert h["count"] == sum(r["labels"] == ["pass"] for r in inside)
    assert "count" not in roots[0]
    assert " count " in _strata(served, "search", "games", "the half with the most passes")  # the table's column
    # A parent's row shows its best moment and when it is, not its first captions.
    shown = _strata(served, "search", "games", "a shot", "--level", "half", "--top-k", "1")
    assert "at 0:00:10: a shot in" in shown and "a pass in" not in shown, shown
    assert "built the trees of 3 videos" in _strata(served, "build", "games", "--scene-penalty", "3")
    shown = _strata(
        served, "node", "games", "g1/half/0", "--children", "--ancestors", "--neighbors", "1", "--similar", "2"
    )
    assert "half g1/half/0" in shown and "drive g1/drive/0" in shown and "video g1/video/0" in shown


def _fails(target: str, *args: str, logs: bool = False, **variables: str) -> str:
    """Run a command that must fail on its input: exit 1, no traceback, and one error line
    (the last, after a server's ``logs``); ``variables`` join its environment."""
    env = {**os.environ, "STRATA_TARGET": target, "COLUMNS": "80", **variables}
    result = subprocess.run([STRATA, *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert (logs or len(lines) == 1) and lines[-1].startswith("error"), result.stderr
    return lines[-1]


def test_a_bad_line_of_an_ingest_file_is_named_and_a_refused_batch_leaves_no_video(served: str, tmp_path: Path) -> None:
    _strata(served, "collections", "create", "vec", "--dim", "4")
    for content, expected in (
        ("[1, 2]\n", "rows.jsonl:1: a segment is a JSON object"),
        ('{"video_id": "v", "start_ms": "zero", "end_ms": 9}\n', "rows.jsonl:1: start_ms"),
        ('{"start_ms": 0, "end_ms": 9}\n', "rows.jsonl:1: video_id"),
        ("\n{not json\n", "rows.jsonl:2: not valid JSON"),
        ('{"video_id": "v", "start_ms": 0, "end_ms": 9, "attributes": [1]}\n', "rows.jsonl:1: attributes: must be"),
        ('{"video_id": "v", "start_ms": 0, "end_ms": 9, "labels": "goal"}\n', "rows.jsonl:1: labels: must be"),
        ('{"video_id": "v", "start_ms": 0, "end_ms": 9, "vector": [1, "x", 0, 0]}\n', "rows.jsonl:1: vector: must"),
    ):
        (tmp_path / "rows.jsonl").write_text(content)
        assert expected in _fails(served, "ingest", "vec", str(tmp_path / "rows.jsonl"))
    (tmp_path / "rows.jsonl").write_text('{"video_id": "v", "start_ms": 0, "end_ms": 9, "vector": [1, 0, 0]}\n')
    assert "segments[0].vector" in _fails(served, "ingest", "vec", str(tmp_path / "rows.jsonl"))
    with StrataClient(served) as client:  # the video made for the refused batch is gone
        assert list(client.list_videos("vec")) == []


def test_serve_on_a_busy_port_says_so_in_one_line(served: str, tmp_path: Path) -> None:
    port = served.rsplit(":", 1)[1]
    line = _fails(served, "serve", "--data-dir", str(tmp_path / "other"), "--port", port, logs=True)
    assert f"cannot listen on 127.0.0.1:{port}" in line


def test_serve_refusing_a_port_says_what_the_values_below_1_mean(tmp_path: Path) -> None:
    # It said "use -1-65535", which read as a typo.
    line = _fails("", "serve", "--data-dir", str(tmp_path / "d"), "--metrics-port", "70000")
    assert line == "error --metrics-port: is 70000; use -1 (no metrics), 0 (any free port) or 1-65535", line
    line = _fails("", "serve", "--data-dir", str(tmp_path / "d"), "--port", "-5")
    assert line == "error --port: is -5; use 0 (any free port) or 1-65535", line


def test_a_refused_data_directory_is_named_by_the_option_that_gave_it(served: str, tmp_path: Path) -> None:
    # It read "data_dir: ...", a name the operator had typed nowhere.
    data = tmp_path / "gone"
    (data / "indexes" / "c1").mkdir(parents=True)
    (data / "indexes" / "c1" / "segment.usearch").write_bytes(b"graph")  # a store gone, its indexes left
    line = _fails(served, "serve", "--data-dir", str(data), "--port", "0")
    assert line.startswith(f"error --data-dir: {data} holds indexes/ but not strata.duckdb"), line
    # Given by its variable, it is named by the variable.
    line = _fails(served, "serve", "--port", "0", STRATA_DATA_DIR=str(data))
    assert line.startswith(f"error STRATA_DATA_DIR: {data} holds indexes/ but not strata.duckdb"), line


def test_an_unknown_level_or_metric_is_a_usage_error_listing_the_choices(served: str) -> None:
    env = {**os.environ, "STRATA_TARGET": served}
    for args in (["search", "c", "goal", "--level", "bogus"], ["collections", "create", "c", "--metric", "bogus"]):
        result = subprocess.run([STRATA, *args], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 2 and "bogus" in result.stderr and "Traceback" not in result.stderr


def test_a_tree_of_no_levels_is_a_usage_error(served: str) -> None:
    result = subprocess.run([STRATA, "tree", "games", "g1", "--depth", "0"], capture_output=True, text=True)
    assert result.returncode == 2 and "--depth" in result.stderr


def test_a_collection_of_neither_vectors_nor_text_is_a_usage_error_naming_the_flags(served: str) -> None:
    result = subprocess.run([STRATA, "collections", "create", "c1x"], capture_output=True, text=True)
    assert result.returncode == 2 and "--encoder default" in result.stderr and "space.dimension" not in result.stderr


def test_a_negative_count_of_neighbours_or_look_alikes_is_a_usage_error(served: str) -> None:
    # It printed the node, then a server refusal naming 'before', a field never typed.
    env = {**os.environ, "STRATA_TARGET": served}
    for option in ("--neighbors", "--similar"):
        result = subprocess.run([STRATA, "node", "c", "v@0", option, "-1"], capture_output=True, text=True, env=env)
        assert result.returncode == 2 and option in result.stderr and not result.stdout, result.stderr


def test_an_empty_target_is_named_in_one_line() -> None:
    # gRPC made a channel anyway: a C-core trace, then 'error UNKNOWN', exit 0.
    result = subprocess.run([STRATA, "stats", "--target", " "], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.strip().startswith("error --target"), result.stderr
    with pytest.raises(ValueError, match="target is empty"):
        StrataClient("")


@pytest.mark.parametrize(
    ("given", "dialled"),
    [
        ("localhost", "localhost:50051"),  # gRPC dialled 443
        ("10.0.0.7", "10.0.0.7:50051"),
        ("[::1]", "[::1]:50051"),
        ("db.example.com:6000", "db.example.com:6000"),
        ("[::1]:6000", "[::1]:6000"),
        ("unix:///tmp/strata.sock", "unix:///tmp/strata.sock"),
    ],
)
def test_a_target_with_no_port_dials_the_servers_default_port(given: str, dialled: str) -> None:
    assert arguments.dialled(given, cli.DEFAULT_TARGET) == dialled


def test_a_target_with_a_port_out_of_range_or_a_scheme_is_a_usage_error_naming_where_it_was_given(
    served: str,
) -> None:
    # A port past 65535 dialled another (99999 dialled 34463: modulo 65536), here the
    # server's own; a URL failed in gRPC's resolver.
    past = int(served.rsplit(":", 1)[1]) + 65536
    for target, said in ((f"127.0.0.1:{past}", f"has port {past}"), (f"http://{served}", "has a scheme (http://)")):
        for args, variables, named in (
            (["--target", target], {}, "--target"),
            ([], {"STRATA_TARGET": target}, "STRATA_TARGET"),
        ):
            env = {**os.environ, "COLUMNS": "200", **variables}
            result = subprocess.run(
                [STRATA, "parse", "goal", *args], capture_output=True, text=True, env=env, timeout=60
            )
            assert result.returncode == 2 and not result.stdout, result.stdout + result.stderr
            assert f"Invalid value for {named}: {target!r} {said}: give the server's address as host:port" in (
                result.stderr
            ), result.stderr
            assert "a port 1-65535 and no scheme" in result.stderr, result.stderr


def test_a_text_that_is_not_utf8_is_a_usage_error(served: str, tmp_path: Path) -> None:
    env = {**os.environ, "STRATA_TARGET": served}
    latin_file = os.fsencode(tmp_path) + b"/caf\xe9"
    open(latin_file, "w").close()  # a name that is a file here is still a name sent to the server
    for args in (
        [b"parse", b"corner \xff kick"],
        [b"search", b"games", b"\xfe"],
        [b"collections", b"create", b"x\xff", b"--dim", b"3"],  # names, ids and paths too
        [b"collections", b"create", latin_file, b"--dim", b"3"],
        [b"snapshot", b"/tmp/snap\xe9"],
    ):
        result = subprocess.run([STRATA.encode(), *args], capture_output=True, env=env)
        assert result.returncode == 2 and b"not valid UTF-8" in result.stderr and b"Traceback" not in result.stderr
    # A local path is the file system's to name: a data directory of Latin-1 bytes is taken.
    latin = [STRATA.encode(), b"compact", b"--data-dir", b"/tmp/caf\xe9-strata-none"]
    local = subprocess.run(latin, capture_output=True)
    assert b"UTF-8" not in local.stderr and b"Traceback" not in local.stderr, local.stderr


def test_demo_and_bench_refuse_what_they_cannot_run_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    for args in (["demo", "--data-dir", str(tmp_path / "a-file")], ["demo", "--matches", "0"]):
        result = subprocess.run([STRATA, *args], capture_output=True, text=True, timeout=120)
        assert result.returncode in (1, 2) and "Traceback" not in result.stderr, result.stderr
    # Taken, it generated matches until the machine ran out of memory.
    result = subprocess.run([STRATA, "demo", "--data-dir", str(tmp_path / "big"), "--matches", "10000000000"],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2 and "less than or equal to 100" in result.stderr and not (tmp_path / "big").exists()
    for option in ("--segments", "--dim", "--queries"):
        result = subprocess.run([STRATA, "bench", option, "0"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "must be at least 1" in result.stderr and "Traceback" not in result.stderr


def test_demo_run_again_with_more_matches_keeps_those_it_has_and_adds_the_rest(tmp_path: Path) -> None:
    # A second run asking for another count cut the file into other batches, appended to
    # the sealed first match, and ended in a traceback.
    said = []
    for matches in ("1", "2"):
        run = subprocess.run(
            [STRATA, "demo", "--data-dir", str(tmp_path / "demo"), "--matches", matches],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
        assert "ingest, seal and build trees" not in run.stdout  # piped: no progress bar among the results
        said.append(next(line for line in run.stdout.splitlines() if line.startswith("ingested")))
    first = int(said[0].split()[1])
    assert said[1].startswith("ingested ") and f"({first} already present" in said[1], said


def test_stop_signals_never_catch_the_server_inside_its_own_wait() -> None:
    """The main thread waits on the stop event and runs the signal handlers: a handler
    that set the event itself could land while the wait held the event's lock, and hung."""
    loop = (
        "import time\nfrom tools.signals import stop_event\nstop = stop_event()\nprint('ready', flush=True)\n"
        "end = time.monotonic() + 3\nwhile time.monotonic() < end:\n    stop.wait(0)\n    stop.clear()\nprint('done')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", loop], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2]
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    # Signals stop a second before the loop does: one landing while the interpreter exits,
    # after it has put back the default handlers, would kill it (a test race, not a hang).
    until = time.monotonic() + 2
    for _ in range(3000):
        if proc.poll() is not None or time.monotonic() > until:
            break
        proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.strip() == "done"


def test_serve_prints_the_metrics_address_it_took(tmp_path: Path) -> None:
    # With --metrics-port 0 the port taken was only in the log.
    proc = subprocess.Popen(
        [STRATA, "serve", "--data-dir", str(tmp_path / "d"), "--port", "0", "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        lines = [proc.stdout.readline().strip()]  # type: ignore[union-attr]
        while lines[-1] not in ("ready", ""):
            lines.append(proc.stdout.readline().strip())  # type: ignore[union-attr]
        assert lines[0].startswith("listening on ") and lines[-1] == "ready", lines
        [url] = [line.removeprefix("metrics on ") for line in lines if line.startswith("metrics on ")]
        assert not url.endswith(":0/metrics"), lines
        with urllib.request.urlopen(url, timeout=10) as page:
            assert "strata_" in page.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_compact_refuses_a_served_directory_and_shrinks_a_stopped_one(served: str, tmp_path: Path) -> None:
    refused = subprocess.run([STRATA, "compact", "--data-dir", str(tmp_path / "d")], capture_output=True, text=True)
    assert refused.returncode == 1 and "stop it before compacting it" in refused.stderr, refused.stderr
    with StrataClient(served) as client:
        client.create_collection("c", dimension=64)
        for v in range(4):
            client.create_video("c", f"v{v}")
            vectors = np.random.default_rng(v).standard_normal((1000, 64))
            rows = [
                {"video_id": f"v{v}", "start_ms": i * 1000, "end_ms": i * 1000 + 1000, "vector": r}
                for i, r in enumerate(vectors)
            ]
            client.append_segments("c", rows)
        for v in range(3):
            client.delete_video("c", f"v{v}")
    snap, stopped = tmp_path / "snap", tmp_path / "restored"
    for args in (["snapshot", str(snap), "--target", served], ["restore", str(snap), "--data-dir", str(stopped)]):
        assert subprocess.run([STRATA, *args], capture_output=True, text=True).returncode == 0
    refused = subprocess.run([STRATA, "compact", "--data-dir", str(snap)], capture_output=True, text=True)
    assert refused.returncode == 1 and "is a snapshot" in refused.stderr, refused.stderr  # its checksums would fail
    done = subprocess.run([STRATA, "compact", "--data-dir", str(stopped)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith(f"compacted {stopped}: "), done.stdout + done.stderr
    before, after = (float(size) for size in re.findall(r"([\d.]+) MB", done.stdout))
    assert after < before and "rows kept" in done.stdout


@pytest.mark.parametrize("lines_read", [0, 1])
def test_serve_whose_stdout_is_closed_stops_cleanly_and_says_why(tmp_path: Path, lines_read: int) -> None:
    # `strata serve | head -1`: the reader goes before "listening on" (0) or after it (1).
    # It aborted (exit 134) with the store left open, or said "recovery failed: Broken pipe";
    # then it stopped saying nothing of why.
    proc = subprocess.Popen(
        [STRATA, "serve", "--data-dir", str(tmp_path / "d"), "--port", "0", "--log-level", "INFO"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for _ in range(lines_read):
        assert proc.stdout.readline().startswith("listening on ")
    proc.stdout.close()  # the next line it prints meets a closed pipe
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "Broken pipe" not in stderr and "recovery failed" not in stderr, stderr
    assert "stopped; indexes saved" in stderr, stderr  # stopped as on SIGTERM, the store closed
    assert "error standard output was closed (whatever read it ended): the server stops" in stderr, stderr


def test_serve_on_every_interface_prints_addresses_a_user_can_dial(tmp_path: Path) -> None:
    # Bound to 0.0.0.0 it printed "listening on 0.0.0.0:PORT" and "metrics on
    # http://0.0.0.0:PORT/metrics": no machine's address, which browsers refuse.
    proc = subprocess.Popen(
        [STRATA, "serve", "--data-dir", str(tmp_path / "d"), "--host", "0.0.0.0", "--port", "0", "--metrics-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "STRATA_LOG_LEVEL": "ERROR"},
    )  # fmt: skip
    try:
        lines = [proc.stdout.readline().strip()]  # type: ignore[union-attr]
        while lines[-1] not in ("ready", ""):
            lines.append(proc.stdout.readline().strip())  # type: ignore[union-attr]
        assert re.fullmatch(r"listening on localhost:\d+", lines[0]) and lines[-1] == "ready", lines
        with StrataClient(lines[0].removeprefix("listening on "), timeout=30) as client:
            assert client.stats().version
        [url] = [line.removeprefix("metrics on ") for line in lines if line.startswith("metrics on ")]
        assert re.fullmatch(r"http://localhost:\d+/metrics", url), url
        with urllib.request.urlopen(url, timeout=10) as page:
            assert "strata_" in page.read().decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    # ... while still saying where it is bound, and what other machines dial.
    assert "bound to every IPv4 interface (0.0.0.0)" in stderr and "from another, dial " in stderr, stderr


def test_a_refused_field_is_named_with_the_option_that_set_it(served: str, tmp_path: Path) -> None:
    # The server names its request's fields (space.dimension, top_k), which the operator typed nowhere.
    assert _fails(served, "collections", "create", "g", "--dim", "4", "--encoder", "default").endswith(
        "(given as --dim)"
    )
    _strata(served, "collections", "create", "vec", "--dim", "4")
    (tmp_path / "rows.jsonl").write_text('{"video_id": "v", "start_ms": 0, "end_ms": 9, "vector": [1, 0, 0, 0]}\n')
    _strata(served, "ingest", "vec", str(tmp_path / "rows.jsonl"), "--seal")
    assert _fails(served, "build", "vec", "--scene-penalty", "-1").endswith("(given as --scene-penalty)")
    assert _fails(served, "build", "vec", "--video", "v", "--video", "nope").endswith("(given as --video)")
    # A refused look-up prints nothing of the node: it was printed above the error, exit 1.
    env = {**os.environ, "STRATA_TARGET": served}
    result = subprocess.run(
        [STRATA, "node", "vec", "v/video/0", "--similar", "5000"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1 and not result.stdout, result.stdout
    assert result.stderr.strip().endswith("(given as --similar)"), result.stderr
