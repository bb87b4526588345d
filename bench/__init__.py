"""Benchmarks of the pipeline on the running local stack (`make bench`; usage in bench/__main__.py)."""


class HarnessError(Exception):
    """The benchmark could not measure: e.g. an accepted order never reached a store. Not a missed target."""
