"""Finding the browser the bots drive, and the arguments to launch it with.

Order: the configured path (``BOTS_BROWSER_PATH``), then a system Chromium, then
Playwright's own download. ``python -m bots.core.browser`` (:func:`main`) prints the
choice and exits 1 when there is none (the Makefile then installs Debian's chromium
when it can).
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bots.core.errors import ConfigError

# Flags for Chromium as a headless robot: no sandbox (root in containers), no GPU,
# and none of the background traffic a closed network refuses at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

SYSTEM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserNotFound(ConfigError):
    """No usable browser; the message says what was tried."""


def _playwright_own() -> Path | None:
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache" / "ms-playwright")
    patterns = ("chromium-*/chrome-linux*/chrome", "chromium_headless_shell-*/chrome-linux*/headless_shell",
                "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium")
    for pattern in patterns:
        found = sorted(glob.glob(os.path.join(root, pattern)))
        if found:
            return Path(found[-1])
    return None


def find_browser(configured: Path | None = None) -> tuple[Path | None, str]:
    """(executable path, where it came from). ``None`` path = let Playwright use its own.

    Raises ``BrowserNotFound`` naming what was tried when there is nothing.
    """
    configured = configured or (Path(os.environ["BOTS_BROWSER_PATH"]) if os.environ.get("BOTS_BROWSER_PATH") else None)
    if configured is not None:
        if configured.exists():
            return configured, "configured"
        raise BrowserNotFound(f"BOTS_BROWSER_PATH={configured} does not exist")
    for name in SYSTEM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return Path(path), "system"
    own = _playwright_own()
    if own is not None:
        return None, f"playwright ({own})"
    raise BrowserNotFound(
        "no browser found: set BOTS_BROWSER_PATH, install Chromium (Debian: apt-get install -y chromium), "
        "or run `playwright install chromium`"
    )


def launch_kwargs(configured: Path | None = None, *, headless: bool = True) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch``."""
    path, _source = find_browser(configured)
    kwargs: dict[str, Any] = {"headless": headless, "args": list(CHROMIUM_ARGS)}
    if path is not None:
        kwargs["executable_path"] = str(path)
    return kwargs



def main() -> int:
    try:
        path, source = find_browser()
    except BrowserNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{path or 'playwright-managed chromium'} ({source})")
    return 0
