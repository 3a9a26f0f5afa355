"""Benchmarks of the course: what students and instructors will feel.

``python -m bench`` (or ``make bench``) runs them all and updates
bench/RESULTS.md; see bench/README.md and ``python -m bench --help``.
"""
