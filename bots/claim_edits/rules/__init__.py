"""The claim-edit rules: one small function per rule, registered by rule id.

A rule reads one claim (and the run's reference data) and returns an
``Evaluation``: the findings a coder must act on, the lines it looked at, and
facts for the audit record (such as the edit-table version). Rules never touch
the store, the workbook or the audit chain; the engine and the runner do.

Reasons are written for an entry-level coder: which line and code, which rule,
what is missing or wrong, and what to do next.
"""

from __future__ import annotations

from bots.claim_edits.rules import coding, documentation, ncci, review  # noqa: F401  (they register)
from bots.claim_edits.rules.base import (
    REGISTRY, ClaimView, Escalation, Evaluation, Finding, RuleDef, RuleFn, RuleParams,
)

__all__ = ["REGISTRY", "ClaimView", "Escalation", "Evaluation", "Finding", "RuleDef", "RuleFn", "RuleParams"]
