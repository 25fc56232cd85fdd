"""Local, stateful mock payer portals and a billing work queue, with fault injection.

A separate package from ``bots``: the bots never import it; tests and ``bots demo`` start it.
"""

from .billing import BILLING_STATUSES
from .carc import carc_text
from .faults import Faults, parse_faults
from .runtime import SAMPLE_DATA, load_data
from .selector_table import SELECTORS, SHARED_SELECTORS
from .server import MockPortals, create_app

__all__ = [
    "BILLING_STATUSES",
    "SAMPLE_DATA",
    "SELECTORS",
    "SHARED_SELECTORS",
    "Faults",
    "MockPortals",
    "carc_text",
    "create_app",
    "load_data",
    "parse_faults",
]
