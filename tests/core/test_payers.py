"""Payer files are read once per Settings by bots.core.payers, validated there, and shared by every bot."""

from __future__ import annotations

from pathlib import Path

import pytest

import bots.core.payers as payers_module
from bots.claim_edits.reference import load_prior_auth_codes
from bots.core.errors import ConfigError
from bots.core.inbox import known_payers
from bots.core.payers import load_payers
from bots.core.settings import Settings
from bots.payer_portal.profile import load_profiles
from config_helpers import edit_toml


def test_a_bad_prior_auth_codes_names_the_file_the_key_and_the_value(config_dir: Path) -> None:
    edit_toml(config_dir / "payers" / "acme.toml", lambda doc: doc.update(prior_auth_codes="72148"))
    with pytest.raises(ConfigError, match=r"acme\.toml: key 'prior_auth_codes': .*expected a list of procedure "
                                          r"codes \(value: '72148'\)"):
        load_payers(config_dir / "payers")


def test_the_payer_id_is_the_file_name(config_dir: Path) -> None:
    edit_toml(config_dir / "payers" / "beacon.toml", lambda doc: doc.update(id="other"))
    with pytest.raises(ConfigError, match=r"beacon\.toml: key 'id': the payer id is the file name \(beacon\)"):
        load_payers(config_dir / "payers")


def test_one_load_serves_every_bot(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []
    real = payers_module.load_toml
    monkeypatch.setattr(payers_module, "load_toml", lambda path: reads.append(path.name) or real(path))

    assert known_payers(settings) == {"acme", "beacon"}                    # the worklist and inbox check
    codes = load_prior_auth_codes(settings.payers)                          # claim_edits
    profiles = load_profiles(settings.payers)                               # payer_portal
    copy = settings.with_bot("payer_portal", max_attempts=1)
    assert copy.payers is settings.payers                                   # settings built from values share it
    assert sorted(reads) == ["acme.toml", "beacon.toml"]
    assert codes["beacon"] == frozenset(profiles["beacon"].prior_auth_codes) and "73721" in codes["beacon"]
    assert profiles["acme"].id == "acme" and profiles["acme"].display_name == settings.payers["acme"].common.display_name


def test_an_edited_payer_file_applies_from_the_next_read(settings: Settings) -> None:
    assert "99999" not in settings.payers["acme"].prior_auth_codes
    edit_toml(settings.config_dir / "payers" / "acme.toml", lambda doc: doc.update(prior_auth_codes=["99999"]))
    assert settings.payers["acme"].prior_auth_codes == frozenset({"99999"})


def test_no_payer_folder_means_any_payer_for_worklists_and_an_error_for_the_portal_bot(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "var", config_dir=tmp_path / "empty", _env_file=None)
    assert known_payers(settings) is None and load_prior_auth_codes(settings.payers) == {}
    with pytest.raises(ConfigError, match="folder not found"):
        load_profiles(settings.payers)


def test_a_payer_known_only_for_its_prior_auth_codes_needs_no_portal_fields(tmp_path: Path) -> None:
    """A payer the bots never look up on a portal is still a payer: claim_edits reads its codes."""
    folder = tmp_path / "payers"
    folder.mkdir()
    (folder / "localplan.toml").write_text('prior_auth_codes = ["72148", "70553"]\n')
    loaded = load_payers(folder)
    assert set(loaded) == {"localplan"}
    assert load_prior_auth_codes(loaded) == {"localplan": frozenset({"72148", "70553"})}
