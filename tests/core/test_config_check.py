"""``bots init`` and ``bots config check``, a missing or mistyped configuration, @daily schedules, inbox paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.core.errors import ConfigError
from bots.core.inbox import process_inbox, resolve_inbox
from bots.core.scheduler import cron_trigger
from bots.core.scheduler.cron import CRON_ALIASES
from bots.core.settings import Settings
from bots.core.store import Store
from config_helpers import edit_toml

runner = CliRunner()


def cli(tmp_path: Path, config_dir: Path, *args: str):  # noqa: ANN201 - click's Result
    return runner.invoke(app, ["--home", str(tmp_path / "var"), "--config-dir", str(config_dir), *args])


def test_init_writes_a_folder_that_checks_ok_and_refuses_to_overwrite(tmp_path: Path) -> None:
    site = tmp_path / "site"
    first = runner.invoke(app, ["init", str(site)])
    assert first.exit_code == 0, first.output
    assert (site / "config" / "bots.toml").read_text().startswith("# Written by `bots init`")
    env = (site / ".env.example").read_text()
    assert "BOTS_PAYER_ACME_PASSWORD=\n" in env and "BOTS_BILLING_USERNAME=\n" in env
    assert all(line.endswith("=") or line.startswith("#") or not line for line in env.splitlines()), "names only"
    ok = cli(tmp_path, site / "config", "config", "check")
    assert ok.exit_code == 0 and ok.output.startswith("OK: ") and len(ok.output.strip().splitlines()) == 1

    (site / "config" / "bots.toml").write_text("# mine\n")
    again = runner.invoke(app, ["init", str(site)])
    assert again.exit_code == 2 and "not overwriting" in again.output and "--force" in again.output
    assert (site / "config" / "bots.toml").read_text() == "# mine\n", "nothing written without --force"
    forced = runner.invoke(app, ["init", str(site), "--force"])
    assert forced.exit_code == 0 and "# mine" not in (site / "config" / "bots.toml").read_text()


def test_config_check_lists_every_problem_at_once(tmp_path: Path, config_dir: Path) -> None:
    edit_toml(config_dir / "bots.toml", lambda d: d["bots"]["claim_edits"].update(schedule="61 6 * * *"))
    edit_toml(config_dir / "payers" / "acme.toml", lambda d: d.update(concurrency=-1))
    edit_toml(config_dir / "workbook.toml", lambda d: d["resolutions"]["Denials"].append("Sent to collections"))
    edit_toml(config_dir / "billing.toml", lambda d: d.update(timeout_ms="soon"))
    edit_toml(config_dir / "rules" / "payer_portal.toml", lambda d: d["selection"].update(min_age_days=-5))

    result = cli(tmp_path, config_dir, "config", "check")

    assert result.exit_code == 2
    out = result.output.replace("\n    ", " ")
    expected = [
        (config_dir / "bots.toml", "bots.claim_edits.schedule", "61 6 * * *"),
        (config_dir / "payers" / "acme.toml", "concurrency", "-1"),
        (config_dir / "workbook.toml", "resolutions.Denials", "Sent to collections"),
        (config_dir / "billing.toml", "timeout_ms", "soon"),
        (config_dir / "rules" / "payer_portal.toml", "selection.min_age_days", "-5"),
    ]
    lines = [ln for ln in out.splitlines() if ln.strip().startswith("- ")]
    for path, key, value in expected:
        assert any(str(path) in ln and key in ln and value in ln for ln in lines), (path, key, value, out)
    assert "5 problem(s)" in out


def test_config_check_finds_a_billing_mapping_no_queue_offers(tmp_path: Path, config_dir: Path) -> None:
    edit_toml(config_dir / "billing.toml", lambda d: d["resolutions"].update({"Sent to collections": "Closed"}))
    result = cli(tmp_path, config_dir, "config", "check")
    assert result.exit_code == 2 and "resolutions.Sent to collections" in result.output


@pytest.mark.parametrize("command", [["runs"], ["config", "check"], ["scheduler", "jobs"]])
def test_a_mistyped_config_dir_is_an_error_naming_it(tmp_path: Path, command: list[str]) -> None:
    result = cli(tmp_path, tmp_path / "confg", *command)
    assert result.exit_code == 2
    assert str(tmp_path / "confg") in result.output and "not found" in result.output


def test_a_missing_bots_toml_is_an_error_not_defaults(tmp_path: Path, config_dir: Path) -> None:
    (config_dir / "bots.toml").unlink()
    with pytest.raises(ConfigError, match="bots.toml: file not found"):
        Settings(home=tmp_path / "var", config_dir=config_dir, _env_file=None).config
    result = cli(tmp_path, config_dir, "scheduler", "jobs")
    assert result.exit_code == 2 and str(config_dir / "bots.toml") in result.output


def test_an_unreadable_bots_toml_is_an_error_naming_it(tmp_path: Path, config_dir: Path) -> None:
    (config_dir / "bots.toml").unlink()
    (config_dir / "bots.toml").mkdir()  # unreadable as a file, whoever runs the test (root included)
    result = cli(tmp_path, config_dir, "runs")
    assert result.exit_code == 2 and str(config_dir / "bots.toml") in result.output


@pytest.mark.parametrize("alias", sorted(CRON_ALIASES))
def test_at_daily_style_schedules_are_accepted(tmp_path: Path, config_dir: Path, alias: str) -> None:
    edit_toml(config_dir / "bots.toml", lambda d: d["bots"]["claim_edits"].update(schedule=alias))
    assert str(cron_trigger(alias, "UTC")) == str(cron_trigger(CRON_ALIASES[alias], "UTC"))
    jobs = cli(tmp_path, config_dir, "scheduler", "jobs")
    assert jobs.exit_code == 0, jobs.output
    assert f"{alias} ({CRON_ALIASES[alias]})" in jobs.output
    assert cli(tmp_path, config_dir, "config", "check").exit_code == 0


def test_an_unknown_alias_is_refused_naming_the_key(tmp_path: Path, config_dir: Path) -> None:
    edit_toml(config_dir / "bots.toml", lambda d: d["bots"]["claim_edits"].update(schedule="@reboot"))
    result = cli(tmp_path, config_dir, "config", "check")
    assert result.exit_code == 2 and "bots.claim_edits.schedule" in result.output and "@reboot" in result.output


def test_a_relative_inbox_folder_is_under_bots_home(tmp_path: Path, config_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "var"
    folder = home / "inbox" / "claim_edits"
    folder.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the current directory must not matter
    settings = Settings(home=home, config_dir=config_dir, _env_file=None)
    assert resolve_inbox(settings, "inbox/claim_edits") == folder
    assert resolve_inbox(settings, str(folder)) == folder, "absolute paths as given"
    result = cli(tmp_path, config_dir, "worklist", "inbox", "inbox/claim_edits")
    assert result.exit_code == 0 and str(folder) in result.output and "no new files" in result.output
    store = Store(settings.db_url)
    try:
        assert process_inbox(settings, store, "inbox/claim_edits").folder == str(folder)
    finally:
        store.close()
    missing = cli(tmp_path, config_dir, "worklist", "inbox", "inbox/nope")
    assert missing.exit_code == 2 and str(home / "inbox" / "nope") in missing.output.replace("\n", "")


def test_dash_h_version_and_python_dash_m(tmp_path: Path) -> None:
    import subprocess
    import sys
    from importlib.metadata import version

    for args in (["-h"], ["run", "-h"], ["scheduler", "jobs", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage:" in result.output, args
    assert "<bool>" not in runner.invoke(app, ["health", "-h"]).output, "flags show as plain flags"
    assert runner.invoke(app, ["--version"]).output.strip() == f"rcm-bots {version('rcm-bots')}"
    mod = subprocess.run([sys.executable, "-m", "bots", "-h"], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120)
    assert mod.returncode == 0 and "Usage: bots" in mod.stdout


def test_demo_without_the_mock_extra_says_how_to_install_it(tmp_path: Path, config_dir: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    for command in (["demo"], ["mock-portals"]):
        result = cli(tmp_path, config_dir, *command)
        assert result.exit_code == 2 and "pip install 'rcm-bots[mock]'" in result.output and "uvicorn" in result.output


def test_workbook_toml_is_optional(tmp_path: Path, config_dir: Path) -> None:
    (config_dir / "workbook.toml").unlink()  # the workbook's built-in lists are the defaults
    result = cli(tmp_path, config_dir, "config", "check")
    assert result.exit_code == 0, result.output
