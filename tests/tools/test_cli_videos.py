"""``strata videos``: a collection's videos listed, sealed and deleted by name."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np

from service.client import StrataClient
from service.gen.strata.v1 import video_pb2
from tests.tools.conftest import STRATA, run_checked, strata_ok


def _rows(video: str, count: int) -> str:
    rows = [
        {"video_id": video, "start_ms": i * 1000, "end_ms": (i + 1) * 1000, "vector": [1, i % 3, 0, 1]}
        for i in range(count)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows)


def _table(out: str) -> dict[str, list[str]]:
    """A drawn table's rows by their first cell."""
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    return {row[0]: row[1:] for row in cells}


def test_videos_are_listed_sealed_and_deleted_by_name(address: str, tmp_path: Path) -> None:
    strata_ok(address, "collections", "create", "clips", "--dim", "4")
    (tmp_path / "rows.jsonl").write_text(_rows("a", 3) + _rows("b", 2))
    strata_ok(address, "ingest", "clips", str(tmp_path / "rows.jsonl"))
    assert {k: v[:2] for k, v in _table(strata_ok(address, "videos", "list", "clips")).items()} == {
        "a": ["open", "3"],
        "b": ["open", "2"],
    }
    # Sealed by name (the same video named twice is sealed once): each has its tree.
    assert strata_ok(address, "videos", "seal", "clips", "a", "b", "a") == "sealed 2 videos\n"
    listed = [json.loads(line) for line in strata_ok(address, "videos", "list", "clips", "--json").splitlines()]
    # Every field by its proto name, the state as the table names it (as the other --json outputs do).
    assert [(v["id"], v["state"], v["segment_count"]) for v in listed] == [("a", "sealed", 3), ("b", "sealed", 2)]
    assert all(v["create_time"].endswith("Z") and v["duration_ms"] == 0 and v["collection"] == "clips" for v in listed)
    with StrataClient(address) as client:
        assert client.get_node("clips", "a/video/0").end_ms == 3000
    assert strata_ok(address, "videos", "delete", "clips", "b") == "deleted video b of clips\n"
    assert list(_table(strata_ok(address, "videos", "list", "clips"))) == ["a"]
    for command in ("seal", "delete"):
        refused = run_checked(address, "videos", command, "clips", "ghost")
        assert refused.returncode == 1 and "NOT_FOUND" in refused.stderr and "'ghost'" in refused.stderr, refused.stderr
    # A wrong name among several seals none of them (it sealed those its threads had begun).
    (tmp_path / "more.jsonl").write_text(_rows("c", 2) + _rows("d", 2))
    strata_ok(address, "ingest", "clips", str(tmp_path / "more.jsonl"))
    assert run_checked(address, "videos", "seal", "clips", "c", "ghost", "d").returncode == 1
    assert {k: v[0] for k, v in _table(strata_ok(address, "videos", "list", "clips")).items()} == {
        "a": "sealed",
        "c": "open",
        "d": "open",
    }
    gone = run_checked(address, "videos", "list", "nope")
    assert gone.returncode == 1 and "NOT_FOUND" in gone.stderr


def test_ctrl_c_while_sealing_says_how_many_are_sealed_and_how_to_seal_the_rest(address: str) -> None:
    names = [f"m{v:02d}" for v in range(60)]
    vectors = np.random.default_rng(5).normal(size=(200, 8))
    with StrataClient(address) as client:
        client.create_collection("slow", dimension=8)
        for name in names:
            client.create_video("slow", name)
            rows = [
                {"video_id": name, "start_ms": i * 1000, "end_ms": (i + 1) * 1000, "vector": r}
                for i, r in enumerate(vectors)
            ]
            client.append_segments("slow", rows)
        env = {**os.environ, "STRATA_TARGET": address}
        command = [STRATA, "videos", "seal", "slow", *names]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        while not any(v.state == video_pb2.VIDEO_STATE_SEALED for v in client.list_videos("slow")):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, errors = proc.communicate(timeout=30)
        sealed = sum(v.state == video_pb2.VIDEO_STATE_SEALED for v in client.list_videos("slow"))
    lines = errors.strip().splitlines()
    assert proc.returncode == 130 and not out and len(lines) == 1, errors
    said = re.fullmatch(r"interrupted: (\d+) of 60 videos sealed \(and maybe those under way\); the same command "
                        r"seals the others", lines[0])  # fmt: skip
    assert said is not None and int(said[1]) <= sealed < 60, (lines, sealed)
