"""The workbook on disk: lock files, atomic replacement, backups, moving files aside.

A coder's open copy and a half-written file are the two ways to lose work.
Excel (``~$name.xlsx``) and LibreOffice (``.~lock.name.xlsx#``) leave a lock
file beside a workbook they have open; while one is there we do not replace
the file under them. A new workbook is written to a temporary file in the same
folder, flushed to disk, and renamed over the old one, so a reader (or a
crash) sees either the old workbook or the new one, never a mix.

A file we must not overwrite (corrupt, someone else's, or holding entries we
could not merge) is moved or copied aside as ``<stem>.corrupt-<timestamp>.xlsx``
or ``<stem>.unmerged-<timestamp>.xlsx`` beside the workbook.

Backups: before each replace the current workbook becomes
``backups/<stem>.1<suffix>`` (the newest; ``.2`` … ``.N`` older), ``N`` from
``bots.toml [workbook] backups``. They keep the ``.xlsx`` ending so a coder can
open one directly.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

__all__ = [
    "BACKUP_DIR", "backup_path", "copy_aside", "fsync_dir", "office_lock", "move_aside", "remove_stale_temps",
    "replace_with_backups", "temp_path", "writer_lock",
]

BACKUP_DIR = "backups"
WRITER_LOCK_WAIT = 300.0  # seconds; a 60,000-row write takes about ten


def office_lock(path: Path) -> Path | None:
    """The lock file Excel or LibreOffice keeps beside ``path`` while it is open, if any."""
    for name in (f"~${path.name}", f".~lock.{path.name}#"):
        candidate = path.with_name(name)
        if candidate.exists():
            return candidate
    return None


def temp_path(path: Path) -> Path:
    """A fresh temporary name in the workbook's folder (same file system: rename is atomic).
    It does not end in ``.xlsx`` so nobody opens a half-written file by mistake."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(3)}.tmp")


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temporary files a killed writer left. Call only under :func:`writer_lock`,
    which guarantees no other writer is using one."""
    removed = []
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
            removed.append(stale)
    return removed


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def backup_path(path: Path, n: int) -> Path:
    return path.parent / BACKUP_DIR / f"{path.stem}.{n}{path.suffix}"


def replace_with_backups(tmp: Path, path: Path, keep: int) -> None:
    """Rotate backups, keep the current workbook as backup 1, then rename ``tmp`` over it.

    The current file is hard-linked (copied where links are not supported)
    rather than moved, so ``path`` always names a complete workbook.
    """
    if keep > 0 and path.exists():
        backup_path(path, 1).parent.mkdir(parents=True, exist_ok=True)
        backup_path(path, keep).unlink(missing_ok=True)
        for n in range(keep - 1, 0, -1):
            older = backup_path(path, n)
            if older.exists():
                os.replace(older, backup_path(path, n + 1))
        first = backup_path(path, 1)
        try:
            os.link(path, first)
        except OSError:
            shutil.copy2(path, first)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _aside_name(path: Path, tag: str) -> Path:
    """``exceptions.corrupt-20261127T0521.xlsx``: the ending stays, so Excel opens it for recovery."""
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    candidate = path.with_name(f"{path.stem}.{tag}-{stamp}{path.suffix}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}.{tag}-{stamp}-{n}{path.suffix}")
    return candidate


def move_aside(path: Path, tag: str) -> Path:
    """Rename a workbook we must not overwrite to ``<stem>.<tag>-<timestamp><suffix>``; return the new path."""
    target = _aside_name(path, tag)
    os.replace(path, target)
    fsync_dir(path.parent)
    return target


def copy_aside(path: Path, tag: str) -> Path:
    """Keep a copy of a workbook holding something we could not merge; return the copy's path."""
    target = _aside_name(path, tag)
    shutil.copy2(path, target)
    return target


@contextlib.contextmanager
def writer_lock(path: Path, wait: float = WRITER_LOCK_WAIT) -> Iterator[bool]:
    """One workbook writer at a time across processes (two bots finishing together).

    Yields False if another writer held the lock for ``wait`` seconds. The
    operating system releases the lock when its holder dies, so a killed
    writer never blocks the next one.
    """
    lock_file = path.with_name(f".{path.name}.writer-lock")
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fh = lock_file.open("a+b")
    deadline = time.monotonic() + wait
    try:
        while not _try_lock(fh):
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(0.2)
        try:
            yield True
        finally:
            _unlock(fh)
    finally:
        fh.close()


def _try_lock(fh: IO[bytes]) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unlock(fh: IO[bytes]) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
