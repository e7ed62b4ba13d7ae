"""The text encoder's transformer run by ONNX Runtime instead of torch.

One short query through all-MiniLM-L6-v2 took 4.85 ms in torch and 2.5 ms in ONNX
Runtime (two threads that sleep between runs; 2.1 ms when they spin, see ``_load``;
640 captions in batches of 64: 1.39 against 1.29 s), with the same embeddings to
2.3e-7. The graph is exported once from the local model (torch's exporter, eager
attention: traced through the fused attention kernel, the padding mask of a batch was
lost and sentences came out at cosine 0.93 of torch's) and cached under ``cache_dir()``
by a checksum of the model's files, written atomically. A runner is only used once it
reproduces torch's output on a padded batch (``AGREE``); anything that goes wrong (no
``onnxruntime`` or ``onnx`` installed, a read-only cache, a failed export) leaves the
encoder on torch, with a warning. ``STRATA_ENCODER_RUNTIME=torch`` keeps it there.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import hierarchy
from hierarchy import files, process

log = logging.getLogger(__name__)

RUNTIME_ENV = "STRATA_ENCODER_RUNTIME"  # "onnx" (the default) or "torch"
CACHE_ENV = "STRATA_ENCODER_CACHE"  # where exported graphs are kept
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17
# Seconds a child trying ONNX Runtime's import may take (see _import_is_safe); the import
# takes well under one. A first encoder load waits this long at most.
CHILD_TIMEOUT = 10.0
AGREE = 1e-4  # largest difference from torch's hidden states that a runner may show
# Texts of different lengths, so the check covers a padded batch.
_PROBE = ["a corner kick", "the home side keep the ball for a long spell and then shoot from distance"]


class OnnxRunner:
    """Last hidden states of a tokenised batch, from an ONNX Runtime session."""

    def __init__(self, session: Any, names: tuple[str, ...]) -> None:
        self._session = session
        self._names = names  # the inputs the exported graph takes

    def hidden(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """``(texts, tokens, width)`` float32 hidden states of a tokenised batch."""
        feed = {name: np.asarray(batch[name], np.int64) for name in self._names}
        return np.asarray(self._session.run(None, feed)[0], np.float32)


def wanted() -> bool:
    """Whether the encoder should try ONNX Runtime (``STRATA_ENCODER_RUNTIME``)."""
    return os.environ.get(RUNTIME_ENV, "onnx").strip().lower() != "torch"


def cache_dir() -> Path:
    """``STRATA_ENCODER_CACHE``, else ``$XDG_CACHE_HOME/strata/encoders`` (``~/.cache``)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "strata" / "encoders"


def runner(model_path: Path, tokenizer: Any, torch_model: Any, threads: int) -> OnnxRunner | None:
    """A runner for the model at ``model_path`` that agrees with ``torch_model``, or None
    (and a warning) when ONNX Runtime cannot take over."""
    if not wanted():
        return None
    if not _import_is_safe():
        return None
    try:
        import onnxruntime  # noqa: F401 - present, or torch stays
    except ImportError:
        log.warning("onnxruntime is not installed: the text encoder runs on torch (slower queries)")
        return None
    try:
        path = cache_dir() / f"{model_path.name}-{_checksum(model_path)}-opset{OPSET}.onnx"
        found = _load(path, threads)
        if found is None:
            _export(model_path, tokenizer, path)
            found = _load(path, threads)
        if found is None or not _agrees(found, tokenizer, torch_model):
            log.warning("the exported encoder at %s does not reproduce torch's output: running on torch", path)
            return None
        return found
    except Exception as exc:  # noqa: BLE001 - any failure leaves the encoder on torch
        log.warning("text encoder stays on torch: ONNX Runtime could not take over (%s)", exc)
        return None


