"""Change records for payer profiles: recorded with the keys changed, audited, listed by `bots edits changes`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bots.cli import app
from bots.core.payers import load_payers, profile_digests
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.store.changes import CHANGE_RECORDED


def write_payer(folder: Path, tolerance: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / "zeta.toml").write_text(f'display_name = "Zeta"\nprior_auth_codes = []\n'
                                      f'[maintenance]\nwindows = ["Sun 01:00-03:00"]\npaid_tolerance = {tolerance}\n')


def test_payer_profile_change_is_recorded_with_the_keys_changed_and_no_values(
        settings: Settings, store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "payers"
    write_payer(folder, "1.00")
    assert store.record_payer_profiles(profile_digests(load_payers(folder)), bot="payer_portal") == [], \
        "the first run only remembers the profiles"
    assert store.record_payer_profiles(profile_digests(load_payers(folder)), bot="payer_portal") == []

    write_payer(folder, "5.00")
    ids = store.record_payer_profiles(profile_digests(load_payers(folder)), bot="payer_portal")
    assert len(ids) == 1
    change = store.changes()[-1]
    assert (change["kind"], change["subject"]) == ("payer_profile", "zeta")
    assert change["summary"] == {"keys": ["maintenance"], "added": False, "removed": False}
    assert change["old_version"] != change["new_version"]
    audited = store.audit_records(action=CHANGE_RECORDED)
    assert len(audited) == 1 and "5.00" not in audited[0]["detail"]
    assert json.loads(audited[0]["detail"])["subject"] == "zeta"

    out = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                   "edits", "changes", "--since", change["created_at"][:10]])
    assert out.exit_code == 0, out.output
    assert "payer_profile zeta: keys changed: maintenance" in out.output
    bad = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                   "edits", "changes", "--since", "last week"])
    assert bad.exit_code == 2
