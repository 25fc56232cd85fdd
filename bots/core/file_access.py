"""Who may open the files that hold PHI: the bot's user only, unless a share group is configured.

Every file rcm-bots writes can show patient data or leads to it: the database (and SQLite's
``-wal``/``-shm`` files), the exception workbook and its backups, the logs, the evidence
screenshots and page snapshots, the audit keys. By default all of them are created owner-only:
files 0600, folders 0700. :func:`restrict_new_files` sets the process umask to 0077 before the
first file is created (``Settings.ensure_dirs``), so files made by libraries (SQLite, openpyxl,
the log handler, Playwright's screenshots) get the same modes without each call site knowing.
The systemd unit sets ``UMask=0077`` as well.

Coders work the workbook and open the evidence it links to, usually on a shared folder, as
other users. ``[files] share_group = "rcm-coders"`` in ``bots.toml`` gives that one group what
it needs and nothing else:

====================================  ===========  =========================================
path                                  mode         group
====================================  ===========  =========================================
the workbook                          0660         share_group (coders save it)
the workbook's folder                 2770         share_group (office lock files, saves by
                                                   rename; setgid keeps the group on new files)
evidence files                        0640         share_group (read only)
evidence folders                      2750         share_group
BOTS_HOME and the folders leading     0710         share_group (pass through, no listing)
to the workbook and the evidence
database, logs, backups, audit keys   0600 / 0700  unchanged: never shared
====================================  ===========  =========================================

Because the workbook's folder is group-writable, it must not be BOTS_HOME itself (a group
member could then rename the database): with a share group, ``[workbook] path`` names a file
in a folder of its own, e.g. ``"shared/exceptions.xlsx"``; the setting is refused otherwise.
The backups folder inside it stays 0700.
"""

from __future__ import annotations

import grp
import os
import stat
from pathlib import Path

from bots.core.errors import ConfigError

__all__ = ["OWNER_ONLY_UMASK", "FileAccess", "group_id", "restrict_new_files"]

OWNER_ONLY_UMASK = 0o077

_FILE, _DIR = 0o600, 0o700
_SHARED_WORKBOOK, _SHARED_WORKBOOK_DIR = 0o660, 0o2770
_SHARED_EVIDENCE, _SHARED_EVIDENCE_DIR = 0o640, 0o2750
_PASS_THROUGH = 0o710


def restrict_new_files() -> None:
    """From now on this process creates files 0600 and folders 0700 (umask 0077)."""
    os.umask(OWNER_ONLY_UMASK)


def group_id(name: str) -> int:
    """The id of group ``name``; ``ValueError`` in words a config error can carry."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ValueError(f"no group named {name!r} on this machine (create it, or leave share_group unset "
                         f"so the files stay owner-only)") from None


class FileAccess:
    """The modes of the shared files: owner-only, or readable (the workbook writable) by ``share_group``."""

    def __init__(self, share_group: str | None = None, *, home: Path | None = None):
        self.share_group = share_group
        self.gid = group_id(share_group) if share_group else None
        self.home = home.resolve() if home is not None else None

    def _apply(self, path: Path, mode: int) -> None:
        try:
            if self.gid is not None and path.stat().st_gid != self.gid:
                os.chown(path, -1, self.gid)
            os.chmod(path, mode)
        except PermissionError as exc:
            raise ConfigError(f"{path}: cannot give it mode {mode:o} and group {self.share_group!r} "
                             f"({exc.strerror}); the bot's user must be a member of the group "
                             f"([files] share_group in bots.toml)") from None

    def _pass_through(self, folder: Path) -> None:
        """Open the folders from BOTS_HOME down to ``folder`` (exclusive) for the group to pass through."""
        if self.gid is None or self.home is None:
            return
        folder = folder.resolve()
        if folder != self.home and self.home not in folder.parents:
            return  # outside BOTS_HOME: IT owns the path to it
        chain = [folder.parent, *folder.parent.parents] if folder != self.home else []
        for d in [p for p in chain if p == self.home or self.home in p.parents]:
            if stat.S_IMODE(d.stat().st_mode) & 0o070 == 0:
                self._apply(d, _PASS_THROUGH)

    def workbook(self, path: Path) -> None:
        """The workbook as written: 0600, or 0660 for the group with its folder 2770."""
        if self.gid is None:
            os.chmod(path, _FILE)
            return
        self._pass_through(path.parent)
        self._apply(path.parent, _SHARED_WORKBOOK_DIR)
        self._apply(path, _SHARED_WORKBOOK)

    def evidence_dir(self, folder: Path, root: Path) -> None:
        """A run's evidence folder (and the evidence root above it)."""
        if self.gid is None:
            os.chmod(folder, _DIR)
            return
        self._pass_through(root)
        self._apply(root, _SHARED_EVIDENCE_DIR)
        self._apply(folder, _SHARED_EVIDENCE_DIR)

    def evidence_file(self, path: Path) -> None:
        if self.gid is None:
            os.chmod(path, _FILE)
            return
        self._apply(path, _SHARED_EVIDENCE)
