"""Rows of a Parquet segment file, read with Arrow (a dependency already, as DuckDB's
bulk path), each checked as a JSONL line is (``tools.jsonl.check_row``) and named by file
and row (``FILE:row N: field: problem``) before its batch is sent.

The columns are the fields of a JSONL line (``video_id``, ``start_ms``, ``end_ms``,
``vector``, ``text``, ``labels``, ``attributes``, ``id``, ``shot_cut``,
``video_duration_ms``); a null is a field not given. ``vector`` is a list of numbers (of
any width; decimals too); ``attributes`` a struct or a map (their null members are left
out, at any depth: a struct column gives every row every member) or a string holding a JSON object
(the usual way to keep attributes that differ from row to row in one column)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from service.rows import FIELDS
from tools.jsonl import check_row

SUFFIX = ".parquet"
BATCH_ROWS = 1000  # rows read at a time: a row group of a million 512-d rows is 2 GB


def is_parquet(path: Path) -> bool:
    """Whether ``path`` names a Parquet file (by its suffix: standard input and pipes,
    which cannot be read from anywhere but their start, are JSONL)."""
    return path.suffix.lower() == SUFFIX


def count_parquet(path: Path) -> int:
    """The rows of a Parquet file, from its footer (a progress bar's total)."""
    return int(_opened(path).metadata.num_rows)


def read_parquet(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a Parquet file in file order with their places (``file:row N``, from 1);
    ValueError names the file and row of one that is not a segment, or the file when it
    is not Parquet or a column is no segment field."""
    parquet = _opened(path)
    names = parquet.schema_arrow.names
    if unknown := sorted(set(names) - FIELDS):  # a misspelt column would be dropped unseen
        raise ValueError(f"{path}: column {unknown[0]!r} is not a segment field; use {', '.join(sorted(FIELDS))}")
    number = 0
    for batch in _batches(parquet, path):
        vectors = _vectors(batch.column("vector"), path) if "vector" in names else None
        columns = {name: batch.column(name).to_pylist(maps_as_pydicts="strict") for name in names if name != "vector"}
        for i in range(batch.num_rows):
            number += 1
            where = f"{path}:row {number}"
            row = _row({name: column[i] for name, column in columns.items()}, where)
            if vectors is not None and vectors[i] is not None:
                row["vector"] = vectors[i]
            if problem := check_row(row):
                raise ValueError(f"{where}: {problem}")
            yield where, row


def _opened(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:  # not Parquet, truncated, unreadable
        raise _unreadable(path, exc) from exc


def _batches(parquet: pq.ParquetFile, path: Path) -> Iterator[pa.RecordBatch]:
    """The file's rows, ``BATCH_ROWS`` at a time; a page that cannot be read names the file."""
    batches = parquet.iter_batches(batch_size=BATCH_ROWS)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise _unreadable(path, exc) from exc
        yield batch


def _unreadable(path: Path, exc: Exception) -> ValueError:
    """The refusal of a file Arrow cannot read as Parquet, with the first line of why."""
    return ValueError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})")


def _vectors(column: pa.Array, path: Path) -> list[np.ndarray | None]:
    """Each row's vector as float64 numbers (None where null), cut from one array: read
    number by number, a 512-d vector took 1.2 ms."""
    lists = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
    numbers = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)
    try:
        # Strings of digits would cast: a JSONL line's "1.5" is no number either.
        if not any(is_list(column.type) for is_list in lists) or not any(
            is_number(column.type.value_type) for is_number in numbers
        ):
            raise pa.ArrowInvalid(str(column.type))
        values = column.flatten().cast(pa.float64()).to_numpy(zero_copy_only=False)  # a null number: NaN
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"{path}: column 'vector' must be a list of numbers, not {column.type}") from exc
    lengths = np.nan_to_num(pa.compute.list_value_length(column).to_numpy(zero_copy_only=False)).astype(np.int64)
    ends = np.cumsum(lengths)
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    return [None if null else values[end - n : end] for null, end, n in zip(nulls, ends, lengths, strict=True)]


def _row(values: dict[str, Any], where: str) -> dict[str, Any]:
    """A row's fields as a JSONL line gives them: nulls left out, attributes an object,
    values JSON has (see :func:`_plain`)."""
    row = {name: _plain(value, f"{where}: {name}") for name, value in values.items() if value is not None}
    attributes = row.get("attributes")
    if isinstance(attributes, str):
        try:
            row["attributes"] = json.loads(attributes)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: attributes: a string of attributes must be JSON ({exc.msg})") from exc
    return row


def _plain(value: Any, field: str) -> Any:
    """``value`` as JSON would hold it: a decimal a float; a date, time or UUID its text;
    lists and objects member by member, an object's null members left out (a struct gives
    every row every member, at any depth). ValueError names ``field`` for bytes, which
    JSON has no way to hold."""
    if isinstance(value, list | tuple):
        return [_plain(item, field) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item, f"{field}.{key}") for key, item in value.items() if item is not None}
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, date | time):  # a datetime is a date
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        raise ValueError(f"{field}: is binary; a segment holds text, numbers, lists and objects")
    return value
