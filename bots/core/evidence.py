"""Evidence files (screenshots, page snapshots) under ``var/evidence/<run_id>/``.

Files are created owner-read/write only (0600), folders 0700: they show patient data. With
``[files] share_group`` they are readable by that group (``bots.core.file_access``), so coders
can open the screenshots their rows link to. Each saved file comes back with its sha256 so the
audit record can pin its content.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from bots.core.file_access import FileAccess

__all__ = ["EvidenceFile", "EvidenceFolder", "sha256_file"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class EvidenceFile:
    path: Path
    sha256: str

    def __str__(self) -> str:
        return str(self.path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


class EvidenceFolder:
    """One run's evidence folder; created on first use, mode 0700 (or shared, see ``FileAccess``)."""

    def __init__(self, root: Path, run_id: str, access: FileAccess | None = None):
        self.root = root
        self.dir = root / run_id
        self.access = access or FileAccess()
        self._ready = False

    def path_for(self, name: str) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self._ready:
            self.access.evidence_dir(self.dir, self.root)
            self._ready = True
        return self.dir / _SAFE.sub("_", name)

    def save(self, name: str, content: bytes | str) -> EvidenceFile:
        data = content.encode("utf-8") if isinstance(content, str) else content
        path = self.path_for(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self.access.evidence_file(path)
        return EvidenceFile(path.resolve(), hashlib.sha256(data).hexdigest())

    def adopt(self, path: Path) -> EvidenceFile:
        """A file something else wrote here (a Playwright screenshot): set its mode, hash it."""
        self.access.evidence_file(path)
        return EvidenceFile(path.resolve(), sha256_file(path))
