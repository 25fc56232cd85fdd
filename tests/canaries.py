"""Canary PHI and secrets: if any of these ever shows up in a log file, PHI leaked."""

from __future__ import annotations

from bots.core.settings import Settings

CANARY_NAME = "ZZCANARY, PATIENTA"
CANARY_MEMBER = "MBRCANARY9931"
CANARY_DOB = "1931-12-24"
CANARY_PASSWORD = "pw-canary-Xy7!q"



def log_text(settings: Settings) -> str:
    """Everything the logs folder holds, rotated files included."""
    return "".join(p.read_text(errors="replace") for p in settings.logs_dir.glob("*"))
