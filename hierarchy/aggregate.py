"""Parent-embedding aggregators, chosen by name.

The default is the duration-weighted mean of the children, normalised: within about a
point of learned temporal pooling in published video retrieval results, and better on
long multi-shot video.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hierarchy.errors import InvalidArgument

Aggregator = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _normalise(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm if norm > 0 else vector).astype(np.float32)


def weighted_mean(vectors: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Duration-weighted mean of the children, normalised."""
    weights = np.maximum(np.asarray(durations, np.float64), 1e-9)
    return _normalise((vectors * weights[:, None]).sum(axis=0) / weights.sum())


def uniform_mean(vectors: np.ndarray, durations: np.ndarray) -> np.ndarray:
    """Plain mean of the children, normalised."""
    return _normalise(np.asarray(vectors, np.float64).mean(axis=0))


AGGREGATORS: dict[str, Aggregator] = {"mean": weighted_mean, "uniform": uniform_mean}


def get_aggregator(name: str) -> Aggregator:
    """The aggregator registered under ``name``."""
    try:
        return AGGREGATORS[name]
    except KeyError:
        raise InvalidArgument(
            "aggregator", f"unknown aggregator {name!r}; choose one of {sorted(AGGREGATORS)}"
        ) from None
