"""The shipped systemd unit stays hardened: ``systemd-analyze security`` rates it 4.0 or below."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "rcm-bots-scheduler.service"
MAX_EXPOSURE = 4.0


def test_the_scheduler_unit_scores_at_most_4_0() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here (Debian: apt-get install systemd)")
    result = subprocess.run([tool, "security", "--offline=true", str(UNIT)], capture_output=True, text=True,
                            timeout=120)
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", result.stdout)
    if found is None and "--offline" in result.stderr:
        pytest.skip(f"this systemd-analyze cannot analyse a unit file offline: {result.stderr.strip()}")
    assert found, f"no exposure figure in:\n{result.stdout}\n{result.stderr}"
    exposure = float(found.group(1))
    assert exposure <= MAX_EXPOSURE, f"{UNIT.name}: exposure {exposure} > {MAX_EXPOSURE}\n{result.stdout}"


def test_the_unit_keeps_what_chromium_and_the_bots_need() -> None:
    text = UNIT.read_text()
    settings = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["ProtectSystem"] == "strict" and settings["ReadWritePaths"] == "/var/lib/rcm-bots"
    assert "/var/lib/rcm-bots" in settings["Environment"], "the writable path is BOTS_HOME"
    assert settings["UMask"] == "0077" and settings["NoNewPrivileges"] == "yes"
    assert "MemoryDenyWriteExecute" not in settings, "V8's JIT needs writable+executable memory"
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(settings["RestrictAddressFamilies"].split())
