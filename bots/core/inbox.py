"""Worklist inbox folders: drop a CSV/XLSX file in, the next scheduled run loads it.

A schedule may name an inbox (``[bots.<bot>] inbox = "inbox/claim_edits"`` in
config/bots.toml). A relative inbox path is relative to ``BOTS_HOME``, like the
workbook path, so moving the runtime folder moves its inboxes with it and the
path does not depend on the directory the service starts in.

Each new file is loaded with :func:`bots.core.worklist.load_worklist`, oldest
first (a corrected file dropped after the original must win), then moved out of
the inbox so it is never loaded twice:

- ``archive/<UTC timestamp>-<name>``: loaded. If some rows were bad (they became
  ``INPUT-FORMAT`` exceptions and their claims were held back) a
  ``<archived name>.report.txt`` beside it lists them.
- ``rejected/<UTC timestamp>-<name>`` with ``<rejected name>.report.txt``: the
  file could not be read at all (wrong header, not a spreadsheet, empty);
  nothing from it was loaded.

A file modified in the last couple of seconds, or open in Excel (a ``~$`` owner
file beside it), is left for the next pass: it may still be being copied or
saved. Excel/LibreOffice lock files and hidden files are never touched; files of
other types are ignored. A crash between loading and moving is harmless: the
next pass loads the file again, and loading is idempotent.

Each inbox reads its files with one worklist profile (``inbox_profile = "us_pm_export"`` beside
``inbox`` in the bot's section; ``bots.core.worklist_profiles``): a folder per source.

Worklists hold PHI, so the archive and rejected folders are created owner-only.
Every archived or rejected file leaves an audit record with its sha256, so a
reviewer can tie a claim back to the exact file that brought it in.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bots.core.errors import InputError
from bots.core.evidence import sha256_file
from bots.core.logging import get_logger
from bots.core import registry
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store, utcnow
from bots.core.worklist import LOADER_BOT, LoadResult, load_worklist, unreadable
from bots.core.worklist_profiles import DEFAULT_PROFILE, WorklistProfile, load_profile

__all__ = ["ARCHIVE", "REJECTED", "InboxFile", "InboxResult", "configured_inboxes", "inbox_profile",
           "known_payers", "process_inbox", "resolve_inbox"]

ARCHIVE = "archive"
REJECTED = "rejected"
WORKLIST_SUFFIXES = frozenset({".csv", ".xlsx", ".xlsm"})
SETTLE_SECONDS = 2.0
log = get_logger("bots.inbox")


@dataclass
class InboxFile:
    """What happened to one file: ``archived`` (possibly with bad rows) or ``rejected``."""

    name: str
    status: str
    moved_to: str
    report: str | None = None
    load: LoadResult | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "moved_to": self.moved_to, "report": self.report,
                "problem": self.problem, **({"load": self.load.as_dict()} if self.load else {})}


@dataclass
class InboxResult:
    folder: str
    profile: str = DEFAULT_PROFILE.name
    files: list[InboxFile] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # still being written or open in Excel: next pass

    @property
    def archived(self) -> list[InboxFile]:
        return [f for f in self.files if f.status == ARCHIVE]

    @property
    def rejected(self) -> list[InboxFile]:
        return [f for f in self.files if f.status == REJECTED]

    def as_dict(self) -> dict[str, Any]:
        return {"folder": self.folder, "profile": self.profile, "archived": len(self.archived), "rejected": len(self.rejected),
                "waiting": self.waiting, "files": [f.as_dict() for f in self.files]}


def resolve_inbox(settings: Settings, value: str | Path) -> Path:
    """An inbox path (bots.toml or the command line): absolute as given, relative to ``BOTS_HOME`` otherwise.

    The result is absolute, so resolving it again changes nothing.
    """
    path = Path(value).expanduser()
    return path if path.is_absolute() else settings.home.absolute() / path


def configured_inboxes(settings: Settings) -> list[Path]:
    """The inbox folders of the enabled bots, each once."""
    folders: list[Path] = []
    for bot in registry.names():
        cfg = settings.config.bot(bot)
        if cfg.enabled and cfg.inbox:
            folder = resolve_inbox(settings, cfg.inbox)
            if folder not in folders:
                folders.append(folder)
    return folders


def known_payers(settings: Settings) -> set[str] | None:
    """Payer ids with a profile in config/payers/; None (accept any) when there are none yet."""
    return settings.payers.known_ids()


def inbox_profile(settings: Settings, folder: Path) -> str | None:
    """The worklist profile configured for an inbox folder (``inbox_profile`` beside ``inbox`` in the
    section of the bot that names it); None when none does."""
    for bot in registry.names():
        cfg = settings.config.bot(bot)
        if cfg.inbox and cfg.inbox_profile and resolve_inbox(settings, cfg.inbox) == folder:
            return cfg.inbox_profile
    return None


def process_inbox(settings: Settings, store: Store, folder: str | Path, *, create: bool = False,
                  settle_seconds: float = SETTLE_SECONDS, profile: str | None = None) -> InboxResult:
    """Load, then archive or reject, every new worklist file in ``folder``.

    A relative ``folder`` is relative to ``BOTS_HOME`` (``resolve_inbox``), never to the current
    directory. ``create`` makes a missing folder (a configured inbox nobody has used yet); otherwise a
    missing folder is an ``InputError``, since a mistyped path should not quietly do nothing.
    A database failure propagates and leaves the file where it is, to be loaded next time.
    Files are read with the worklist profile ``profile``, else the folder's configured
    ``inbox_profile``, else the default; a bad profile is a ``ConfigError`` and leaves every file waiting.
    """
    folder = resolve_inbox(settings, folder)
    if not folder.is_dir():
        if not create:
            raise InputError(f"{folder}: inbox folder not found (a relative inbox path is relative to BOTS_HOME)")
        folder.mkdir(parents=True, exist_ok=True)
    chosen = load_profile(settings.config_dir, profile or inbox_profile(settings, folder))
    result = InboxResult(folder=str(folder), profile=chosen.name)
    payers = known_payers(settings)
    now = time.time()
    for path in _candidates(folder):
        if now - path.stat().st_mtime < settle_seconds or _open_in_excel(path):
            result.waiting.append(path.name)
            log.info("inbox_file_waiting", folder=str(folder), file=path.name)
            continue
        result.files.append(_take(store, path, payers, chosen))
    return result


def _candidates(folder: Path) -> list[Path]:
    files = [p for p in folder.iterdir()
             if p.is_file() and p.suffix.lower() in WORKLIST_SUFFIXES and not p.name.startswith(("~$", "."))]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def _open_in_excel(path: Path) -> bool:
    # Excel's owner file is "~$" + the name, or + the name minus its first two characters
    # for longer names; either beside the file means it is open and may be mid-save.
    return any((path.parent / f"~${n}").exists() for n in (path.name, path.name[2:]))


def _take(store: Store, path: Path, payers: set[str] | None, profile: WorklistProfile) -> InboxFile:
    sha = sha256_file(path)
    try:
        loaded = load_worklist(store, path, known_payers=payers, profile=profile)
    except SQLAlchemyError:
        raise  # the database, not the file: leave it in the inbox for the next pass
    except (InputError, csv.Error, UnicodeError, ValueError, KeyError, OSError) as exc:
        problem = str(unreadable(path, exc))  # the same sentence `bots worklist load` prints
        dest = _move(path, REJECTED)
        report = _write_report(dest, [
            "rcm-bots inbox: file REJECTED; nothing from it was loaded.",
            f"file:     {path.name}",
            f"moved to: {dest}",
            f"sha256:   {sha}",
            f"problem:  {problem}",
            "",
            "Fix the file (the header must name the worklist columns) and drop it in the inbox again.",
        ])
        _audit(store, path, dest, sha, "rejected", {"problem": problem})
        log.warning("inbox_file_rejected", file=path.name, moved_to=str(dest), problem=problem)
        return InboxFile(path.name, REJECTED, str(dest), str(report), problem=problem)
    dest = _move(path, ARCHIVE)
    report = None
    if loaded.problems:
        report = _write_report(dest, [
            f"rcm-bots inbox: file loaded, but {len(loaded.problems)} problem(s) in its rows.",
            f"file:     {path.name}",
            f"moved to: {dest}",
            f"sha256:   {sha}",
            f"profile:  {loaded.profile}",
            f"rows {loaded.rows}; claims new {loaded.claims_new}, updated {loaded.claims_updated}, "
            f"unchanged {loaded.claims_unchanged}, held back {loaded.claims_rejected}",
            "",
            "The claims of these rows were NOT loaded. Each problem is also an INPUT-FORMAT row in the",
            "exception workbook (Input Problems sheet). Fix the rows and drop the corrected file in the inbox again.",
            "",
            *(f"row {p.row}, column {p.column}: {p.message} ({p.shown})" for p in loaded.problems),
        ])
    _audit(store, path, dest, sha, "archived", {"rows": loaded.rows, "bad_rows": len(loaded.problems)})
    log.info("inbox_file_archived", file=path.name, moved_to=str(dest), rows=loaded.rows,
             claims_new=loaded.claims_new, claims_held_back=loaded.claims_rejected, bad_rows=len(loaded.problems))
    return InboxFile(path.name, ARCHIVE, str(dest), str(report) if report else None, load=loaded)


def _move(path: Path, kind: str) -> Path:
    target_dir = path.parent / kind
    target_dir.mkdir(mode=0o700, exist_ok=True)
    stamp = f"{utcnow():%Y%m%dT%H%M%SZ}"
    dest = target_dir / f"{stamp}-{path.name}"
    n = 1
    while dest.exists():
        dest = target_dir / f"{stamp}-{n}-{path.name}"
        n += 1
    os.replace(path, dest)
    return dest


def _write_report(beside: Path, lines: list[str]) -> Path:
    report = beside.with_name(beside.name + ".report.txt")
    fd = os.open(report, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    return report


def _audit(store: Store, path: Path, dest: Path, sha: str, result: str, detail: dict[str, Any]) -> None:
    store.audit([AuditEntry(action="inbox_file", result=result, bot=LOADER_BOT, item_ref=path.name,
                            input_digest=sha, detail={"file": path.name, "moved_to": str(dest), **detail},
                            evidence_path=str(dest), evidence_sha256=sha)])
