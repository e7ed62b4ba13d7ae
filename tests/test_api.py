"""The API definition: buf lint passes and the committed stubs match the protos."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_stubs_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.gen_stubs", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_buf_lint_passes() -> None:
    buf = shutil.which("buf") or str(Path(sys.executable).parent / "buf")
    if not Path(buf).exists():
        pytest.fail("buf is not installed; it comes with the dev extras (buf-bin)")
    result = subprocess.run([buf, "lint"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_rpc_documents_its_error_codes() -> None:
    for proto in (ROOT / "proto").rglob("*.proto"):
        lines = proto.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip().startswith("rpc "):
                comment = "\n".join(lines[max(0, i - 8) : i])
                assert "Errors:" in comment, f"{proto.name}: {line.strip()}"
