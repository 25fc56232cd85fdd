"""A site outage mid-run, made deterministic: the bot's preflight passes (one real sign-in), then
the site's server stops before the first item."""

from __future__ import annotations

from typing import Any

from mock_portals import MockPortals


def outage_after_preflight(bot: Any, server: MockPortals) -> Any:
    """``bot`` whose preflight signs in as usual and then stops ``server`` (the site goes away)."""
    checked = bot.preflight

    def preflight_then_outage(run: Any) -> Any:
        problems = checked(run)
        server.stop()
        return problems

    bot.preflight = preflight_then_outage
    return bot
