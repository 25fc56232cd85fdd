"""The bot registry: bots are found by entry point, in run order, and a fourth bot is
added by installing a package, without a change to core or the CLI."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.core import registry
from bots.core.errors import ConfigError
from bots.core.settings import Settings

runner = CliRunner()
SHIPPED = ("claim_edits", "payer_portal", "status_sync")


def test_the_shipped_bots_in_run_order_and_the_status_update_handoff() -> None:
    assert registry.names() == SHIPPED
    assert registry.handoff_target(registry.STATUS_UPDATE) == "status_sync"
    assert type(registry.create("claim_edits", Settings(_env_file=None))).__name__ == "ClaimEditsBot"


def test_an_unknown_bot_names_the_installed_ones(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="unknown bot 'nobot'; installed bots: claim_edits, payer_portal, status_sync"):
        registry.create("nobot", settings)
    with pytest.raises(ConfigError, match="key 'bots'.*unknown bot 'nobot'; installed bots: claim_edits"):
        settings.with_bot("nobot", max_attempts=2)
    result = runner.invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir), "run", "nobot"])
    assert result.exit_code == 2
    assert "unknown bot 'nobot'; installed bots: claim_edits, payer_portal, status_sync" in result.output


@pytest.fixture
def fourth_bot(tmp_path: Path) -> Iterator[str]:
    """A bot package and its distribution's metadata on sys.path, as ``pip install`` leaves them;
    importlib.metadata finds the entry point there. Nothing in bots is patched."""
    site = tmp_path / "site"
    pkg = site / "fourth_bot"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent("""
        from bots.core.registry import BotSpec
        from fake_bots import CountingBot


        def create_bot(settings):
            return CountingBot(2, name="fourth_bot")


        SPEC = BotSpec(name="fourth_bot", factory=create_bot, summary="a bot core never heard of", order=40)
    """))
    dist = site / "fourth_bot-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fourth-bot\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[rcm_bots.bots]\nfourth_bot = fourth_bot:SPEC\n")
    sys.path.insert(0, str(site))
    registry.specs.cache_clear()
    try:
        yield "fourth_bot"
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("fourth_bot", None)
        registry.specs.cache_clear()


def test_a_fourth_bot_is_listed_configured_created_and_run_without_touching_core(
        fourth_bot: str, settings: Settings) -> None:
    assert registry.names() == (*SHIPPED, fourth_bot)
    assert settings.with_bot(fourth_bot, max_attempts=2).config.bot(fourth_bot).max_attempts == 2
    cli = ["--home", str(settings.home), "--config-dir", str(settings.config_dir)]

    listed = runner.invoke(app, [*cli, "list", "--json"])
    assert listed.exit_code == 0
    assert [json.loads(line)["name"] for line in listed.output.splitlines()] == [*SHIPPED, fourth_bot]

    ran = runner.invoke(app, [*cli, "run", fourth_bot, "--json"])
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.output.splitlines()[-1])
    assert summary["bot"] == fourth_bot and summary["status"] == "succeeded" and summary["done"] == 2


def test_an_entry_point_that_is_not_a_botspec_is_refused(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "bad_bot-0.1.dist-info").mkdir(parents=True)
    (site / "bad_bot.py").write_text("SPEC = object()\n")
    (site / "bad_bot-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-bot\nVersion: 0.1\n")
    (site / "bad_bot-0.1.dist-info" / "entry_points.txt").write_text("[rcm_bots.bots]\nbad_bot = bad_bot:SPEC\n")
    sys.path.insert(0, str(site))
    registry.specs.cache_clear()
    try:
        with pytest.raises(ConfigError, match="entry point bad_bot .*expected a BotSpec, found object"):
            registry.names()
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("bad_bot", None)
        registry.specs.cache_clear()
