"""``strata ingest`` of a Parquet file: its columns are a JSONL line's fields, every row
stored as a line is, and a row that is not a segment named by file and row before its
batch is sent."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from google.protobuf.json_format import MessageToDict

from service.client import StrataClient
from tests.tools.conftest import run_checked
from tools.parquet import read_parquet

# Five segments of video "pq" (the fourth in video "pq2"), every field given a column.
ROWS = """
    SELECT CASE WHEN i = 3 THEN 'pq2' ELSE 'pq' END AS video_id,
           i * 1000 AS start_ms, i * 1000 + 1000 AS end_ms,
           [1.0, 0.0, 0.0, i]::FLOAT[] AS vector,
           CASE WHEN i = 1 THEN NULL ELSE 'a pass ' || i END AS text,
           ['pass'] AS labels,
           {'team': CASE WHEN i = 2 THEN NULL ELSE 'home' END, 'minute': i} AS attributes,
           'seg-' || i AS id, i = 4 AS shot_cut, 60000 AS video_duration_ms
    FROM range(5) t(i)
"""


def _parquet(path: Path, select: str) -> Path:
    """``select``'s rows written to ``path`` as Parquet, by DuckDB."""
    with duckdb.connect() as con:
        con.execute(f"COPY ({select}) TO '{path}' (FORMAT parquet)")
    return path


def test_every_row_is_stored_with_its_fields_and_a_rerun_replays(address: str, tmp_path: Path) -> None:
    data = _parquet(tmp_path / "segments.parquet", ROWS)
    with StrataClient(address) as client:
        client.create_collection("pq", dimension=4)
        out = run_checked(address, "ingest", "pq", str(data), "--batch-size", "2")
        assert out.returncode == 0 and "ingested 5 new segments in 3 batches" in out.stdout, out.stdout + out.stderr
        assert "2 new videos" in out.stdout
        assert [(v.id, v.segment_count, v.duration_ms) for v in client.list_videos("pq")] == [
            ("pq", 4, 60000),
            ("pq2", 1, 60000),
        ]
        node = MessageToDict(client.get_node("pq", "seg-2"), preserving_proto_field_name=True)
        assert node["attributes"] == {"minute": 2}  # a struct's null member is no attribute
        assert node["labels"] == ["pass"] and node["text"] == "a pass 2"
        assert "text" not in MessageToDict(client.get_node("pq", "seg-1"))  # a null is a field not given
        assert client.get_node("pq", "seg-4").shot_cut
        again = run_checked(address, "ingest", "pq", str(data), "--batch-size", "2")
        assert "ingested 0 new segments in 3 batches (5 already present)" in again.stdout, again.stdout


def test_attributes_may_be_a_map_or_a_json_string_and_decimals_and_times_are_read(address: str, tmp_path: Path) -> None:
    # DuckDB reads the literal [1.0, 0, 0, i] as decimals: a vector of them is taken as floats.
    base = "SELECT 'kinds' AS video_id, i * 1000 AS start_ms, i * 1000 + 500 AS end_ms, [1.0, 0, 0, i] AS vector"
    data = _parquet(
        tmp_path / "kinds.parquet",
        f'{base}, CASE WHEN i = 0 THEN \'{{"team": "away", "xg": [0.1, 0.2]}}\' END AS attributes FROM range(2) t(i)',
    )
    mapped = _parquet(tmp_path / "map.parquet", f"{base}, MAP {{'team': 'home'}} AS attributes FROM range(2, 3) t(i)")
    timed = _parquet(
        tmp_path / "timed.parquet",
        f"{base}, {{'kickoff': TIMESTAMP '2026-05-01 15:00:00', 'xg': 0.25::DECIMAL(4, 2)}} AS attributes "
        "FROM range(3, 4) t(i)",
    )
    with StrataClient(address) as client:
        client.create_collection("kinds", dimension=4)
        for path in (data, mapped, timed):
            assert run_checked(address, "ingest", "kinds", str(path)).returncode == 0
        found = {n.start_ms: MessageToDict(n)["attributes"] if n.attributes else {} for n in _nodes(client, "kinds")}
        assert found == {
            0: {"team": "away", "xg": [0.1, 0.2]},
            1000: {},
            2000: {"team": "home"},
            3000: {"kickoff": "2026-05-01T15:00:00", "xg": 0.25},
        }


def _nodes(client: StrataClient, collection: str) -> list:
    return [h.node for h in client.search(collection, vector=[1.0, 0.0, 0.0, 0.0], top_k=10).hits]


