"""Structured logging: JSON lines for IT, a readable console for people, no PHI ever.

Every log event passes through :func:`scrub_phi` before any renderer sees it.
It drops known PHI and secret keys outright and masks the current item's PHI
values wherever they appear in a string (an error message that quotes a page,
say). The runner sets those values per item with :func:`phi_values`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.handlers
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import structlog

__all__ = ["PHI_KEYS", "configure_logging", "get_logger", "phi_values", "register_secret", "scrub_phi"]

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


_configured: tuple[Path | None, str] | None = None


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


def configure_logging(logs_dir: Path | None, level: str = "INFO", *, console: bool | None = None) -> None:
    """Send structlog events to ``logs_dir/bots.jsonl`` (rotated) and, on a TTY, the console.

    Safe to call more than once; a call with the same arguments changes nothing.
    """
    global _configured
    if _configured == (logs_dir, level) and structlog.is_configured():
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
        file_handler = logging.handlers.RotatingFileHandler(
            logs_dir / "bots.jsonl", maxBytes=20 * 1024 * 1024, backupCount=10, encoding="utf-8"
        )
        file_handler.setFormatter(_formatter(shared, structlog.processors.JSONRenderer()))
        root.addHandler(file_handler)
    if console is None:
        console = sys.stderr.isatty()
    if console:
        console_handler = logging.StreamHandler(sys.stderr)
        console_handler.setLevel(max(logging.getLevelName(level), logging.WARNING))
        console_handler.setFormatter(_formatter(shared, structlog.dev.ConsoleRenderer(colors=True)))
        root.addHandler(console_handler)
    _configured = (logs_dir, level)


def get_logger(name: str = "bots", **bound: Any) -> structlog.stdlib.BoundLogger:
    if not name.startswith("bots"):
        name = f"bots.{name}"
    return structlog.get_logger(name, **bound)
