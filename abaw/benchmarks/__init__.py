"""Benchmarks of the toolkit at the full size of the challenge (run as scripts)."""
