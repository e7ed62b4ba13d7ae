"""The text encoder on ONNX Runtime: the same embeddings as torch, a graph exported once
and cached, a damaged cache exported again, and torch whenever asked or needed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import hierarchy
from hierarchy import onnxrun
from hierarchy.encoder import TransformersEncoder, default_model_path, get_encoder

TEXTS = [
    "corner kick",
    "a long home possession that ends in a shot from the edge of the box",
    "A man is seen speaking to the camera while holding a guitar and then begins to play.",
]


@pytest.fixture(scope="module")
def on_torch() -> TransformersEncoder:
    """The default model with ONNX Runtime switched off."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(onnxrun.RUNTIME_ENV, "torch")
        encoder = TransformersEncoder("default", default_model_path())
    assert encoder.runtime == "torch"
    return encoder


def test_the_default_encoder_runs_on_onnx_runtime_and_embeds_as_torch_does(on_torch: TransformersEncoder) -> None:
    encoder = get_encoder()
    assert getattr(encoder, "runtime", "") == "onnx"
    together = encoder.encode(TEXTS)  # one padded batch
    assert np.abs(together - on_torch.encode(TEXTS)).max() < 1e-5
    one_by_one = np.stack([encoder.encode([t])[0] for t in TEXTS])
    assert np.abs(one_by_one - on_torch.encode(TEXTS)).max() < 1e-5
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-6)


def test_the_graph_is_exported_once_and_a_damaged_one_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_torch: TransformersEncoder
) -> None:
    monkeypatch.setenv(onnxrun.CACHE_ENV, str(tmp_path))
    model, tokenizer, path = on_torch._model, on_torch._tokenizer, default_model_path()
    assert onnxrun.runner(path, tokenizer, model, 1) is not None
    (graph,) = tmp_path.glob("*.onnx")
    exported = graph.stat().st_mtime_ns
    assert onnxrun.runner(path, tokenizer, model, 1) is not None
    assert graph.stat().st_mtime_ns == exported  # loaded, not exported again
    graph.write_bytes(b"not a graph")
    assert onnxrun.runner(path, tokenizer, model, 1) is not None
    assert graph.stat().st_size > 1_000_000 and not list(tmp_path.glob(".*.tmp"))


def test_asked_for_torch_or_without_a_writable_cache_the_encoder_stays_on_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, on_torch: TransformersEncoder
) -> None:
    model, tokenizer, path = on_torch._model, on_torch._tokenizer, default_model_path()
    monkeypatch.setenv(onnxrun.RUNTIME_ENV, "torch")
    assert onnxrun.runner(path, tokenizer, model, 1) is None
    monkeypatch.delenv(onnxrun.RUNTIME_ENV)
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv(onnxrun.CACHE_ENV, str(blocked / "encoders"))
    assert onnxrun.runner(path, tokenizer, model, 1) is None


@pytest.mark.parametrize("first", ["hierarchy.index", "hierarchy.graphsave"])
def test_onnx_runtime_loads_after_the_vector_index_module(first: str) -> None:
    """A process that imports the index module before the encoder is not crashed by ONNX
    Runtime's import (USearch's own C++ runtime left the shared one's locale unset)."""
    code = f"import {first}\nimport onnxruntime\nprint('loaded')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "loaded"


@pytest.mark.parametrize(
    "words",
    [
        [f"w{i}," if i % 7 == 0 else f"word{i}" for i in range(3000)],  # plain words: cut
        ["\u200b"] * 300 + ["after"] * 2000,  # zero-width spaces: no tokens, so not cut there
        ["\u0301", "\x07", "\u00ad", "\ufeff"] * 80 + ["after"] * 2000,  # combining, control, soft hyphen, BOM
        ["a\x1cb\x85c"] * 2000,  # separators to Python that the tokenizer drops
    ],
    ids=["plain", "zero-width", "invisible", "joined"],
)
def test_a_long_text_embeds_as_the_model_reads_it_whole(words: list[str]) -> None:
    """Only a text's first tokens reach the model: what the encoder cuts before the
    tokenizer reads it changes no bit, whatever its words are made of."""
    encoder = get_encoder()
    long = "  ".join(words) + "\n"
    whole = encoder._encode_batch([long])  # the tokenizer cuts it itself
    assert np.array_equal(encoder.encode([long]), whole)


def test_a_long_text_of_plain_words_is_cut_and_a_short_one_kept() -> None:
    from hierarchy import encoder as encoders

    words = [f"word{i}" for i in range(3000)]
    assert encoders.head("  ".join(words)) == "  ".join(words[: encoders._MAX_TOKENS])
    assert get_encoder()._readable("  ".join(words)) == "  ".join(words[: encoders._MAX_TOKENS])
    assert get_encoder()._readable("a corner kick " * 10) == "a corner kick " * 10


@pytest.mark.parametrize(("first", "runtime"), [("usearch.index", "torch"), ("duckdb, usearch.index", "onnx")])
def test_a_script_that_imported_usearch_first_still_encodes(first: str, runtime: str) -> None:
    """USearch imported before anything that sets up the C++ runtime's locale: ONNX
    Runtime's import would crash the process, so the encoder tries it in a child first and
    stays on torch (with a warning saying what to import first). Imported after DuckDB,
    the child's import succeeds and ONNX Runtime serves."""
    code = (
        f"import {first}\n"
        "from hierarchy.encoder import get_encoder\n"
        "encoder = get_encoder()\n"
        "print(encoder.runtime, encoder.encode(['corner kick']).shape)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[0] == runtime
    assert ("import hierarchy (or duckdb) before usearch" in done.stderr) == (runtime == "torch")


def _fake_onnxruntime(monkeypatch: pytest.MonkeyPatch, folder: Path, body: str) -> None:
    """An ``onnxruntime`` module of ``body`` first on the path, as if usearch came first."""
    folder.mkdir()
    (folder / "onnxruntime.py").write_text(body)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    monkeypatch.setattr(hierarchy, "USEARCH_FIRST", True)


def test_the_child_trying_the_import_holds_none_of_the_parents_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data directory's lock or a server's socket held by the child would outlive a
    parent killed meanwhile."""
    report = tmp_path / "fds.txt"
    _fake_onnxruntime(
        monkeypatch,
        tmp_path / "fake",
        f"import os\nopen({str(report)!r}, 'w').write(' '.join(os.listdir('/proc/self/fd')))\n",
    )
    with open(tmp_path / "held", "w") as held:
        assert onnxrun._import_is_safe(timeout=30)
        child = {int(fd) for fd in report.read_text().split()}
        assert held.fileno() not in child and max(child) <= 4  # its own: the report, and listdir's


def test_a_child_that_hangs_is_killed_and_the_encoder_stays_on_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _fake_onnxruntime(monkeypatch, tmp_path / "fake", "import time\ntime.sleep(60)\n")
    began = time.monotonic()
    assert not onnxrun._import_is_safe(timeout=0.5)
    assert time.monotonic() - began < 10
    assert "could not be checked in 0 s" in caplog.text or "could not be checked in 1 s" in caplog.text


def test_without_fork_a_script_that_imported_usearch_first_stays_on_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hierarchy, "USEARCH_FIRST", True)
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    monkeypatch.delattr(onnxrun.os, "fork")
    assert not onnxrun._import_is_safe()
