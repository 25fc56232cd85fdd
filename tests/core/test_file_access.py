"""Who can open the files: owner-only by default, the workbook and evidence shared with one group when configured.

Each test runs the real commands (worklist load, a claim_edits run, a workbook write) in a fresh
home with a permissive umask first, so a mode that comes out right is the project's doing.
"""

from __future__ import annotations

import grp
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli.app import app
from bots.core.evidence import EvidenceFolder
from bots.core.settings import Settings
from config_helpers import edit_toml
from worklist_helpers import GOOD, write_csv


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _bots(home: Path, config_dir: Path, *args: str) -> str:
    out = CliRunner().invoke(app, ["--home", str(home), "--config-dir", str(config_dir), *args])
    assert out.exit_code == 0, out.output
    return out.output


def _work(tmp_path: Path, config_dir: Path) -> Path:
    """Load a worklist whose claim raises an edit, run claim_edits, write the workbook twice (a backup)."""
    home = tmp_path / "home"
    rows = [{**GOOD, "claim_id": "CLM-FA1", "note_signed": "N"}]
    _bots(home, config_dir, "worklist", "load", str(write_csv(tmp_path / "wl.csv", rows)))
    _bots(home, config_dir, "run", "claim_edits")
    _bots(home, config_dir, "workbook", "write")
    _bots(home, config_dir, "workbook", "write")
    return home


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _evidence(settings: Settings) -> Path:
    return EvidenceFolder(settings.evidence_dir, "run-x", settings.file_access).save("shot.png", b"png").path


def test_every_phi_file_is_owner_only_by_default(tmp_path: Path, config_dir: Path, loose_umask: None) -> None:
    home = _work(tmp_path, config_dir)
    settings = Settings(home=home, config_dir=config_dir)
    evidence = _evidence(settings)
    files = [home / "bots.db", home / "exceptions.xlsx", home / "logs" / "bots.jsonl", evidence,
             *(home / "backups").iterdir(), *home.glob("bots.db-*")]
    assert any(p.parent.name == "backups" for p in files)
    for path in files:
        assert _mode(path) == 0o600, f"{path} is {_mode(path):o}"
    for folder in (home, home / "logs", home / "evidence", evidence.parent, home / "backups"):
        assert _mode(folder) == 0o700, f"{folder} is {_mode(folder):o}"


def _shared_group() -> grp.struct_group:
    """A group the test may give files to: any group as root, else one of ours other than the primary."""
    if os.geteuid() == 0:
        return grp.getgrnam("users") if "users" in {g.gr_name for g in grp.getgrall()} else grp.getgrgid(0)
    for gid in os.getgroups():
        if gid != os.getegid():
            return grp.getgrgid(gid)
    pytest.skip("the test user belongs to no second group to share with")


def test_share_group_opens_the_workbook_and_evidence_and_nothing_else(
        tmp_path: Path, config_dir: Path, loose_umask: None) -> None:
    group = _shared_group()

    def share(doc: dict) -> None:
        doc.setdefault("files", {})["share_group"] = group.gr_name
        doc["workbook"]["path"] = "shared/exceptions.xlsx"

    edit_toml(config_dir / "bots.toml", share)
    home = _work(tmp_path, config_dir)
    settings = Settings(home=home, config_dir=config_dir)
    evidence = _evidence(settings)
    workbook = home / "shared" / "exceptions.xlsx"

    expected = {workbook: 0o660, workbook.parent: 0o2770, evidence: 0o640, evidence.parent: 0o2750,
                home / "evidence": 0o2750, home: 0o710}
    for path, mode in expected.items():
        assert _mode(path) == mode, f"{path} is {_mode(path):o}, wanted {mode:o}"
        assert path.stat().st_gid == group.gr_gid, f"{path} is not in group {group.gr_name}"
    for path in (home / "bots.db", home / "logs" / "bots.jsonl"):
        assert _mode(path) == 0o600, f"{path} is {_mode(path):o}"
    # A backup is a hard link to the workbook as it was (same inode, so same mode): the backups
    # folder is what keeps the group out.
    assert any((workbook.parent / "backups").iterdir())
    for folder in (home / "logs", workbook.parent / "backups"):  # (setgid is inherited; no group bits)
        assert _mode(folder) & 0o777 == 0o700, f"{folder} is {_mode(folder):o}"


@pytest.mark.parametrize("change, words", [
    (lambda d: d.setdefault("files", {}).update(share_group="no-such-group-rcm"),
     ["bots.toml", "files.share_group", "no group named 'no-such-group-rcm'"]),
    (lambda d: d.setdefault("files", {}).update(share_group=grp.getgrgid(os.getegid()).gr_name),
     ["bots.toml", "[workbook] path must name a file in a folder of its own", "'exceptions.xlsx'"]),
    (lambda d: d.update(timezone="America/NewYork"),
     ["bots.toml", "key 'timezone'", "unknown time zone", "'America/NewYork'"]),
])
def test_bad_file_and_zone_settings_are_config_errors(tmp_path: Path, config_dir: Path, change, words) -> None:
    edit_toml(config_dir / "bots.toml", change)
    out = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "--config-dir", str(config_dir),
                                   "workbook", "write"])
    assert out.exit_code == 2, out.output
    for word in words:
        assert word in out.output
    assert not (tmp_path / "home").exists()
