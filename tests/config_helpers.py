"""Edits a test makes to its private copy of config/ (see the ``config_dir`` fixture)."""

from __future__ import annotations

import re
from pathlib import Path


def set_bot_retry(config_dir: Path, bot: str, *, attempts: int, max_attempts: int | None = None) -> None:
    """Quick in-process retries (and optionally fewer runs before Bot Failures) for ``bot``."""
    path = config_dir / "bots.toml"
    text = re.sub(rf"(?ms)^\[bots\.{bot}\.retry\]\n.*?(?=^\[|\Z)", "", path.read_text())
    if max_attempts is not None:
        text = re.sub(rf"(\[bots\.{bot}\][^\[]*?)max_attempts = \d+", rf"\g<1>max_attempts = {max_attempts}", text)
    text += (f"\n[bots.{bot}.retry]\nattempts = {attempts}\nwait_initial = 0.05\nwait_max = 0.3\n"
             f"jitter = 0.05\nmax_delay = 60\n")
    path.write_text(text)
