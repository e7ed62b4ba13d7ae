"""``--json`` of the commands that draw tables (stats, verify, collections list): what a
script reads instead of a table, complete and named as the options name things."""

from __future__ import annotations

import json
from pathlib import Path

from service.client import StrataClient
from tests.tools.conftest import run_checked, run_strata, strata_ok

LONG = "a123456789" * 6 + "abcd"  # 64 characters: the longest name a collection takes


def test_stats_collections_and_verify_print_json_with_every_field(address: str, tmp_path: Path) -> None:
    strata_ok(address, "collections", "create", LONG, "--dim", "4", "--metric", "ip")
    rows = [{"video_id": "v", "start_ms": i * 1000, "end_ms": (i + 1) * 1000, "vector": [1, i, 0, 1]} for i in range(4)]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    strata_ok(address, "ingest", LONG, str(tmp_path / "rows.jsonl"), "--seal")
    stats = json.loads(strata_ok(address, "stats", LONG, "--json"))
    [mine] = stats["collections"]
    with StrataClient(address) as client:
        served = {lv.level: lv.node_count for lv in client.stats(LONG).collections[0].levels}
    assert mine["name"] == LONG and mine["video_count"] == 1
    # Levels named as --level names them; counts as numbers, zeros included.
    assert [lv["level"] for lv in mine["levels"]] == ["segment", "scene", "drive", "half", "video"]
    assert [lv["node_count"] for lv in mine["levels"]] == list(served.values()) and mine["levels"][0]["node_count"] == 4
    assert all(lv["indexed_count"] == lv["node_count"] for lv in mine["levels"])  # sealed: every level searchable
    listed = [json.loads(line) for line in strata_ok(address, "collections", "list", "--json").splitlines()]
    [found] = [c for c in listed if c["name"] == LONG]
    assert found["space"]["metric"] == "ip" and found["space"]["dimension"] == 4 and found["segment_count"] == 4
    checked = run_strata(address, "verify", LONG, "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["problems"] == []
    assert json.loads(checked.stdout)["nodes_checked"] > 0


def test_a_long_collection_name_is_folded_in_tables_never_cut(address: str) -> None:
    name = LONG[::-1]
    strata_ok(address, "collections", "create", name, "--dim", "4")
    for command in (["stats", name], ["collections", "list"]):
        drawn = run_checked(address, *command, COLUMNS="60")
        cells = "".join(line.split("│")[1].strip() for line in drawn.stdout.splitlines() if line.startswith("│"))
        assert name in cells, drawn.stdout  # it read dcba98765432198… piped to a file
