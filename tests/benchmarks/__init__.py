"""Benchmarks for `make bench`: each runs in its own process and prints one JSON line; the runner prints a table."""
