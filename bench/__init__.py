"""wirelab benchmarks: each measured side by side with its peer in the same run.

Run them all with ``make bench`` (``python -m bench``) or one with ``python -m bench NAME``.
Every benchmark prints its figures and the ratio to the peer the issue names; none is a test.
"""
