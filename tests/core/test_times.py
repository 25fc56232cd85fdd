"""Human-facing times: one configured zone, always labelled, in every command that prints one."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.core.errors import ConfigError
from bots.core.settings import Settings
from bots.core.times import display_zone, show_time

NEW_YORK = ZoneInfo("America/New_York")


def test_store_times_are_shown_in_the_zone_with_its_abbreviation_for_that_moment() -> None:
    assert show_time("2026-11-30T13:15:02.123456", NEW_YORK) == "2026-11-30 08:15:02 EST"
    assert show_time("2026-07-30T13:15:02", NEW_YORK, seconds=False) == "2026-07-30 09:15 EDT"
    assert show_time(datetime(2026, 7, 30, 13, 15, tzinfo=UTC), ZoneInfo("UTC")) == "2026-07-30 13:15:00 UTC"
    assert show_time("2026-07-30T13:15:02", ZoneInfo("America/Sao_Paulo")) == "2026-07-30 10:15:02 UTC-03"
    assert show_time(None, NEW_YORK, empty="never") == "never"


def test_the_zone_is_the_top_level_timezone_and_a_bad_name_is_a_config_error(settings: Settings) -> None:
    assert display_zone(settings.with_config({"timezone": "America/Chicago"})) == ZoneInfo("America/Chicago")
    with pytest.raises(ConfigError, match="key 'timezone': unknown time zone"):
        display_zone(settings.with_config({"timezone": "Mars/Olympus"}))


def test_scheduler_jobs_shows_next_runs_in_the_display_zone(settings: Settings) -> None:
    (settings.config_dir / "bots.toml").write_text(
        'timezone = "America/New_York"\n[scheduler]\ntimezone = "UTC"\n[bots.claim_edits]\nschedule = "0 6 * * *"\n')
    result = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                      "scheduler", "jobs"])
    assert result.exit_code == 0
    assert " 01:00 EST" in result.stdout or " 02:00 EDT" in result.stdout, "06:00 UTC shown in New York time"