def test_a_row_that_is_not_a_segment_is_named_by_its_row_before_its_batch_is_sent(address: str, tmp_path: Path) -> None:
    rows = "SELECT 'bad' AS video_id, i * 1000 AS start_ms, CASE WHEN i = 2 THEN 0 ELSE i * 1000 + 1000 END AS end_ms"
    cases = {
        "ends.parquet": (f"{rows}, [1.0, 0, 0, 0] AS vector FROM range(4) t(i)", ":row 3: end_ms: must be after"),
        "json.parquet": (
            f"{rows.replace('i = 2', 'false')}, [1.0, 0, 0, 0] AS vector, CASE WHEN i = 1 THEN '{{x' END AS attributes"
            " FROM range(4) t(i)",
            ":row 2: attributes: a string of attributes must be JSON",
        ),
        "column.parquet": (f"{rows}, ['goal'] AS label FROM range(4) t(i)", ": column 'label' is not a segment field"),
        "blob.parquet": (
            f"{rows.replace('i = 2', 'false')}, [1.0, 0, 0, 0] AS vector, '\\x00'::BLOB AS text FROM range(4) t(i)",
            ":row 1: text: is binary; a segment holds text, numbers, lists and objects",
        ),
    }
    with StrataClient(address) as client:
        client.create_collection("bad-rows", dimension=4)
        for name, (select, expected) in cases.items():
            data = _parquet(tmp_path / name, select)
            out = run_checked(address, "ingest", "bad-rows", str(data))
            assert out.returncode == 1 and f"{data}{expected}" in out.stderr, out.stderr
        assert list(client.list_videos("bad-rows")) == []  # no batch was sent


def test_a_file_named_parquet_that_is_not_is_refused_in_one_line(address: str, tmp_path: Path) -> None:
    fake = tmp_path / "rows.parquet"
    fake.write_text(json.dumps({"video_id": "x", "start_ms": 0, "end_ms": 1, "vector": [1, 0, 0, 0]}) + "\n")
    out = run_checked(address, "ingest", "any", str(fake))
    assert out.returncode == 1 and f"{fake}: not a readable Parquet file" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_vectors_of_fixed_size_lists_are_each_rows_own_and_a_column_of_strings_is_refused(
    address: str, tmp_path: Path
) -> None:
    """Vectors are cut from one array per batch: each row must get its own, a null one
    taking no numbers from the next (a writer's fixed-size lists, float32)."""
    vectors = pa.array([[1, 0, 0, 0], None, [0, 1, 0, 0], [0, 0, 1, 0]], type=pa.list_(pa.float32(), 4))
    times = {"start_ms": [0, 1000, 2000, 3000], "end_ms": [1000, 2000, 3000, 4000]}
    table = pa.table({"video_id": ["fixed"] * 4, **times, "vector": vectors})
    pq.write_table(table, nulled := tmp_path / "nulled.parquet")
    read = [row.get("vector") for _, row in read_parquet(nulled)]
    assert [None if v is None else v.tolist() for v in read] == vectors.to_pylist()
    pq.write_table(table.filter(pa.array([True, False, True, True])), data := tmp_path / "fixed.parquet")
    pq.write_table(table.set_column(3, "vector", pa.array([["1"]] * 4)), strings := tmp_path / "strings.parquet")
    with StrataClient(address) as client:
        client.create_collection("fixed", dimension=4)
        assert run_checked(address, "ingest", "fixed", str(data), "--batch-size", "2").returncode == 0
        for start, axis in ((0, 0), (2000, 1), (3000, 2)):
            probe = [float(axis == i) for i in range(4)]
            best = client.search("fixed", vector=probe, top_k=1).hits[0]
            assert (best.node.start_ms, round(best.similarity, 4)) == (start, 1.0)
        out = run_checked(address, "ingest", "fixed", str(strings))
        assert (
            out.returncode == 1 and "column 'vector' must be a list of numbers, not list<element: string>" in out.stderr
        )


def test_a_nested_structs_null_members_are_left_out_as_at_the_top(tmp_path: Path) -> None:
    """A struct column gives every row every member, nested ones too: a null member is an
    attribute the row does not have, at any depth, as at the top."""
    attributes = pa.array(
        [
            {"event": {"kind": "goal", "scorer": "Kane"}, "tags": [{"at": 3, "by": None}]},
            {"event": {"kind": "pass", "scorer": None}, "tags": None},
        ]
    )
    table = pa.table({"video_id": ["v", "v"], "start_ms": [0, 1000], "end_ms": [1000, 2000], "attributes": attributes})
    pq.write_table(table, data := tmp_path / "nested.parquet")
    read = [row["attributes"] for _, row in read_parquet(data)]
    assert read == [{"event": {"kind": "goal", "scorer": "Kane"}, "tags": [{"at": 3}]}, {"event": {"kind": "pass"}}]
