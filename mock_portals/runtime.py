"""The live state behind the portals: data, faults, sessions, lockouts and counters.

Everything here is touched only from the server's event loop, and no handler awaits between
reading and writing it, so no lock is needed (a lock held across the latency sleep would
serialise every browser context a bot runs in parallel).
"""

from __future__ import annotations

import copy
import json
import random
import secrets
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .faults import APPS, PAYER_APPS, Faults

__all__ = ["SAMPLE_DATA", "Runtime", "Session", "Stats", "load_data", "normalize"]

SAMPLE_DATA = Path(str(resources.files("mock_portals") / "data" / "sample.json"))


def load_data(source: dict[str, Any] | Path | str | None) -> dict[str, Any]:
    """A private, normalised copy of the data: a dict, a JSON file path, or the sample."""
    if source is None:
        source = SAMPLE_DATA
    if isinstance(source, (str, Path)):
        with open(source, encoding="utf-8") as fh:
            return normalize(json.load(fh))
    return normalize(copy.deepcopy(source))


def normalize(data: Any) -> dict[str, Any]:
    """Fill missing sections in place with empty lists and return ``data``.

    A test can then describe only the claims it cares about (e.g. just
    ``{"payers": {"acme": {"claims": [...]}}}``).
    """
    if not isinstance(data, dict):
        raise ValueError("mock portal data must be a JSON object")
    payers = data.setdefault("payers", {})
    if not isinstance(payers, dict):
        raise ValueError("mock portal data: 'payers' must be an object")
    for payer_id in PAYER_APPS:
        payer = payers.setdefault(payer_id, {})
        payer.setdefault("users", [])
        payer.setdefault("claims", [])
    billing = data.setdefault("billing", {})
    billing.setdefault("users", [])
    billing.setdefault("queue", [])
    return data


@dataclass
class Session:
    """One signed-in browser. ``stage`` is ``otp`` until beacon's one-time code is checked."""

    app: str
    username: str
    stage: str = "ok"
    requests: int = 0


@dataclass
class Stats:
    """Counters served at ``/__admin/stats``."""

    requests: Counter[str] = field(default_factory=Counter)
    errors_503: Counter[str] = field(default_factory=Counter)
    maintenance_503: Counter[str] = field(default_factory=Counter)
    logins: Counter[str] = field(default_factory=Counter)
    login_failures: Counter[str] = field(default_factory=Counter)
    lockouts: Counter[str] = field(default_factory=Counter)
    captchas: Counter[str] = field(default_factory=Counter)
    sessions_expired: Counter[str] = field(default_factory=Counter)
    saves: Counter[str] = field(default_factory=Counter)           # billing saves stored
    saves_from_tab: Counter[str] = field(default_factory=Counter)  # ...of them posted by a browser tab
    csrf_refused: Counter[str] = field(default_factory=Counter)    # saves refused: no or a stale token
    delayed: Counter[str] = field(default_factory=Counter)         # pages held for latency_ms
    delayed_at_once: Counter[str] = field(default_factory=Counter)  # most pages held at the same moment
    _holding: Counter[str] = field(default_factory=Counter)        # pages held now (not served)

    def hold(self, app: str) -> None:
        """A page starts its latency wait: counted, and the most held at once remembered."""
        self.delayed[app] += 1
        self._holding[app] += 1
        self.delayed_at_once[app] = max(self.delayed_at_once[app], self._holding[app])

    def release(self, app: str) -> None:
        self._holding[app] -= 1

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, counter in vars(self).items():
            if name.startswith("_"):
                continue
            out[name] = {app: counter.get(app, 0) for app in APPS}
        out["total_requests"] = sum(self.requests.values())
        out["served_503"] = sum(self.errors_503.values()) + sum(self.maintenance_503.values())
        return out


LOCKOUT_AFTER = 5
"""Consecutive failed sign-ins that lock an account, as most payer portals do."""


class Runtime:
    """Mutable state of one mock portal server."""

    def __init__(self, data: dict[str, Any], faults: Faults) -> None:
        self.initial_data = copy.deepcopy(data)
        self.data = data
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.sessions: dict[str, Session] = {}
        self.failures: Counter[tuple[str, str]] = Counter()
        self.locked: set[tuple[str, str]] = set()
        self.stats = Stats()

    def set_faults(self, faults: Faults) -> None:
        """Switch faults; the random stream restarts from the new seed."""
        self.rng = random.Random(faults.seed)
        self.faults = faults

    def reset(self) -> None:
        """Back to the initial data, no sessions, no lockouts, zero counters, same faults."""
        self.data.clear()
        self.data.update(copy.deepcopy(self.initial_data))
        self.sessions.clear()
        self.failures.clear()
        self.locked.clear()
        self.stats = Stats()
        self.rng = random.Random(self.faults.seed)

    # users and sign-in -------------------------------------------------------------

    def users(self, app: str) -> list[dict[str, Any]]:
        section = self.data["billing"] if app == "billing" else self.data["payers"][app]
        return section["users"]

    def find_user(self, app: str, username: str) -> dict[str, Any] | None:
        for user in self.users(app):
            if user.get("username") == username:
                return user
        return None

    def check_password(self, app: str, username: str, password: str) -> str:
        """``ok``, ``invalid`` or ``locked``; counts consecutive failures per account."""
        key = (app, username)
        if key in self.locked:
            self.stats.login_failures[app] += 1
            return "locked"
        user = self.find_user(app, username)
        if user is not None and secrets.compare_digest(
            str(user.get("password", "")).encode(), password.encode()
        ):
            self.failures.pop(key, None)
            return "ok"
        self.stats.login_failures[app] += 1
        self.failures[key] += 1
        if self.failures[key] >= LOCKOUT_AFTER:
            self.locked.add(key)
            self.stats.lockouts[app] += 1
            return "locked"
        return "invalid"

    def new_session(self, app: str, username: str, stage: str) -> str:
        token = secrets.token_urlsafe(24)
        self.sessions[token] = Session(app=app, username=username, stage=stage)
        return token

    @property
    def request_count(self) -> int:
        return sum(self.stats.requests.values())
