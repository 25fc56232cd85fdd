"""payer_portal: claim status lookups on payer web portals, in a real browser, with evidence.

Payer profiles live in ``config/payers/<payer_id>.toml`` (portal, selectors, status words,
speed limits, maintenance windows); routing rules in ``config/rules/payer_portal.toml``.
"""

from __future__ import annotations

from bots.core.registry import BotSpec
from bots.core.settings import Settings
from bots.payer_portal.bot import PayerPortalBot

__all__ = ["SPEC", "PayerPortalBot", "create_bot"]


def create_bot(settings: Settings) -> PayerPortalBot:
    return PayerPortalBot(settings)


SPEC = BotSpec(name="payer_portal", factory=create_bot, summary="claim status lookups on payer portals", order=20)
