"""Fault injection settings for the mock portals.

A fault spec is the one-line string an operator or a test passes on the command line
(``latency_ms=300,error_rate=0.1,seed=7``). Parsing is strict: a typo must fail loudly,
because a silently ignored fault makes a resilience test pass for the wrong reason.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["APPS", "PAYER_APPS", "Faults", "parse_faults"]

PAYER_APPS: tuple[str, ...] = ("acme", "beacon")
"""The payer portals; ``maintenance=all`` and ``captcha=all`` mean these."""

APPS: tuple[str, ...] = (*PAYER_APPS, "billing")
LAYOUTS: tuple[str, ...] = ("v1", "v2")
AFTER_SAVE: tuple[str, ...] = ("expire",)
"""``after_save=expire``: billing ends the session right after it stores a save, so the
confirmation and the read-back land on the sign-in page (a write whose confirmation is lost)."""


@dataclass(frozen=True)
class Faults:
    """The faults in force. The default (all zero / ``None``) is a healthy portal."""

    latency_ms: int = 0
    error_rate: float = 0.0
    expire_after: int | None = None
    layout: str = "v1"
    maintenance: str | None = None
    captcha: str | None = None
    after_save: str | None = None
    seed: int = 0

    def in_maintenance(self, app: str) -> bool:
        """True when ``app`` serves the maintenance page instead of its pages."""
        return _targets(self.maintenance, app)

    def wants_captcha(self, app: str) -> bool:
        """True when ``app`` puts an unpassable CAPTCHA between login and its pages."""
        return _targets(self.captcha, app)

    @property
    def spec(self) -> str:
        """The canonical spec string; ``parse_faults(f.spec) == f``."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value != f.default:
                parts.append(f"{f.name}={value}")
        return ",".join(parts)


def _targets(value: str | None, app: str) -> bool:
    if value is None:
        return False
    if value == "all":
        return app in PAYER_APPS
    return value == app


def _int(key: str, raw: str, minimum: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"fault {key}={raw!r}: not an integer") from None
    if value < minimum:
        raise ValueError(f"fault {key}={raw!r}: must be >= {minimum}")
    return value


def _rate(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"fault {key}={raw!r}: not a number") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"fault {key}={raw!r}: must be between 0 and 1")
    return value


def _choice(key: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise ValueError(f"fault {key}={raw!r}: must be one of {', '.join(allowed)}")
    return raw


_PARSERS = {
    "latency_ms": lambda raw: _int("latency_ms", raw, 0),
    "error_rate": lambda raw: _rate("error_rate", raw),
    "expire_after": lambda raw: _int("expire_after", raw, 1),
    "layout": lambda raw: _choice("layout", raw, LAYOUTS),
    "maintenance": lambda raw: _choice("maintenance", raw, ("all", *APPS)),
    "captcha": lambda raw: _choice("captcha", raw, ("all", *APPS)),
    "after_save": lambda raw: _choice("after_save", raw, AFTER_SAVE),
    "seed": lambda raw: _int("seed", raw, 0),
}


def parse_faults(spec: str) -> Faults:
    """Parse ``key=value,key=value``; an empty spec means no faults.

    Raises ``ValueError`` naming the offending key and value for an unknown key, a bad
    value, a missing ``=`` or a key given twice.
    """
    values: dict[str, object] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep:
            raise ValueError(f"fault {item!r}: expected key=value")
        if key not in _PARSERS:
            raise ValueError(
                f"fault {key}={raw!r}: unknown key (known: {', '.join(_PARSERS)})"
            )
        if key in values:
            raise ValueError(f"fault {key}={raw!r}: {key} given twice")
        values[key] = _PARSERS[key](raw)
    return Faults(**values)  # type: ignore[arg-type]
