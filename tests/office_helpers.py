"""Saving a workbook through LibreOffice Calc, the coders' real spreadsheet client.

``make test`` installs ``libreoffice-calc`` when it is missing (the Makefile's ``office`` target), so
these tests run in CI; a developer machine without ``soffice`` skips them, unless ``CI`` is set, where
a missing LibreOffice is a failure rather than a silent skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

__all__ = ["save_through_libreoffice", "soffice"]

# One LibreOffice profile per test process: two instances sharing a profile refuse each other, and
# a fresh profile costs a few seconds on every start.
_PROFILE = Path(tempfile.gettempdir()) / f"rcm-bots-lo-profile-{os.getpid()}"


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice (soffice) is not installed: `make test` installs libreoffice-calc")
        pytest.skip("LibreOffice (soffice) is not installed")
    return found


def save_through_libreoffice(path: Path, *, to: str = "xlsx") -> Path:
    """Open ``path`` in headless LibreOffice Calc and save it again as ``to`` (xlsx replaces ``path``,
    as a coder's save does; pdf lands beside it). Returns the saved file."""
    outdir = path.parent / f".lo-out-{path.stem}"
    outdir.mkdir(exist_ok=True)
    proc = subprocess.run(
        [soffice(), f"-env:UserInstallation={_PROFILE.as_uri()}", "--headless", "--norestore",
         "--convert-to", to, "--outdir", str(outdir), str(path)],
        capture_output=True, text=True, timeout=180)
    saved = outdir / f"{path.stem}.{to}"
    assert proc.returncode == 0 and saved.is_file(), f"LibreOffice did not save {path}: {proc.stdout} {proc.stderr}"
    target = path if to == path.suffix.lstrip(".") else path.with_suffix(f".{to}")
    os.replace(saved, target)
    outdir.rmdir()
    return target
