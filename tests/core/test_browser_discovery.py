"""bots.core.browser.discovery: which browser the bots launch, and ``python -m bots.core.browser``.

The order is the configured path, then a Chromium on PATH, then Playwright's own download; the
tests arrange each case with real files and a real PATH, not by patching the functions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bots.core.browser import CHROMIUM_ARGS, BrowserNotFound, find_browser, launch_kwargs
from bots.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def no_browsers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No configured path, nothing browser-like on PATH, an empty Playwright cache (returned)."""
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    cache = tmp_path / "ms-playwright"
    cache.mkdir()
    monkeypatch.delenv("BOTS_BROWSER_PATH", raising=False)
    monkeypatch.setenv("PATH", str(empty_bin))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(cache))
    return cache


def test_the_configured_path_wins_over_a_chromium_on_path(tmp_path: Path, no_browsers: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = executable(tmp_path / "bin" / "chromium")
    mine = executable(tmp_path / "opt" / "my-chrome")
    assert find_browser() == (on_path, "system")
    assert find_browser(mine) == (mine, "configured")
    monkeypatch.setenv("BOTS_BROWSER_PATH", str(mine))
    assert find_browser() == (mine, "configured")
    kwargs = launch_kwargs(headless=False)
    assert kwargs["executable_path"] == str(mine) and kwargs["headless"] is False


def test_a_missing_configured_path_raises_naming_it_even_when_another_browser_exists(
        tmp_path: Path, no_browsers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable(tmp_path / "bin" / "chromium")
    gone = tmp_path / "nowhere" / "chrome"
    with pytest.raises(BrowserNotFound, match=str(gone)) as raised:
        find_browser(gone)
    assert isinstance(raised.value, ConfigError)
    monkeypatch.setenv("BOTS_BROWSER_PATH", str(gone))
    with pytest.raises(BrowserNotFound, match="BOTS_BROWSER_PATH=.*nowhere"):
        launch_kwargs()


def test_playwrights_own_newest_download_is_the_last_resort(no_browsers: Path) -> None:
    executable(no_browsers / "chromium-1100" / "chrome-linux" / "chrome")
    newest = executable(no_browsers / "chromium-1200" / "chrome-linux" / "chrome")
    path, source = find_browser()
    assert path is None and source == f"playwright ({newest})"
    assert "executable_path" not in launch_kwargs()  # Playwright launches its own


def test_no_browser_at_all_says_what_to_do(no_browsers: Path) -> None:
    with pytest.raises(BrowserNotFound, match="set BOTS_BROWSER_PATH.*install Chromium"):
        find_browser()


def test_launch_kwargs_are_headless_with_the_robot_flags_and_a_private_copy_of_them(
        tmp_path: Path, no_browsers: Path) -> None:
    mine = executable(tmp_path / "my-chrome")
    kwargs = launch_kwargs(mine)
    assert kwargs == {"headless": True, "args": CHROMIUM_ARGS, "executable_path": str(mine)}
    assert "--no-sandbox" in kwargs["args"]
    kwargs["args"].append("--changed-by-a-caller")
    assert "--changed-by-a-caller" not in launch_kwargs(mine)["args"]


def run_module(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m bots.core.browser`` as the Makefile runs it, from the repository root."""
    return subprocess.run([sys.executable, "-m", "bots.core.browser"], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_python_m_bots_core_browser_prints_the_choice_and_exits_0(tmp_path: Path) -> None:
    mine = executable(tmp_path / "my-chrome")
    done = run_module({"BOTS_BROWSER_PATH": str(mine)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{mine} (configured)"


def test_python_m_bots_core_browser_exits_1_naming_the_missing_browser(tmp_path: Path) -> None:
    gone = tmp_path / "nowhere" / "chrome"
    done = run_module({"BOTS_BROWSER_PATH": str(gone)})
    assert done.returncode == 1
    assert done.stdout == "" and f"BOTS_BROWSER_PATH={gone} does not exist" in done.stderr
