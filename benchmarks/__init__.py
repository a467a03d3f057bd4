"""Benchmark scripts (run as files, ``python benchmarks/NAME.py``) and what they share (``common``)."""
