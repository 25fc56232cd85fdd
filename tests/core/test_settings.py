"""Settings errors name the file and key; the CLI lists its commands and exits 2 on bad usage."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.core.errors import ConfigError
from bots.core.settings import Settings
from config_helpers import edit_toml

runner = CliRunner()


def test_invalid_config_names_file_key_and_value(tmp_path: Path, config_dir: Path) -> None:
    toml = config_dir / "bots.toml"
    edit_toml(toml, lambda doc: doc["bots"]["claim_edits"].update(batch_size=-3))
    s = Settings(home=tmp_path / "var", config_dir=config_dir, _env_file=None)
    with pytest.raises(ConfigError) as err:
        s.config
    msg = str(err.value)
    assert str(toml) in msg and "bots.claim_edits.batch_size" in msg and "-3" in msg


def test_bad_toml_and_unknown_bot_are_reported(tmp_path: Path, config_dir: Path) -> None:
    toml = config_dir / "bots.toml"
    toml.write_text("[bots.claims_edit]\nschedule = '0 6 * * *'\n")
    with pytest.raises(ConfigError, match="unknown bot 'claims_edit'"):
        Settings(home=tmp_path, config_dir=config_dir, _env_file=None).config
    toml.write_text("[bots\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        Settings(home=tmp_path, config_dir=config_dir, _env_file=None).config


def test_cli_with_bad_config_exits_2_with_one_line(tmp_path: Path, config_dir: Path) -> None:
    (config_dir / "bots.toml").write_text("[bots.claim_edits]\nschedule = 'every day'\n")
    result = runner.invoke(app, ["--home", str(tmp_path / "var"), "--config-dir", str(config_dir), "runs"])
    assert result.exit_code == 2
    assert "bots.claim_edits.schedule" in result.output


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BOTS_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("BOTS_DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("BOTS_LOG_LEVEL", "debug")
    s = Settings(_env_file=None)
    assert s.home == tmp_path / "h" and s.db_url == "sqlite:///x.db" and s.log_level == "DEBUG"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for cmd in ("run", "worklist", "runs", "health", "audit", "mock-portals"):
        assert cmd in result.output


def test_unknown_bot_is_bad_usage(tmp_path: Path, config_dir: Path) -> None:
    result = runner.invoke(app, ["--home", str(tmp_path), "--config-dir", str(config_dir), "run", "nobot"])
    assert result.exit_code == 2
