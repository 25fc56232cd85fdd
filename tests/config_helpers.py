"""Changes a test makes to its settings or to its private copy of config/ (the ``config_dir`` fixture).

In-process tests change bots.toml by value (``Settings.with_bot``/``with_config``). A test
that has to go through a file (a CLI invocation, a subprocess, a bot's own TOML) reads the
document, changes the dict and writes it whole with ``tomli_w``: never by editing TOML text.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w

from bots.core.settings import Settings

QUICK_RETRY = {"wait_initial": 0.05, "wait_max": 0.3, "jitter": 0.05, "max_delay": 60}


def quick_retries(settings: Settings, bot: str, *, attempts: int, max_attempts: int | None = None) -> Settings:
    """``settings`` with quick in-process retries (and optionally fewer runs before Bot Failures) for ``bot``."""
    values: dict[str, Any] = {"retry": {**QUICK_RETRY, "attempts": attempts}}
    if max_attempts is not None:
        values["max_attempts"] = max_attempts
    return settings.with_bot(bot, **values)


def read_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(data))
    return path


def edit_toml(path: Path, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Read ``path``, let ``change`` edit the document in place, write it whole; returns the document."""
    data = read_toml(path)
    change(data)
    write_toml(path, data)
    return data


def toml_value(text: str) -> Any:
    """The value a TOML literal stands for: ``'"page"'`` → ``"page"``, ``"2"`` → ``2``."""
    return tomllib.loads(f"v = {text}")["v"]
