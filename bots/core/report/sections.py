"""The dashboard's sections, in the order the page shows them."""

from __future__ import annotations

from collections.abc import Callable

from bots.core.report.controls import appeals, quality, training
from bots.core.report.figures import (
    Context, claim_edits, denials, documentation_queries, evidence, rework, senior_backlog, turnaround,
)
from bots.core.report.model import Section
from bots.core.report.operations import handoffs, operations

__all__ = ["SECTIONS"]

SECTIONS: tuple[Callable[[Context], Section], ...] = (
    documentation_queries, turnaround, claim_edits, denials, appeals, rework, quality, evidence, senior_backlog,
    handoffs, operations, training,
)
