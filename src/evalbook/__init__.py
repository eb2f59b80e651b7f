"""evalbook: re-score Meta's published per-example Llama eval dumps and build a book of them."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
