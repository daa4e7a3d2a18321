"""Duet's benchmarks: run with `make bench`, alone on the machine."""
