"""``strata serve`` over an ``indexes/`` tree whose shape is damaged (see
hierarchy.indexdir): what is in the way is moved aside and the server answers as before;
an index directory it cannot write is refused in one line, before it listens."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import IO

import numpy as np
import pytest

from service.client import StrataClient
from tests.hierarchy.helpers import unprivileged
from tests.service.conftest import DIM, rows, start_server, unit_vectors
from tools.crashtest import ServerProcess

COLLECTIONS = ("games", "clips")
LEVELS = ("segment", "scene", "drive", "half", "video")
# As root every directory is writable: the refusal is checked without that capability.


def answers(client: StrataClient) -> dict[str, list[str]]:
    """The top five of one vector at every level of every collection."""
    vector = unit_vectors(1, seed=99)[0].astype(np.float32)
    return {
        f"{name}/{level}": [hit.node.id for hit in client.search(name, vector=vector, level=level, top_k=5).hits]
        for name in COLLECTIONS
        for level in LEVELS
    }


@pytest.fixture
def before(tmp_path: Path) -> dict[str, list[str]]:
    """Two collections of two sealed videos each in ``tmp_path/data``; their answers."""
    server = start_server(tmp_path / "data")
    try:
        with StrataClient(server.address) as client:
            for n, name in enumerate(COLLECTIONS):
                client.create_collection(name, dimension=DIM)
                for video in ("v1", "v2"):
                    client.create_video(name, video)
                    client.append_segments(name, rows(video, unit_vectors(40, seed=10 * n + len(video))))
                    client.seal_video(name, video)
            found = answers(client)
    finally:
        server.stop(0)
    assert all(found.values())
    return found


def serve(data_dir: Path, log: IO[str], prefix: list[str] | None = None) -> ServerProcess:
    """``strata serve`` on ``data_dir`` (run under ``prefix``), its stderr to ``log``."""
    command = [*(prefix or []), sys.executable, "-m", "tools.cli", "serve", "--data-dir", str(data_dir)]
    return ServerProcess(data_dir, log, command=command)


def test_serve_moves_aside_what_is_in_the_way_and_answers_as_before(
    before: dict[str, list[str]], tmp_path: Path
) -> None:
    # Before: recovery failed on each of these ("error recovery failed: [Errno 21] Is a
    # directory ..." with a traceback in the log) and the server exited.
    indexes = tmp_path / "data" / "indexes"
    (indexes / "c1" / "segment.usearch").unlink()
    (indexes / "c1" / "segment.usearch").mkdir()  # a directory where an index file belongs
    shutil.rmtree(indexes / "c2")
    (indexes / "c2").write_text("")  # an empty file where a collection's index directory belongs
    (indexes / "c1" / "scene.json.tmp").mkdir()  # a directory where a save's temporary file belongs
    with (tmp_path / "server.log").open("w") as log:
        server = serve(tmp_path / "data", log)
        try:
            server.start()
            assert server.next_line() == "ready"
            with StrataClient(server.address, timeout=30) as client:
                assert answers(client) == before
            server.stop()
        finally:
            server.close()
    said = (tmp_path / "server.log").read_text()
    assert "Traceback" not in said
    assert said.count("moved aside to") == 3, said
    aside = tmp_path / "data" / "aside"
    assert {path.relative_to(next(aside.iterdir())).as_posix() for path in aside.glob("*/indexes/**/*")} >= {
        "indexes/c1/segment.usearch",
        "indexes/c2",
        "indexes/c1/scene.json.tmp",
    }


def test_serve_refuses_an_index_directory_it_cannot_write(before: dict[str, list[str]], tmp_path: Path) -> None:
    # Before: it listened, then failed recovery with a traceback (a level to rebuild could
    # not be saved), or served without ever saving an index.
    command = unprivileged()
    indexes = tmp_path / "data" / "indexes"
    shutil.rmtree(indexes / "c2")
    indexes.chmod(0o555)
    with (tmp_path / "server.log").open("w") as log:
        server = serve(tmp_path / "data", log, command)
        try:
            with pytest.raises(RuntimeError, match="did not start"):
                server.start()
            assert server.proc is not None and server.proc.wait(timeout=30) == 1
        finally:
            server.close()
            indexes.chmod(0o755)
    said = (tmp_path / "server.log").read_text()
    assert "Traceback" not in said
    assert f"--data-dir: the index directory {indexes} is not writable by this server" in " ".join(said.split())
    assert not (tmp_path / "data" / "aside").exists()