def _import_is_safe(timeout: float = CHILD_TIMEOUT) -> bool:
    """Whether importing ``onnxruntime`` leaves this process standing. Only a process that
    imported USearch before this package can crash there (see ``hierarchy/__init__.py``);
    its import is then tried first in a forked child, which holds the same libraries."""
    if not hierarchy.USEARCH_FIRST or "onnxruntime" in sys.modules:
        return True
    if not hasattr(os, "fork"):  # nowhere to try it: torch is safe
        log.warning("usearch was imported before Strata: the text encoder runs on torch; import hierarchy first")
        return False
    pid = os.fork()
    if pid == 0:  # the child: try the import, report by exit status, run nothing else
        # Not the parent's files nor its objects' finalizers (a DuckDB cursor's waited on
        # a lock held at the fork).
        gc.disable()
        process.forget_parent_files()
        try:
            import onnxruntime  # noqa: F401
        except BaseException:  # noqa: BLE001 - a missing package is the parent's to report
            os._exit(1)
        os._exit(0)
    code = process.wait_for_child(pid, timeout, poll=0.02)
    if code is not None and code >= 0:  # negative: killed by a signal
        return True
    log.warning(
        "usearch was imported before Strata and ONNX Runtime's import %s: the text encoder runs on "
        "torch (slower queries); import hierarchy (or duckdb) before usearch",
        "crashes this process" if code is not None else f"could not be checked in {timeout:.0f} s",
    )
    return False


def _checksum(model_path: Path) -> str:
    """SHA-256 (16 hex digits) of the model's configuration and weights."""
    names = sorted(p.name for p in model_path.iterdir() if p.suffix in {".json", ".safetensors", ".bin"})
    listing = "".join(f"{name}:{files.sha256(model_path / name)}\n" for name in names)
    return hashlib.sha256(listing.encode()).hexdigest()[:16]


def _load(path: Path, threads: int) -> OnnxRunner | None:
    """A session over the graph at ``path``; None when there is none or it does not load."""
    import onnxruntime as ort

    if not path.is_file():
        return None
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(threads, 1)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Its threads sleep between runs instead of spinning: beside a thread encoding a query
    # every 2 ms, another thread's numpy and Python work ran 2,547 rounds in 3 s against
    # 6,863 with spinning off, for 3.06 against 3.34 ms an encoding. A server's searches
    # run beside its encodings.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - a damaged file is exported again
        log.warning("cached encoder graph %s does not load (%s): exporting it again", path, exc)
        return None
    return OnnxRunner(session, tuple(i.name for i in session.get_inputs()))


def _export(model_path: Path, tokenizer: Any, path: Path) -> None:
    """Export the model's graph to ``path`` (written beside it, then renamed)."""
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_path), local_files_only=True, attn_implementation="eager").eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    sample = tokenizer(_PROBE, padding=True, return_tensors="pt")
    dynamic = {name: {0: "texts", 1: "tokens"} for name in (*INPUTS, "hidden")}
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # The exporter warns about tracing a model's Python branches; the check after the
        # export (``_agrees``) is what decides whether the graph is used.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Hidden(),
                tuple(sample[name] for name in INPUTS),
                str(scratch),
                input_names=list(INPUTS),
                output_names=["hidden"],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,
            )
        files.fsync(scratch)
        os.replace(scratch, path)  # a reader sees no graph or a whole one
        log.info("text encoder graph exported to %s", path)
    finally:
        scratch.unlink(missing_ok=True)


def _agrees(found: OnnxRunner, tokenizer: Any, torch_model: Any) -> bool:
    """Whether ``found`` gives torch's hidden states on a padded batch (``AGREE``)."""
    import torch

    batch = tokenizer(_PROBE, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = torch_model(**batch).last_hidden_state.numpy()
    got = found.hidden({name: batch[name].numpy() for name in INPUTS})
    mask = batch["attention_mask"].numpy()[..., None].astype(bool)  # padded positions are never read
    return bool(np.abs(np.where(mask, got - expected, 0.0)).max() <= AGREE)
