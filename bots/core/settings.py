"""Settings: environment (and ``.env``) for the machine, TOML under ``config/`` for the bots.

One ``Settings`` object is built at the edge (the CLI, a scheduler job, a test)
and passed down; nothing deep inside reads environment variables itself.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bots.core.errors import ConfigError

if TYPE_CHECKING:
    from bots.core.payers import Payers

__all__ = [
    "environment",
    "BotConfig",
    "BotsConfig",
    "RetryConfig",
    "Settings",
    "load_toml",
    "load_toml_model",
]

M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetryConfig(_Strict):
    """In-process retry of a SystemFault (tenacity). Across runs, ``max_attempts`` rules."""

    attempts: int = Field(3, ge=1, le=20)
    wait_initial: float = Field(0.5, ge=0)
    wait_max: float = Field(20.0, ge=0)
    jitter: float = Field(0.5, ge=0)
    max_delay: float | None = Field(120.0, ge=0)


class BotConfig(_Strict):
    enabled: bool = True
    schedule: str | None = None  # cron, five fields
    timezone: str | None = None
    expected_interval_hours: float | None = None
    max_attempts: int = Field(3, ge=1, le=50)
    lease_seconds: int = Field(600, ge=5)
    concurrency: int = Field(1, ge=1, le=64)
    batch_size: int = Field(1, ge=1, le=5000)
    inbox: str | None = None
    retry: RetryConfig | None = None
    max_exception_ratio: float | None = Field(None, ge=0, le=1)
    max_failed: int | None = Field(None, ge=0)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("schedule")
    @classmethod
    def _cron_has_five_fields(cls, v: str | None) -> str | None:
        if v is not None and len(v.split()) != 5:
            raise ValueError(f"expected a 5-field cron expression, got {v!r}")
        return v


class WorkbookConfig(_Strict):
    path: str = "exceptions.xlsx"
    backups: int = Field(5, ge=0, le=50)


class SchedulerConfig(_Strict):
    timezone: str = "UTC"
    misfire_grace_seconds: int = Field(900, ge=1)


class BotsConfig(_Strict):
    """The shape of ``config/bots.toml``."""

    timezone: str = "UTC"
    retry: RetryConfig = RetryConfig()
    workbook: WorkbookConfig = WorkbookConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    bots: dict[str, BotConfig] = Field(default_factory=dict)

    @field_validator("bots")
    @classmethod
    def _known_bots(cls, v: dict[str, BotConfig]) -> dict[str, BotConfig]:
        from bots.core import registry  # lazily: the bot packages import this module

        known = registry.names()
        unknown = sorted(set(v) - set(known))
        if unknown:
            raise ValueError(f"unknown bot {unknown[0]!r}; installed bots: {', '.join(known) or 'none'}")
        return v

    def bot(self, name: str) -> BotConfig:
        return self.bots.get(name) or BotConfig()

    def retry_for(self, name: str) -> RetryConfig:
        return self.bot(name).retry or self.retry


def environment(env_file: Path | None = Path(".env")) -> dict[str, str]:
    """The process environment over the ``.env`` file (the same precedence as ``Settings``).

    Site credentials (``BOTS_PAYER_<ID>_*``, ``BOTS_BILLING_*``) are read through this, so
    a single-machine install can keep them in ``.env`` and a service in its EnvironmentFile.
    """
    from dotenv import dotenv_values

    values = {}
    if env_file is not None and env_file.is_file():
        values = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    values.update(os.environ)
    return values


def load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_toml_model(path: Path, model: type[M], *, data: dict[str, Any] | None = None) -> M:
    """Validate a TOML file into ``model``; errors name the file, the key and the value."""
    raw = load_toml(path) if data is None else data
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            value = err.get("input")
            shown = "" if isinstance(value, dict) else f" (value: {value!r})"
            problems.append(f"{path}: key '{key}': {err['msg']}{shown}")
        raise ConfigError("; ".join(problems)) from None


class Settings(BaseSettings):
    """Machine-level settings from ``BOTS_*`` environment variables and ``.env``."""

    model_config = SettingsConfigDict(
        env_prefix="BOTS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Path("var")
    config_dir: Path = Path("config")
    database_url: str | None = None
    browser_path: Path | None = None
    log_level: str = "INFO"
    headless: bool = True

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"log level must be DEBUG, INFO, WARNING or ERROR, got {v!r}")
        return v

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'bots.db').resolve()}"

    @property
    def evidence_dir(self) -> Path:
        return self.home / "evidence"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def workbook_path(self) -> Path:
        p = Path(self.config.workbook.path)
        return p if p.is_absolute() else self.home / p

    @cached_property
    def config(self) -> BotsConfig:
        path = self.config_dir / "bots.toml"
        if not path.exists():
            return BotsConfig()
        return load_toml_model(path, BotsConfig)

    @cached_property
    def payers(self) -> Payers:
        """``config/payers/*.toml``, read and validated once for this Settings (``bots.core.payers``)."""
        from bots.core.payers import load_payers  # it imports this module

        return load_payers(self.config_file("payers"))

    def config_file(self, *parts: str) -> Path:
        return self.config_dir.joinpath(*parts)

    def ensure_dirs(self) -> None:
        for d in (self.home, self.evidence_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
