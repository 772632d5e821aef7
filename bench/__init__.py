"""Benchmarks and the fault-injection run (``make bench``, ``make chaos``); see bench/README.md."""
