"""The audit trail's secret: HMAC keys and signed checkpoints, both kept outside the database.

A person who can write the database can recompute an unkeyed sha256 chain and move its head;
they cannot recompute an HMAC without the key, nor shorten a file they cannot write. So:

* keys: ``BOTS_AUDIT_KEY`` (one key, or several separated by commas, the last current) or else
  a key file (``BOTS_AUDIT_KEY_FILE``, default ``BOTS_HOME/keys/audit.key``, created 0600 on the
  first keyed append), one key per line, the last current. A key's id is a fingerprint of it
  (``sha256("rcm-bots audit key id\\0" + key)[:12]``): it names the key, reveals nothing of it,
  and a record can never name a key id that does not belong to its key. Rotation appends a line.
* checkpoints: one JSON line per committed batch of audit records, ``{"seq", "hash", "ts",
  "kid", "mac"}`` (no PHI: record numbers and hashes only), appended with ``O_APPEND`` to
  ``BOTS_AUDIT_CHECKPOINTS`` (default ``BOTS_HOME/audit-checkpoints.jsonl``, 0600). No fsync:
  the database commit is the durable event; a lost checkpoint line after a power cut is reported
  by ``verify`` as unwitnessed records, never as a forgery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bots.core.errors import ConfigError

if TYPE_CHECKING:
    from bots.core.settings import Settings

__all__ = ["AuditKeys", "Checkpoint", "key_id"]


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"rcm-bots audit key id\0" + key).hexdigest()[:12]


def _checkpoint_message(seq: int, hash_: str, ts: str, kid: str) -> bytes:
    return f"rcm-bots audit checkpoint\x1e{seq}\x1e{hash_}\x1e{ts}\x1e{kid}".encode()


@dataclass(frozen=True)
class Checkpoint:
    line: int
    seq: int
    hash: str
    ts: str
    kid: str
    mac: str


class AuditKeys:
    """The keys (current and retired) and the checkpoint file of one installation."""

    def __init__(self, key_file: Path, checkpoint_file: Path, env_keys: str | None = None):
        self.key_file = key_file
        self.checkpoint_file = checkpoint_file
        self._env_keys = env_keys or None
        self._keys: dict[str, bytes] | None = None
        self._current: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditKeys:
        env = settings.audit_key.get_secret_value() if settings.audit_key is not None else None
        return cls(settings.audit_key_path, settings.audit_checkpoint_path, env)

    # ---- keys --------------------------------------------------------------------------------
    @property
    def from_environment(self) -> bool:
        return self._env_keys is not None

    def _load(self, *, create: bool) -> None:
        if self._keys is not None:
            return
        if self._env_keys is not None:
            raw = [k.strip() for k in self._env_keys.split(",") if k.strip()]
        else:
            if not self.key_file.exists():
                if not create:
                    self._keys, self._current = {}, None
                    return
                self._create_key_file()
            try:
                raw = [ln.strip() for ln in self.key_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
            except OSError as exc:
                raise ConfigError(f"{self.key_file}: cannot read the audit key: {exc.strerror or exc}") from None
        if not raw and (create or self._env_keys is not None):
            raise ConfigError(f"{'BOTS_AUDIT_KEY' if self._env_keys is not None else self.key_file}: "
                              f"no audit key in it")
        keys = {key_id(k.encode()): k.encode() for k in raw}
        self._keys, self._current = keys, (key_id(raw[-1].encode()) if raw else None)

    def _create_key_file(self) -> None:
        self.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            return
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_hex(32) + "\n")

    def current(self) -> tuple[str, bytes]:
        """The key id and key new records are signed with (the key file is made on first use)."""
        self._load(create=True)
        assert self._keys is not None and self._current is not None
        return self._current, self._keys[self._current]

    def get(self, kid: str) -> bytes | None:
        self._load(create=False)
        assert self._keys is not None
        return self._keys.get(kid)

    def known_ids(self) -> list[str]:
        self._load(create=False)
        assert self._keys is not None
        return list(self._keys)

    def rotate(self) -> str:
        """A new current key; the old ones stay in the file for verification. Returns the new id."""
        if self._env_keys is not None:
            raise ConfigError("the audit keys come from BOTS_AUDIT_KEY: append a new key to it "
                              "(comma-separated, the last is current) instead of `bots audit rotate-key`")
        self._load(create=True)
        old = self.key_file.read_text(encoding="utf-8")
        new_key = secrets.token_hex(32)
        tmp = self.key_file.with_name(self.key_file.name + ".new")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(old if old.endswith("\n") or not old else old + "\n")
            fh.write(new_key + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.key_file)
        self._keys = self._current = None
        return key_id(new_key.encode())

    # ---- checkpoints -------------------------------------------------------------------------
    def record_mac(self, key: bytes) -> Any:
        """An HMAC-SHA256 object keyed once; ``.copy()`` per record is cheaper than a new HMAC."""
        return hmac.new(key, digestmod=hashlib.sha256)

    def checkpoint(self, seq: int, hash_: str, ts: str) -> None:
        """Append one signed checkpoint line (a single ``write`` on an ``O_APPEND`` descriptor)."""
        kid, key = self.current()
        mac = hmac.new(key, _checkpoint_message(seq, hash_, ts, kid), hashlib.sha256).hexdigest()
        line = json.dumps({"seq": seq, "hash": hash_, "ts": ts, "kid": kid, "mac": mac}, separators=(",", ":"))
        self.checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.checkpoint_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def read_checkpoints(self) -> tuple[list[Checkpoint], list[str]]:
        """Every checkpoint line with a valid signature, and the problems with the others."""
        problems: list[str] = []
        good: list[Checkpoint] = []
        try:
            data = self.checkpoint_file.read_bytes()
        except FileNotFoundError:
            return [], []
        lines = data.split(b"\n")
        if data and not data.endswith(b"\n"):
            problems.append(f"checkpoint file {self.checkpoint_file}: last line {len(lines)} is cut off "
                            f"(the file was truncated or a write was interrupted)")
            lines = lines[:-1]
        for n, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                d = json.loads(raw)
                cp = Checkpoint(n, int(d["seq"]), str(d["hash"]), str(d["ts"]), str(d["kid"]), str(d["mac"]))
            except (ValueError, KeyError, TypeError):
                problems.append(f"checkpoint file line {n}: not a checkpoint (edited or corrupt)")
                continue
            key = self.get(cp.kid)
            if key is None:
                problems.append(f"checkpoint file line {n}: signed with key {cp.kid}, which is not in the key file "
                                f"(a retired key was removed, or the line is forged)")
                continue
            want = hmac.new(key, _checkpoint_message(cp.seq, cp.hash, cp.ts, cp.kid), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, cp.mac):
                problems.append(f"checkpoint file line {n} (record {cp.seq}): signature does not match (forged or edited)")
                continue
            good.append(cp)
        return good, problems
