"""Settings: environment (and ``.env``) for the machine, TOML under ``config/`` for the bots.

One ``Settings`` object is built at the edge (the CLI, a scheduler job, a test)
and passed down; nothing deep inside reads environment variables itself.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bots.core.errors import ConfigError

if TYPE_CHECKING:
    from bots.core.file_access import FileAccess
    from bots.core.payers import Payers

__all__ = [
    "environment",
    "AlertsConfig",
    "BotConfig",
    "BotsConfig",
    "MetricsConfig",
    "ReportConfig",
    "RetryConfig",
    "Settings",
    "load_toml",
    "load_toml_model",
    "packaged_config_dir",
    "require_config_dir",
    "validate_model",
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


def _zone_name(v: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone; use an IANA name such as 'America/New_York' or 'UTC'") from None
    return v


# A time zone name checked when bots.toml is read, so a typo is a config error, never UTC by default.
ZoneName = Annotated[str, AfterValidator(_zone_name)]


class BotConfig(_Strict):
    enabled: bool = True
    schedule: str | None = None  # cron, five fields, or @daily, @hourly, …
    timezone: ZoneName | None = None
    expected_interval_hours: float | None = None
    max_attempts: int = Field(3, ge=1, le=50)
    lease_seconds: int = Field(600, ge=5)
    concurrency: int = Field(1, ge=1, le=64)
    # Processes for a CPU-bound bot (``bots.core.runner.processes``): helpers join a run whose queue holds
    # more than a batch per process. Threads (``concurrency``) serve bots that wait on sites.
    processes: int = Field(1, ge=1, le=16)
    batch_size: int = Field(1, ge=1, le=5000)
    inbox: str | None = None
    inbox_profile: str | None = None  # config/worklists/<name>.toml for the inbox's files (None: the default)
    retry: RetryConfig | None = None
    max_exception_ratio: float | None = Field(None, ge=0, le=1)
    max_failed: int | None = Field(None, ge=0)
    max_carried_over: int | None = Field(None, ge=0)  # health: items put back for the next run (None: default)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("schedule")
    @classmethod
    def _cron_has_five_fields(cls, v: str | None) -> str | None:
        from bots.core.scheduler.cron import crontab_expression  # lazily: it imports this module

        if v is not None:
            crontab_expression(v)  # five fields or an @daily-style alias; ValueError names the choices
        return v


def _archive_days(v: int) -> int:
    if not 0 <= v <= 3650:
        raise ValueError("expected a number of days from 1 to 3650, or 0 to keep every row in the live workbook")
    return v


class WorkbookConfig(_Strict):
    path: str = "exceptions.xlsx"
    backups: int = Field(5, ge=0, le=50)
    # Closed rows move to archive/<stem>-YYYY-MM.xlsx beside the workbook this many days after they
    # closed (``workbook.archive``); 0: never, every row stays in the live workbook.
    archive_after_days: Annotated[int, AfterValidator(_archive_days)] = 30


class SchedulerConfig(_Strict):
    timezone: ZoneName = "UTC"
    misfire_grace_seconds: int = Field(900, ge=1)


class MetricsConfig(_Strict):
    """``[metrics]``: Prometheus metrics (``bots.core.metrics``)."""

    # node_exporter's textfile collector folder; the scheduler writes rcm_bots.prom there after
    # every run. Relative paths are under BOTS_HOME. Unset: the scheduler writes no metrics file.
    textfile_dir: str | None = None


class ReportConfig(_Strict):
    """``[report]``: the leaders' dashboard (``bots report``, ``bots.core.report``)."""

    # Write the dashboard after the scheduler's last run of the day (no scheduled run is left that
    # day in the scheduler's time zone), once a day.
    after_last_run: bool = False
    out: str = "reports/dashboard.html"  # relative paths are under BOTS_HOME; the JSON goes beside it
    by: Literal["week", "month"] = "week"
    coder_names: bool = True  # the per-coder training view; false leaves every name out
    workbook_trends: bool = True  # the workbook's Trends sheet (the last ``trends_weeks`` weeks)
    trends_weeks: int = Field(12, ge=1, le=104)
    scan_bot: str = "claim_edits"  # the bot whose items are claims scanned against the edit rules


_ALERTABLE = ("failed", "crashed", "missed", "degraded", "interrupted")


