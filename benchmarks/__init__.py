"""Benchmark and experiment scripts, run as files; a package only so that the tests can import them."""
