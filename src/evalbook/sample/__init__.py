"""Deterministic generator of a synthetic snapshot shaped like ``meta-llama/<Model>-evals``.

No machine that builds or tests the book reaches the Hub, so the book runs on this sample:
8 details configs and a metrics config with Meta's 17 columns, file names and README front
matter. Its text is invented, and every README it writes states that the data is synthetic.

The generator never calls :mod:`evalbook.metrics`. It decides each row's outcome, writes a
prediction with that outcome and states Meta-style per-row metrics, so that a scorer bug
cannot agree with itself in the tests.

Examples
--------
>>> from evalbook.sample import build_tables
>>> tables = build_tables(seed=0)
>>> tables["Llama-3.2-1B-evals__squad__details"].num_rows
150
"""

from evalbook.sample.build import GENERATOR_VERSION, build_details, build_tables
from evalbook.sample.drop import DROP_SPAN_SEPARATOR
from evalbook.sample.snapshot import write_snapshot

__all__ = [
    "DROP_SPAN_SEPARATOR",
    "GENERATOR_VERSION",
    "build_details",
    "build_tables",
    "write_snapshot",
]