class FilesConfig(_Strict):
    """``[files]``: who besides the bot's user may open the workbook and the evidence (``bots.core.file_access``)."""

    share_group: str | None = None

    @field_validator("share_group")
    @classmethod
    def _group_exists(cls, v: str | None) -> str | None:
        from bots.core.file_access import group_id

        if v is not None:
            group_id(v)
        return v


class AlertsConfig(_Strict):
    """``[alerts]``: notifications through apprise (``bots.core.alerts``)."""

    # apprise URLs (mailtos://, msteams://, slack://, json://…). URLs holding secrets belong in
    # the BOTS_ALERT_URLS environment variable (comma-separated), which adds to these.
    urls: list[str] = Field(default_factory=list)
    statuses: list[str] = Field(default_factory=lambda: ["failed", "crashed", "missed", "degraded"])
    health: bool = True  # also alert when `bots health` goes from OK to not OK (and when it recovers)
    lookback_hours: float = Field(24.0, gt=0)  # runs that ended longer ago are history, not news

    @field_validator("statuses")
    @classmethod
    def _alertable(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(_ALERTABLE))
        if unknown:
            raise ValueError(f"cannot alert on run status {unknown[0]!r}; choose from {', '.join(_ALERTABLE)}")
        return v


class BotsConfig(_Strict):
    """The shape of ``config/bots.toml``."""

    timezone: ZoneName = "UTC"
    retry: RetryConfig = RetryConfig()
    workbook: WorkbookConfig = WorkbookConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    metrics: MetricsConfig = MetricsConfig()
    alerts: AlertsConfig = AlertsConfig()
    files: FilesConfig = FilesConfig()
    report: ReportConfig = ReportConfig()
    bots: dict[str, BotConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shared_workbook_folder(self) -> BotsConfig:
        # A group-writable workbook folder must not be BOTS_HOME, where the database lives.
        if self.files.share_group and len(Path(self.workbook.path).parts) < 2:
            raise ValueError(f"with [files] share_group, [workbook] path must name a file in a folder of its own "
                             f"(e.g. \"shared/exceptions.xlsx\"), not {self.workbook.path!r} directly in BOTS_HOME: "
                             f"coders get write access to that folder")
        return self

    @field_validator("bots")
    @classmethod
    def _known_bots(cls, v: dict[str, BotConfig]) -> dict[str, BotConfig]:
        from bots.core import registry  # lazily: the bot packages import this module

        known = registry.installed_names()
        unknown = sorted(set(v) - known)
        if unknown:
            raise ValueError(f"unknown bot {unknown[0]!r}; installed bots: {', '.join(sorted(known)) or 'none'}")
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
    """A TOML file as a dict; a missing, unreadable or invalid file is a ``ConfigError`` naming it."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:  # permissions, a folder where a file should be, an I/O error
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def packaged_config_dir() -> Path:
    """The default configuration that ships with the package (what ``bots init`` copies).

    A wheel carries the repository's ``config/`` as the data-only package ``bots._defaults``
    (``setup.py`` maps it); an editable install or a checkout reads ``config/`` beside ``bots/``.
    """
    import importlib.util

    spec = importlib.util.find_spec("bots._defaults")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    checkout = Path(__file__).resolve().parents[2] / "config"
    if (checkout / "bots.toml").is_file():
        return checkout
    raise ConfigError("the default configuration is missing from this installation (bots._defaults); "
                      "reinstall rcm-bots")


def require_config_dir(config_dir: Path) -> None:
    """A configuration folder that is missing, or lacks bots.toml, is an error naming the path, never defaults."""
    if not config_dir.is_dir():
        raise ConfigError(f"{config_dir}: configuration folder not found (--config-dir or BOTS_CONFIG_DIR; "
                          f"`bots init` writes one)")
    if not (config_dir / "bots.toml").is_file():
        raise ConfigError(f"{config_dir / 'bots.toml'}: file not found (every configuration folder needs one; "
                          f"`bots init` writes one)")


def load_toml_model(path: Path, model: type[M], *, data: dict[str, Any] | None = None) -> M:
    """Validate a TOML file into ``model``; errors name the file, the key and the value."""
    return validate_model(model, load_toml(path) if data is None else data, path)


def validate_model(model: type[M], raw: Mapping[str, Any], source: Path | str) -> M:
    """Validate ``raw`` into ``model``; a ``ConfigError`` names ``source``, each key and its value."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            value = err.get("input")
            shown = "" if isinstance(value, dict) else f" (value: {value!r})"
            message = err["msg"].removeprefix("Value error, ")  # pydantic's prefix for our own checks
            problems.append(f"{source}: key '{key}': {message}{shown}")
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
    # The audit trail's HMAC keys and signed checkpoints live outside the database (bots.core.audit_keys).
    audit_key: SecretStr | None = None  # BOTS_AUDIT_KEY: key(s), comma-separated, the last current
    audit_key_file: Path | None = None  # BOTS_AUDIT_KEY_FILE; default BOTS_HOME/keys/audit.key
    audit_checkpoints: Path | None = None  # BOTS_AUDIT_CHECKPOINTS; default BOTS_HOME/audit-checkpoints.jsonl

    _config_values: BotsConfig | None = PrivateAttr(None)  # set by with_config: bots.toml given by value
    _payers: Payers | None = PrivateAttr(None)

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
    def audit_key_path(self) -> Path:
        return self.audit_key_file or self.home / "keys" / "audit.key"

    @property
    def audit_checkpoint_path(self) -> Path:
        return self.audit_checkpoints or self.home / "audit-checkpoints.jsonl"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def workbook_path(self) -> Path:
        p = Path(self.config.workbook.path)
        return p if p.is_absolute() else self.home / p

    @property
    def report_path(self) -> Path:
        """Where the leaders' dashboard is written (``[report] out``; relative: under BOTS_HOME)."""
        p = Path(self.config.report.out)
        return p if p.is_absolute() else self.home / p

    @cached_property
    def config(self) -> BotsConfig:
        if self._config_values is not None:
            return self._config_values
        require_config_dir(self.config_dir)  # a mistyped folder or a missing bots.toml is an error, not defaults
        return load_toml_model(self.config_dir / "bots.toml", BotsConfig)

    @property
    def payers(self) -> Payers:
        """``config/payers/*.toml``, validated (``bots.core.payers``); read once and again only after
        a payer file changed. Copies made by ``with_config``/``with_bot`` share what was read."""
        from bots.core.payers import load_payers  # it imports this module

        if self._payers is None or self._payers.stale():
            self._payers = load_payers(self.config_file("payers"))
        return self._payers

    def with_config(self, config: BotsConfig | Mapping[str, Any]) -> Settings:
        """These settings with ``config`` in place of ``bots.toml`` (validated as the file is); no file is read
        or written. Tests and embedders build settings from values this way."""
        if not isinstance(config, BotsConfig):
            config = validate_model(BotsConfig, config, "bots.toml values")
        new = self.model_copy()
        new.__dict__.pop("config", None)  # the cached_properties of this object, not the copy's
        new.__dict__.pop("file_access", None)
        new._config_values = config
        return new

    def with_bot(self, name: str, **values: Any) -> Settings:
        """These settings with keys of ``[bots.<name>]`` replaced, e.g. ``with_bot("payer_portal", max_attempts=1,
        retry={"attempts": 2})``; the result is validated as bots.toml would be (unknown bot, bounds)."""
        data = self.config.model_dump(exclude_unset=True)  # unset stays unset: defaults still fall through
        data.setdefault("bots", {}).setdefault(name, {}).update(values)
        return self.with_config(data)

    def config_file(self, *parts: str) -> Path:
        return self.config_dir.joinpath(*parts)

    @cached_property
    def file_access(self) -> FileAccess:
        """Modes and group of the workbook and evidence (``[files] share_group``; owner-only by default)."""
        from bots.core.file_access import FileAccess

        return FileAccess(self.config.files.share_group, home=self.home)

    def ensure_dirs(self) -> None:
        """Create BOTS_HOME, the evidence and log folders, owner-only; from here on this process creates
        every file owner-only (``bots.core.file_access``). A configured share group is applied where
        the shared files are written (the workbook, each evidence folder), not here: this reads no
        configuration."""
        from bots.core.file_access import restrict_new_files

        restrict_new_files()
        for d in (self.home, self.evidence_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.logs_dir, 0o700)
