"""Structured logging: JSON lines for IT, a readable console for people, no PHI ever.

Every log event passes through :func:`scrub_phi` before any renderer sees it.
It drops known PHI and secret keys outright and masks the current item's PHI
values wherever they appear in a string (an error message that quotes a page,
say). The runner sets those values per item with :func:`phi_values`.

Where events go (``configure_logging``):

- ``logs/bots.jsonl``, JSON lines, rotated by size with ``concurrent-log-handler``'s
  ``ConcurrentRotatingFileHandler``. The scheduler and ad-hoc ``bots`` commands write the same file
  from different processes; the standard library's ``RotatingFileHandler`` is only safe within one
  process (two processes rotating at once lose or split lines, and one keeps writing into the
  renamed file). The concurrent handler takes a lock file (``logs/.__bots.lock``) around each write
  and rotation, so every line lands whole in exactly one file. We chose it over a watched file plus a
  shipped logrotate snippet because it needs nothing installed outside the package and behaves the
  same on every host, including developer machines without logrotate.
- standard output, as the same JSON lines, when standard output is the systemd journal
  (``JOURNAL_STREAM`` names it, as systemd documents), so ``journalctl -u`` has every run; or when
  ``BOTS_LOG_STDOUT=1`` asks for it (another supervisor, a container). Not for any other non-TTY
  stdout: a pipe (``bots runs --json | jq``, cron mail) must carry only the command's own output.
- the console (stderr, readable, warnings and up) on a terminal.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import structlog
from concurrent_log_handler import ConcurrentRotatingFileHandler

__all__ = ["PHI_KEYS", "configure_logging", "get_logger", "phi_values", "register_secret", "scrub_phi", "scrub_text"]

# Keys whose values never reach a log, whatever their content.
PHI_KEYS = frozenset(
    {
        "patient_name", "patient", "member_id", "patient_dob", "dob", "date_of_birth",
        "password", "passwd", "totp_secret", "secret", "otp", "token", "cookie", "cookies",
        "storage_state", "ssn",
    }
)
MASK = "[redacted]"

_current_phi: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("phi", default=())
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask this value (a password, a TOTP secret) in every log line from now on."""
    if value and len(value) >= 4:
        _secrets.add(value)


@contextlib.contextmanager
def phi_values(values: Iterable[str | None]) -> Iterator[None]:
    """Mask these values (the current item's patient name, member id, DOB) while inside."""
    token = _current_phi.set(tuple(v for v in values if v and len(v) >= 3))
    try:
        yield
    finally:
        _current_phi.reset(token)


def _mask_text(text: str, needles: Iterable[str]) -> str:
    for needle in needles:
        if needle in text:
            text = text.replace(needle, MASK)
    return text


def _scrub(value: Any, needles: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return _mask_text(value, needles) if needles else value
    if isinstance(value, dict):
        return {k: (MASK if str(k).lower() in PHI_KEYS else _scrub(v, needles)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v, needles) for v in value)
    return value


def scrub_text(text: str) -> str:
    """``text`` with registered secrets and the current item's PHI values masked (alerts use it)."""
    return _mask_text(text, _current_phi.get() + tuple(_secrets))


def scrub_phi(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: drop PHI keys, mask PHI and secret values."""
    needles = _current_phi.get() + tuple(_secrets)
    out: dict[str, Any] = {}
    for key, value in event_dict.items():
        if key.lower() in PHI_KEYS:
            continue
        out[key] = _scrub(value, needles)
    exc = out.get("exception")
    if isinstance(exc, str) and needles:
        out["exception"] = _mask_text(exc, needles)
    return out


_configured: tuple[Any, ...] | None = None
MAX_BYTES = 20 * 1024 * 1024
BACKUP_COUNT = 10


def _formatter(shared: list[Any], renderer: Any) -> structlog.stdlib.ProcessorFormatter:
    """Every handler scrubs PHI last, just before its renderer, whatever the event came from."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            scrub_phi,
            renderer,
        ],
    )


def stdout_is_journal() -> bool:
    """True when standard output is the systemd journal: ``JOURNAL_STREAM`` ("device:inode", set by
    systemd for a service's stdout/stderr) matches our stdout, as systemd.exec(5) says to check."""
    stream = os.environ.get("JOURNAL_STREAM")
    if not stream:
        return False
    try:
        st = os.fstat(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no real stdout (a test runner's buffer, closed)
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"


def _json_to_stdout() -> bool:
    if os.environ.get("BOTS_LOG_STDOUT", "").strip().lower() in ("1", "true", "yes"):
        return True
    return stdout_is_journal()


def configure_logging(logs_dir: Path | None, level: str = "INFO", *, console: bool | None = None,
                      stdout: bool | None = None, max_bytes: int = MAX_BYTES,
                      backup_count: int = BACKUP_COUNT) -> None:
    """Send structlog events to ``logs_dir/bots.jsonl`` (rotated, safe across processes), to stdout as
    JSON when it is the journal (``stdout`` None: decide so; True/False: force) and, on a TTY, to
    the console. Safe to call more than once; a call with the same arguments changes nothing.
    """
    global _configured
    if stdout is None:
        stdout = _json_to_stdout()
    if console is None:
        console = sys.stderr.isatty()
    wanted = (logs_dir, level, console, stdout, max_bytes, backup_count)
    if _configured == wanted and structlog.is_configured():
        return
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger("bots")
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    root.propagate = False
    if logs_dir is not None:
        logs_dir.mkdir(parents=True, exist_ok=True)
        file_handler = ConcurrentRotatingFileHandler(
            str(logs_dir / "bots.jsonl"), maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8",
            chmod=0o600,  # log lines name claims and runs: owner-only, rotated files and lock file too
        )
        file_handler.setFormatter(_formatter(shared, structlog.processors.JSONRenderer()))
        root.addHandler(file_handler)
    if stdout:
        stdout_handler = logging.StreamHandler(sys.stdout)
        stdout_handler.setFormatter(_formatter(shared, structlog.processors.JSONRenderer()))
        root.addHandler(stdout_handler)
    if console:
        console_handler = logging.StreamHandler(sys.stderr)
        console_handler.setLevel(max(logging.getLevelName(level), logging.WARNING))
        console_handler.setFormatter(_formatter(shared, structlog.dev.ConsoleRenderer(colors=True)))
        root.addHandler(console_handler)
    _configured = wanted


def logging_setup() -> tuple[Any, ...] | None:
    """The arguments of the last ``configure_logging`` (logs folder, level, console, stdout, sizes), so a
    worker process of the same run logs where and as its parent does; None before any."""
    return _configured


def get_logger(name: str = "bots", **bound: Any) -> structlog.stdlib.BoundLogger:
    if not name.startswith("bots"):
        name = f"bots.{name}"
    return structlog.get_logger(name, **bound)
