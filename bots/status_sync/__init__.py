"""status_sync: pushes status updates and coders' resolutions into the billing work queue UI.

The billing app (URL, speed limits, selectors) and the Resolution → billing status mapping
live in ``config/billing.toml``; credentials in ``BOTS_BILLING_URL``,
``BOTS_BILLING_USERNAME`` and ``BOTS_BILLING_PASSWORD`` (environment or ``.env``).
"""

from __future__ import annotations

from bots.core.registry import BotSpec, STATUS_UPDATE
from bots.core.settings import Settings
from bots.status_sync.bot import StatusSyncBot

__all__ = ["SPEC", "StatusSyncBot", "create_bot"]


def create_bot(settings: Settings) -> StatusSyncBot:
    return StatusSyncBot(settings)


SPEC = BotSpec(name="status_sync", factory=create_bot, summary="billing work-queue updates and coders' resolutions", order=30, accepts=(STATUS_UPDATE,))
