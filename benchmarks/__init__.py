"""Benchmark harness: kvstore side by side with Redis, measured as ratios.

Run from the repository root with the project's virtual environment::

    .venv/bin/python -m benchmarks.compare [--quick] [--only PATTERN] [--update-readme]
"""
