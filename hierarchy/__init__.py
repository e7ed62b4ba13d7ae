"""Strata's core: the hierarchy of a video's segments, its storage and its search.

Nothing here knows of gRPC (``service`` serves it)."""

# USearch's extension carries its own copy of the C++ runtime. Loaded before anything has
# set up the shared runtime's locale, it leaves that locale half made, and ONNX Runtime
# (the text encoder's default) then crashes the process while importing (SIGSEGV in
# ``std::codecvt``): ``import hierarchy.index`` then a text query did. DuckDB's extension
# sets the locale up as it loads, so importing it here, before any module of the package,
# keeps every import order safe. (Measured with usearch 2.26 and onnxruntime 1.32.)
# A script that imported USearch before this package is past helping that way: the text
# encoder then tries ONNX Runtime's import in a child process first (``hierarchy.onnxrun``).
import sys as _sys

USEARCH_FIRST = "usearch.compiled" in _sys.modules

import duckdb as _duckdb  # noqa: E402, F401
