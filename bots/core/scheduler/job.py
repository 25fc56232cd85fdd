"""The scheduled job: what runs when a bot's time comes (``run_scheduled_bot``).

APScheduler's job store pickles a textual reference to this function, not an object:
``JOB_FUNC`` is ``bots.core.scheduler:run_scheduled_bot``, and jobs already stored in
users' databases name exactly that, so the package re-exports it and that path must keep
resolving. For the same reason the stop event the running bots watch lives here, at module
level, rather than being passed in. The job builds its ``Settings`` from the environment
(``bots scheduler start`` exports ``--home`` and ``--config-dir``) on every run, so a changed
bots.toml applies from the next run; a changed schedule needs a restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.util import ref_to_obj

from bots.core import registry
from bots.core.errors import ConfigError
from bots.core.inbox import process_inbox, resolve_inbox
from bots.core.logging import get_logger
from bots.core.settings import Settings
from bots.core.store import Store, open_store

__all__ = ["JOB_FUNC", "after_run", "run_scheduled_bot"]

log = get_logger("bots.scheduler")

JOB_FUNC = "bots.core.scheduler:run_scheduled_bot"

# Set when the scheduler of this process is stopping. Jobs are module-level functions looked
# up by name (the job store pickles a reference, not an object), so the event the running
# bots watch has to live here rather than be passed in.
_stop = threading.Event()
_NOT_STARTED = "not started"
_STOPPING = "the scheduler was stopping"


def run_scheduled_bot(bot_name: str, factory: str | None = None) -> dict[str, Any]:
    """The scheduler's job: load the bot's inbox, then one run of the bot.

    ``factory`` (``"module:callable"`` taking ``Settings``) replaces the bot's registered factory
    (``bots.core.registry``); tests use it to schedule a test bot. Production jobs are by name
    only, so bots.core never imports a bot. Returns the run summary (the EXECUTED event logs it).
    """
    from bots.core.runner import run_bot

    try:
        spec = registry.spec(bot_name)
    except ConfigError as exc:
        raise ConfigError(f"a scheduled job: {exc}") from None
    if _stop.is_set():
        return {"bot": bot_name, "status": _NOT_STARTED, "message": _STOPPING}
    settings = Settings()
    if not settings.config.bot(bot_name).enabled:
        return {"bot": bot_name, "status": _NOT_STARTED, "message": "disabled in bots.toml"}
    store = open_store(settings)
    try:
        extra: dict[str, Any] = {}
        inbox = settings.config.bot(bot_name).inbox
        if inbox:
            loaded = process_inbox(settings, store, resolve_inbox(settings, inbox), create=True)
            extra = {"inbox_archived": len(loaded.archived), "inbox_rejected": len(loaded.rejected),
                     "inbox_waiting": len(loaded.waiting)}
        make: Callable[[Settings], Any] = ref_to_obj(factory) if factory else spec.factory
        result = run_bot(make(settings), settings, store, trigger="scheduler", stop=_stop)
        after_run(settings, store)
        return {**result.as_dict(), **extra}
    finally:
        store.close()


def after_run(settings: Settings, store: Store, *, now: datetime | None = None) -> None:
    """What IT watches, brought up to date after a run (or a run that could not happen): the metrics
    textfile when ``[metrics] textfile_dir`` is set, the alerts for whatever is new, and the leaders'
    dashboard after the day's last run when ``[report] after_last_run`` is set (``now``: the moment
    to judge "last" by; tests pass one). None may break the run: a failure is logged and the job goes on."""
    from bots.core import alerts, metrics

    folder = settings.config.metrics.textfile_dir
    if folder:
        try:
            metrics.write_textfile(metrics.textfile_path(settings, folder), store)
        except Exception as exc:
            log.error("metrics_textfile_failed", error_type=type(exc).__name__, error=str(exc))
    alerts.check(settings, store)  # logs its own failures, never raises
    if settings.config.report.after_last_run:
        from bots.core.report.daily import write_daily_report

        try:
            write_daily_report(settings, store, now)
        except Exception as exc:
            log.error("report_failed", error_type=type(exc).__name__, error=str(exc))

