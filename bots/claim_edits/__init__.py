"""claim_edits: documentation-completeness and claim-edit scans with traceable rules.

Rules live in ``config/rules/claim_edits.toml``; NCCI PTP and MUE tables are
loaded with ``bots edits import FILE`` (samples ship in ``config/reference/``).
"""

from __future__ import annotations

from bots.claim_edits.bot import ClaimEditsBot
from bots.core.registry import BotSpec
from bots.core.settings import Settings

__all__ = ["SPEC", "ClaimEditsBot", "create_bot"]


def create_bot(settings: Settings) -> ClaimEditsBot:
    return ClaimEditsBot(settings)


SPEC = BotSpec(name="claim_edits", factory=create_bot, summary="documentation-completeness and claim-edit scans", order=10)
