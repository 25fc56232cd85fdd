"""The team roster: validated like every config, named problems, and `bots team`."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
import tomli_w
from typer.testing import CliRunner

from bots.cli import app
from bots.core.errors import ConfigError
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.team import Role, load_team
from workbook_helpers import Finding, report

REPO = Path(__file__).resolve().parents[2]


def _write_team(settings: Settings, people: list[dict]) -> Path:
    path = settings.config_file("team.toml")
    path.write_bytes(tomli_w.dumps({"person": people}).encode())
    return path


def test_without_a_roster_the_controls_are_off(settings: Settings) -> None:
    assert load_team(settings) is None


def test_the_shipped_example_roster_is_valid(settings: Settings) -> None:
    shutil.copy(REPO / "config" / "team.example.toml", settings.config_file("team.toml"))
    team = load_team(settings)
    assert team is not None and "Dee Marsh" in team.names
    assert team.has_role("Dee Marsh", Role.SENIOR) and not team.has_role("Ana Ruiz", Role.SENIOR)
    ben = team.get("Ben Okafor")
    assert ben is not None and not ben.present(date(2026, 12, 22)) and ben.present(date(2026, 12, 25))


def test_roster_validation_errors_name_file_person_and_key(settings: Settings) -> None:
    path = _write_team(settings, [
        {"name": "Ana Ruiz", "roles": ["coder", "boss"], "queues": ["Claim Edits"]},
        {"name": "Ben Okafor", "roles": ["coder"], "queues": ["Claim Edit"]},
        {"name": "Cy Tran", "roles": ["senior"], "absences": [{"start": date(2026, 12, 5), "end": date(2026, 12, 1)}]},
        {"name": "Dee Marsh", "roles": []},
        {"name": "Ana Ruiz", "roles": ["qa"]},
        {"roles": ["coder"]},
    ])
    with pytest.raises(ConfigError) as err:
        load_team(settings)
    text = str(err.value)
    assert f"{path}: person 'Ana Ruiz': key 'roles.1':" in text and "'boss'" in text
    assert f"{path}: person 'Ben Okafor': key 'queues': unknown queue 'Claim Edit'" in text
    assert f"{path}: person 'Cy Tran': key 'absences.0':" in text and "before start" in text
    assert f"{path}: person 'Dee Marsh': key 'roles':" in text
    assert f"{path}: person 'Ana Ruiz': key 'name': listed twice" in text
    assert f"{path}: person #6: key 'name': Field required" in text


def test_config_check_reports_a_bad_roster(settings: Settings) -> None:
    _write_team(settings, [{"name": "Ana Ruiz", "roles": ["coder"], "queues": ["Nope"]}])
    out = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                   "config", "check"])
    assert out.exit_code == 2 and "person 'Ana Ruiz': key 'queues': unknown queue 'Nope'" in out.output, out.output


def test_bots_team_lists_each_person_with_their_open_rows(settings: Settings, store: Store) -> None:
    _write_team(settings, [
        {"name": "Ana Ruiz", "roles": ["coder"], "queues": ["Claim Edits"]},
        {"name": "Dee Marsh", "roles": ["senior", "qa"], "absences": [{"start": date(2000, 1, 1),
                                                                       "end": date(2099, 1, 1)}]},
    ])
    report(store, "run-1", [Finding("CLM-T1"), Finding("CLM-T2", detail="x")])
    from store_helpers import set_columns

    set_columns(store, "exceptions", {}, assigned_to="Ana Ruiz")
    cli = ["--home", str(settings.home), "--config-dir", str(settings.config_dir)]
    out = CliRunner().invoke(app, [*cli, "team", "--json"])
    assert out.exit_code == 0, out.output
    people = {p["name"]: p for p in json.loads(out.output)["people"]}
    assert people["Ana Ruiz"]["open_rows"] == 2 and people["Ana Ruiz"]["present"]
    assert people["Dee Marsh"]["open_rows"] == 0 and not people["Dee Marsh"]["present"]
    assert people["Dee Marsh"]["roles"] == ["senior", "qa"] and people["Dee Marsh"]["queues"] == ["(all)"]
    shown = CliRunner().invoke(app, [*cli, "team"])
    assert shown.exit_code == 0 and "Ana Ruiz" in shown.output and "away" in shown.output
