"""Performance benchmark: Strata against exact search and peer vector databases.

``python -m tools.bench --segments 100000 --out bench.json`` generates a corpus with
planted structure, serves it from a real Strata server on loopback, measures ingest,
tree building, search latency and throughput, recall against exact search, memory and
disk, then runs the peers that are installed on the same vectors. See BENCHMARKS.md.
"""
