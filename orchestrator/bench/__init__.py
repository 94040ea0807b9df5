"""Benchmarks a user runs from the command line (`orchestrate bench ...`)."""
