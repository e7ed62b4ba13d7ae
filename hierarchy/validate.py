"""Validation of requests before anything is written. Errors name the field."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hierarchy.aggregate import AGGREGATORS
from hierarchy.builder import HierarchyConfig
from hierarchy.encoder import DEFAULT_ENCODER
from hierarchy.errors import InvalidArgument, ResourceExhausted
from hierarchy.types import EmbeddingSpace, Level, Metric, SegmentInput

_COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_MAX_ID = 128
# The longest node id: a 128-character video id and the suffix Strata adds to it (``@``
# and a start time of up to 16 digits; ``/scene/`` and an ordinal): 32 characters hold both.
MAX_NODE_ID = _MAX_ID + 32
MAX_DIMENSION = 4096
MAX_TIME_MS = 2**53  # far beyond any video; keeps times exact in every client language
MAX_TEXT_CHARS = 65_536  # a segment's caption or transcript (a few seconds of speech is far less)
MAX_NAME_CHARS = 256  # model names and versions, encoder names, label and attribute names
MAX_HALF_COUNT = 100  # halves or periods a video is split into when they are detected
MAX_ATTRIBUTE_DEPTH = 16  # nesting of attribute values (objects in lists in objects ...)
MAX_HINT_CUTS = 100_000  # a level's cut times (a ten-hour video cut every second has 36,000)
DEFAULT_TOP_K = 10  # hits a search or FindSimilar answers with when top_k is 0
HALF_FLOAT_MAX = 65504.0  # the largest component of a vector kept as given (not unit length)
HALF_FLOAT_NORMAL = 6.1e-5  # the smallest normal half float: below it fewer bits are kept
HALF_FLOAT_LOSS = 0.01  # a vector whose length half floats change by more than this share is refused
HALF_FLOAT_SHORT = 1e-3  # a vector at least this long loses far less than that (see _kept_in_half_floats)
# The ids the tree gives its parents (hierarchy.treerows.node_id).
_DEFAULT_ID = re.compile(r".+@\d+")
_PARENT_ID = re.compile(".+/(" + "|".join(level.label for level in Level if level is not Level.SEGMENT) + r")/\d+")


def collection_name(name: str, field: str = "name") -> str:
    """A collection name: 1-64 of [A-Za-z0-9_.-], starting with a letter or digit."""
    if not _COLLECTION_NAME.fullmatch(name or ""):
        raise InvalidArgument(
            field,
            f"{name!r} is not a valid collection name; use 1-64 letters, digits, '_', '.' "
            "or '-', starting with a letter or digit",
        )
    return name


def identifier(value: str, field: str, allow_empty: bool = False, limit: int = _MAX_ID) -> str:
    """An id: 1-128 (``limit``) printable characters (no control, format or line-separating
    ones, no space but the plain one), neither starting nor ending with a space."""
    if not value:
        if allow_empty:
            return value
        raise InvalidArgument(field, "must not be empty")
    if len(value) > limit or not value.isprintable():
        raise InvalidArgument(field, f"must be 1-{limit} printable characters")
    if value != value.strip():
        raise InvalidArgument(field, "must not start or end with a space")
    return value


def node_id(value: str, field: str) -> str:
    """A node id to look up: an :func:`identifier` of up to ``MAX_NODE_ID`` characters,
    since Strata makes node ids from video ids of up to 128 (``<video>@<start>`` for a
    segment the client did not name, ``<video>/<level>/<n>`` for a parent)."""
    return identifier(value, field, limit=MAX_NODE_ID)


def segment_id(value: str, field: str, default: str = "") -> str:
    """A client's segment id (empty: ``default``, the one Strata gives it): an
    :func:`identifier` that has neither the form the tree gives its parents' ids
    (``<video>/<level>/<n>``), which a later build of that video would then fail to take,
    nor that of another segment's default id (``<video>@<start_ms>``), which that segment,
    sent unnamed, could then not take."""
    identifier(value, field, allow_empty=True)
    if _PARENT_ID.fullmatch(value):
        raise InvalidArgument(field, f"{value!r} has the form of a scene, drive, half or video id; pick another")
    if value != default and _DEFAULT_ID.fullmatch(value):
        raise InvalidArgument(
            field,
            f"{value!r} has the form of the id a segment sent without one gets (<video_id>@<start_ms>); leave "
            f"it empty (this segment's would be {default!r}) or pick an id of another form",
        )
    return value


def text(value: str, field: str, limit: int = MAX_TEXT_CHARS) -> str:
    """A free text of at most ``limit`` characters."""
    if len(value) > limit:
        raise InvalidArgument(field, f"has {len(value)} characters; the limit is {limit}")
    return value


def name_text(value: str, field: str) -> str:
    """A short informational name (model name, version, encoder): no control characters."""
    text(value, field, MAX_NAME_CHARS)
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidArgument(field, "must not contain control characters")
    return value


def finite(value: float, field: str) -> float:
    """A finite number (no NaN, no infinity, no integer past a float's range)."""
    try:
        finite = math.isfinite(value)
    except OverflowError:  # (printing it could fail too: past 4,300 digits)
        raise InvalidArgument(field, "is an integer past a float's range; must be a finite number") from None
    if not finite:
        raise InvalidArgument(field, f"is {value}; must be a finite number")
    return value


def duration(value: int, field: str = "duration_ms") -> int:
    """A video duration: 0 (unknown) up to the largest time."""
    if value < 0 or value > MAX_TIME_MS:
        raise InvalidArgument(field, f"is {value}; must be between 0 (unknown) and {MAX_TIME_MS}")
    return value


def query_text(value: str, limit: int) -> str:
    """A search text of at most ``limit`` characters (it is parsed and embedded per request)."""
    if len(value) > limit:
        raise InvalidArgument("text", f"has {len(value)} characters; queries are limited to {limit}")
    return value


def space_names(value: EmbeddingSpace) -> EmbeddingSpace:
    """The names of a space (model, version, encoder) are short and printable; a text
    encoder's model folder is an absolute path (or ``~/…``): stored as given, a relative
    one would be looked for from wherever the server is started next."""
    for name in ("model_name", "model_version", "text_encoder"):
        name_text(getattr(value, name), f"space.{name}")
    encoder = value.text_encoder
    if encoder and encoder != DEFAULT_ENCODER and not Path(encoder).expanduser().is_absolute():
        raise InvalidArgument(
            "space.text_encoder",
            f"{encoder!r} is a relative path; give the model folder's absolute path on the server, or 'default'",
        )
    return value


def space(value: EmbeddingSpace, encoder_dimension: int | None) -> EmbeddingSpace:
    """Check an embedding space; fills the dimension from the encoder when it is 0."""
    dim = value.dimension or (encoder_dimension or 0)
    space_names(value)
    if dim <= 0:
        raise InvalidArgument("space.dimension", "must be positive (or set space.text_encoder to use its dimension)")
    if dim > MAX_DIMENSION:
        raise InvalidArgument("space.dimension", f"must be at most {MAX_DIMENSION}")
    if encoder_dimension is not None and dim != encoder_dimension:
        raise InvalidArgument(
            "space.dimension",
            f"is {dim} but the text encoder {value.text_encoder!r} produces {encoder_dimension}",
        )
    return EmbeddingSpace(dim, value.metric, value.model_name, value.model_version, value.text_encoder)


def vector(values: np.ndarray, dimension: int, metric: Metric, field: str) -> np.ndarray:
    """A finite float32 vector of the right dimension (unit length for cosine)."""
    return vectors([values], dimension, metric, lambda _: field)[0]


def query_vectors(
    values: Sequence[np.ndarray], dimension: int, metric: Metric, field: Callable[[int], str]
) -> np.ndarray:
    """Query vectors, as :func:`vectors`; under inner product none may be zero: its product
    with every node is 0, so it would rank them in no order at all."""
    arr = vectors(values, dimension, metric, field, query=True)
    if metric is Metric.INNER_PRODUCT and len(arr) and not (nonzero := arr.any(axis=1)).all():
        raise InvalidArgument(
            field(int(np.argmin(nonzero))), "is the zero vector, which scores every node 0 under inner product"
        )
    return arr


def vectors(
    values: Sequence[np.ndarray], dimension: int, metric: Metric, field: Callable[[int], str], query: bool = False
) -> np.ndarray:
    """Finite float32 vectors of the right dimension (unit length for cosine), as one
    ``(n, dimension)`` array; ``field(i)`` names the i-th in an error; ``query``: they
    are a search's, not stored. Checked and scaled as one array: one by one, the checks
    were 15 ms of a 1,000-segment append."""
    rows = [np.asarray(v, dtype=np.float32).reshape(-1) for v in values]
    for i, row in enumerate(rows):
        if row.shape[0] != dimension:
            raise InvalidArgument(field(i), f"has dimension {row.shape[0]}, the collection expects {dimension}")
    arr = np.stack(rows) if rows else np.zeros((0, dimension), np.float32)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        raise InvalidArgument(field(int(np.argmin(finite))), "contains NaN or infinity")
    if metric is not Metric.COSINE:
        # Kept as given, in half floats: a larger component would be stored as infinity
        # and the vector never found again.
        fits = (np.abs(arr) <= HALF_FLOAT_MAX).all(axis=1)
        if not fits.all():
            raise InvalidArgument(
                field(int(np.argmin(fits))),
                f"has a component beyond ±{HALF_FLOAT_MAX:g}, the largest a stored vector of an "
                f"{metric.value} collection holds; scale the vectors down",
            )
        _kept_in_half_floats(arr, metric, field, query)
        return arr
    wide = arr.astype(np.float64)  # huge values must not overflow, tiny ones not underflow
    norms = np.sqrt(np.einsum("ij,ij->i", wide, wide))
    if (norms == 0.0).any():
        raise InvalidArgument(
            field(int(np.argmax(norms == 0.0))), "is the zero vector, which has no direction under cosine"
        )
    return (wide / norms[:, None]).astype(np.float32)


def _kept_in_half_floats(arr: np.ndarray, metric: Metric, field: Callable[[int], str], query: bool) -> None:
    """Refuse a vector that half floats do not keep: one whose values are so small that
    its length changes by more than ``HALF_FLOAT_LOSS`` (1e-8 throughout is kept as the
    zero vector, and scored 0 against everything, without a word). A query is searched in
    them too (the graph's), but only under inner product does its length matter."""
    if query and metric is not Metric.INNER_PRODUCT:
        return
    # Only a short vector can lose 1 % of its length: a normal half float keeps a value to
    # 0.05 %, and the values below them lose at most 3e-8 each (2e-6 over 4,096 of them).
    # The round trip on the short ones alone: on every row it was 6 of 7 ms of checking a
    # 1,000 x 512 batch.
    short = np.flatnonzero(np.einsum("ij,ij->i", arr, arr) < HALF_FLOAT_SHORT**2)
    if not len(short):
        return
    wide = arr[short].astype(np.float64)
    norms = np.sqrt(np.einsum("ij,ij->i", wide, wide))
    half = arr[short].astype(np.float16).astype(np.float64)
    kept = np.sqrt(np.einsum("ij,ij->i", half, half))
    lost = np.abs(kept - norms) > HALF_FLOAT_LOSS * norms
    if not lost.any():
        return
    at = int(np.argmax(lost))
    fix = (
        "scale it up: a query's length changes no order under inner product"
        if query
        else "scale every vector of the collection up by one factor (it keeps their order)"
    )
    raise InvalidArgument(
        field(int(short[at])),
        f"is too small for the half floats a vector of an {metric.value} collection is kept in (its length "
        f"{norms[at]:.3g} would be kept as {kept[at]:.3g}; values below {HALF_FLOAT_NORMAL:g} lose precision); {fix}",
    )


def segment_times(seg: SegmentInput, field: str) -> None:
    """Start and end are non-negative, ordered and within range."""
    if seg.start_ms < 0:
        raise InvalidArgument(f"{field}.start_ms", f"is {seg.start_ms}; times must be >= 0")
    if seg.end_ms <= seg.start_ms:
        raise InvalidArgument(f"{field}.end_ms", f"is {seg.end_ms}, not after start_ms {seg.start_ms}")
    if seg.end_ms > MAX_TIME_MS:
        raise InvalidArgument(f"{field}.end_ms", f"is beyond the largest time {MAX_TIME_MS}")


def batch_size(count: int, limit: int) -> None:
    """A batch holds at least one and at most ``limit`` segments."""
    if count == 0:
        raise InvalidArgument("segments", "is empty; send at least one segment")
    if count > limit:
        raise ResourceExhausted(f"batch of {count} segments exceeds the limit of {limit}; split it", "segments")


def labels(values: list[str], field: str) -> list[str]:
    """Labels are short non-empty strings."""
    for i, label in enumerate(values):
        if not label or len(label) > MAX_NAME_CHARS or not label.isprintable():
            raise InvalidArgument(f"{field}[{i}]", f"labels must be 1-{MAX_NAME_CHARS} printable characters")
    return list(values)


def attributes(values: dict[str, Any], field: str) -> dict[str, Any]:
    """Attributes are a JSON object with string keys and finite numbers, at any depth."""
    if not isinstance(values, dict):
        raise InvalidArgument(field, "must be an object")
    _json_value(values, field, 0)
    return values


def _json_value(value: Any, field: str, depth: int) -> None:
    if depth > MAX_ATTRIBUTE_DEPTH:
        raise InvalidArgument(field, f"nests deeper than {MAX_ATTRIBUTE_DEPTH} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgument(field, "must be a finite number")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or len(key) > MAX_NAME_CHARS:
                shown = key[:32] + "…" if isinstance(key, str) and len(key) > 32 else key
                raise InvalidArgument(f"{field}.{shown}", f"keys must be strings of 1-{MAX_NAME_CHARS} characters")
            _json_value(item, f"{field}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _json_value(item, f"{field}[{i}]", depth + 1)


def page_size(value: int, field: str = "page_size", default: int = 100, limit: int = 1000) -> int:
    """A page size: 0 means the default; negative is an error; large values are capped."""
    if value < 0:
        raise InvalidArgument(field, f"is {value}; must be >= 0")
    return min(value or default, limit)


def top_k(value: int, limit: int) -> int:
    """Hits per page: 0 means 10, or ``limit`` when a server allows fewer."""
    default = min(DEFAULT_TOP_K, limit)
    if value < 0 or value > limit:
        raise InvalidArgument("top_k", f"is {value}; must be between 1 and {limit} (0 means {default})")
    return value or default


def fraction(value: float, field: str) -> float:
    """A number from 0 to 1."""
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidArgument(field, f"is {value}; must be between 0 and 1")
    return float(value)


def group_size(value: int, field: str = "group_size", limit: int = 100) -> int:
    """Answers per video when grouping: 0 means 3."""
    if value < 0 or value > limit:
        raise InvalidArgument(field, f"is {value}; must be between 1 and {limit} (0 means 3)")
    return value or 3


# Parameters where 0 means something (scene_dims 0: segment on the raw vectors).
_ZERO_ALLOWED = {"scene_dims", "drive_side_separation"}
# Largest builder parameters. A penalty is in units of the noise: a million already allows
# no cut, and past about 1e300 its products overflow and a build would cut everywhere.
_CEILINGS = {
    "half_count": MAX_HALF_COUNT,
    "scene_dims": MAX_DIMENSION,
    "scene_penalty": 1e6,
    "drive_penalty": 1e6,
    "drive_side_separation": 1e6,
    "scene_ridge": 1e6,
    # times, as segments' are
    "scene_min_ms": MAX_TIME_MS,
    "scene_max_ms": MAX_TIME_MS,
    "half_min_gap_ms": MAX_TIME_MS,
    "half_min_video_ms": MAX_TIME_MS,
}


def stored_hierarchy(stored: dict[str, Any]) -> HierarchyConfig:
    """The builder parameters a collection stored (checked when they were set): the
    defaults with the stored values of known parameters, not checked again, so a limit
    tightened since never makes a stored collection unreadable."""
    known = {f.name for f in dataclasses.fields(HierarchyConfig)}
    return dataclasses.replace(HierarchyConfig(), **{k: v for k, v in stored.items() if k in known})


def hierarchy_config(base: HierarchyConfig, overrides: dict[str, Any], field: str = "hierarchy") -> HierarchyConfig:
    """``base`` with ``overrides`` applied, each checked."""
    known = {f.name: f for f in dataclasses.fields(HierarchyConfig)}
    for name, value in overrides.items():
        if name not in known:
            raise InvalidArgument(f"{field}.{name}", f"is not a hierarchy parameter; use one of {sorted(known)}")
        _hierarchy_value(name, value, f"{field}.{name}", known[name].type in ("int", int))
    merged = dataclasses.replace(base, **overrides)
    if merged.scene_min_ms > merged.scene_max_ms:
        if "scene_max_ms" in overrides and "scene_min_ms" not in overrides:  # name the field given
            raise InvalidArgument(f"{field}.scene_max_ms", f"must not be below scene_min_ms ({merged.scene_min_ms})")
        raise InvalidArgument(f"{field}.scene_min_ms", f"must not exceed scene_max_ms ({merged.scene_max_ms})")
    if merged.aggregator not in AGGREGATORS:
        raise InvalidArgument(f"{field}.aggregator", f"unknown aggregator; choose one of {sorted(AGGREGATORS)}")
    return merged


def _hierarchy_value(name: str, value: Any, field: str, whole: bool) -> None:
    """One builder parameter: numbers finite and in range (``whole``: a count or a time,
    at least 1), names short."""
    if isinstance(value, str):
        name_text(value, field)
        return
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    finite(value, field)
    floor = 0 if name in _ZERO_ALLOWED else 1 if whole else 1e-12
    if value < floor:
        raise InvalidArgument(field, f"is {_shown(value)}; must be {'>= 0' if floor == 0 else f'at least {floor:g}'}")
    ceiling = _CEILINGS.get(name)
    if ceiling is not None and value > ceiling:
        raise InvalidArgument(field, f"is {_shown(value)}; must be at most {_shown(ceiling)}")


def _shown(value: float) -> str:
    """A number as given: an integer in every digit (``:g`` showed 2**62 as 4.61169e+18)."""
    return str(value) if isinstance(value, int) else f"{value:g}"


HINT_LEVELS = (Level.SCENE, Level.DRIVE, Level.HALF)


def hints(
    values: dict[Level, list[int]], field: str = "hints", duration_ms: int | Callable[[], int] = 0
) -> dict[Level, list[int]]:
    """Cut times per level: only scene, drive and half; non-negative and, when the video's
    duration is known (not 0), before its end; sorted, unique. ``duration_ms`` may be a
    function, called once the cuts are otherwise good (a video read only then)."""
    out: dict[Level, list[int]] = {}
    for i, (level, cuts) in enumerate(values.items()):
        if level not in HINT_LEVELS:
            raise InvalidArgument(f"{field}[{i}].level", "must be LEVEL_SCENE, LEVEL_DRIVE or LEVEL_HALF")
        if len(cuts) > MAX_HINT_CUTS:
            raise InvalidArgument(f"{field}[{i}].cut_ms", f"has {len(cuts)} cuts; at most {MAX_HINT_CUTS} a level")
        if any(c < 0 or c > MAX_TIME_MS for c in cuts):
            raise InvalidArgument(f"{field}[{i}].cut_ms", "cut times must be between 0 and the largest time")
        out[level] = sorted(set(int(c) for c in cuts))
    duration = (duration_ms() if callable(duration_ms) else duration_ms) if out else 0
    # A cut starts a node inside the video: one at or past its end would start none, and
    # the build would drop it without a word.
    for i, cuts in enumerate(out.values()):
        if duration and cuts[-1:] and cuts[-1] >= duration:
            raise InvalidArgument(
                f"{field}[{i}].cut_ms",
                f"cut at {cuts[-1]} ms is not inside the video (duration {duration} ms): a cut starts a node before"
                " the video's end",
            )
    return out
