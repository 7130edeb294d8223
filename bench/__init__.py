"""Benchmarks of wave-mcp against baselines measured in the same run: `python -m bench` prints a Markdown table.

Not part of the test suite (they take minutes and depend on the machine); `tests/test_bench.py` only checks that a
tiny run of them still works.
"""
