"""Alerts through ``apprise``: one notification per incident, never one per item, never PHI.

An incident is a run that ended ``failed``, ``crashed``, ``missed`` or ``degraded`` (the statuses
in ``[alerts] statuses``), a site refusing a bot's sign-in (``bots.core.store.signins``: one alert
per block, mark ``alert:signin:<block id>``; the runs it then holds back, failed with nothing new,
are not alerted again), or ``bots health`` going from OK to not OK (and back: a recovery note).
``check`` looks at the store, not at one process's memory, so whichever process calls it (the
scheduler after each run or missed run, ``bots alerts check`` from cron) finds crashed runs
recorded by another. It is safe to call as often as wanted:

- a run is alerted once: the mark ``alert:run:<run id>:<status>`` is claimed atomically in the
  store's meta table before sending, so two processes never both send it;
- health alerts on a change of state only: the last state is kept in meta (``alert:health``),
  so repeated not-OK evaluations stay quiet until health recovers;
- all that is new in one call goes out as one message.

Alert text holds only bot names, statuses, counts, run ids and run messages (which the runner
keeps PHI-free); as a defence it is also passed through the log scrubber's masks (registered
secrets, the current item's PHI values). Destination URLs may hold secrets and are never logged.
A failed send is logged and never breaks a run (at most once: the incident is not resent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bots.core.logging import get_logger, scrub_text
from bots.core.settings import Settings, environment
from bots.core.store import Store, utcnow

__all__ = ["HEALTH_KEY", "Incident", "alert_urls", "check", "health_state", "send"]

log = get_logger("bots.alerts")

HEALTH_KEY = "alert:health"
_STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


@dataclass(frozen=True)
class Incident:
    key: str  # the store mark that makes it one alert
    line: str


def alert_urls(settings: Settings) -> list[str]:
    """``[alerts] urls`` plus ``BOTS_ALERT_URLS`` (comma-separated; the place for URLs with secrets)."""
    env = environment().get("BOTS_ALERT_URLS", "")
    urls = [*settings.config.alerts.urls, *(u.strip() for u in env.split(","))]
    return list(dict.fromkeys(u for u in urls if u))


def health_state(settings: Settings, store: Store) -> tuple[int, list[str]]:
    """(exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the reasons) from ``bots.core.health``:
    the one place alerts call health."""
    from bots.core.health import evaluate, unknown

    try:
        report = evaluate(settings, store)
    except Exception as exc:  # the store or config failed mid-evaluation: health cannot judge
        report = unknown(exc, settings)
    if report.error is not None:
        return report.code, [report.error]
    return report.code, [f"{b.bot}: {b.reason}" for b in report.bots if b.level != 0]


def _run_incidents(settings: Settings, store: Store) -> list[Incident]:
    cfg = settings.config.alerts
    since = (utcnow() - timedelta(hours=cfg.lookback_hours)).isoformat(timespec="microseconds")
    out = []
    ended = store.runs_ended_since(since, cfg.statuses)
    held = store.runs_held_by_signin([r["run_id"] for r in ended])
    for r in ended:
        if r["run_id"] in held:
            continue
        counts = ", ".join(f"{k} {r[k]}" for k in ("items", "done", "exceptions", "failed", "carried_over")
                           if r.get(k))
        message = f": {r['message']}" if r["message"] else ""
        line = f"{r['bot']} run {r['run_id']} {r['status']}{message}" + (f" ({counts})" if counts else "")
        out.append(Incident(f"alert:run:{r['run_id']}:{r['status']}", line))
    return out


def _signin_incidents(store: Store) -> list[Incident]:
    """One incident per sign-in block: the account must not be tried again until someone acts."""
    out = []
    for b in store.signin_blocks():
        where = f" ({b['origin']})" if b["origin"] else ""
        out.append(Incident(f"alert:signin:{b['id']}",
                            f"{b['bot']}: sign-in to {b['site']}{where} refused in run {b['run_id']}: {b['message']}. "
                            f"No run signs in to it until {b['credential_envs'] or 'the credential'} change or "
                            f"`bots signin clear {b['site']}`"))
    return out


def _health_incident(settings: Settings, store: Store) -> Incident | None:
    """An incident when health changed between OK and not OK since the last evaluation."""
    code, reasons = health_state(settings, store)
    before = store.swap_meta(HEALTH_KEY, code)
    was_ok, is_ok = before in (None, 0), code == 0
    if was_ok == is_ok:
        return None
    if is_ok:
        return Incident(HEALTH_KEY, f"health recovered: OK (was {_STATES.get(before, before)})")
    return Incident(HEALTH_KEY, f"health {_STATES.get(code, code)}: " + "; ".join(reasons))


def send(settings: Settings, title: str, lines: Sequence[str]) -> bool:
    """Send one message to every configured URL; False (and a log line) when none accepted it."""
    urls = alert_urls(settings)
    if not urls:
        return False
    title, body = scrub_text(title), scrub_text("\n".join(lines))
    try:
        import apprise

        notifier = apprise.Apprise()
        bad = [u.split(":", 1)[0] for u in urls if not notifier.add(u)]  # the scheme only: URLs hold secrets
        if bad:
            log.error("alert_url_invalid", schemes=bad)
        sent = bool(len(notifier)) and bool(notifier.notify(title=title, body=body))
    except Exception as exc:  # an alert must never break a run
        log.error("alert_send_failed", error_type=type(exc).__name__)
        return False
    if not sent:
        log.error("alert_send_failed", destinations=len(urls), error_type="rejected")
    else:
        log.info("alert_sent", lines=len(lines), destinations=len(urls))
    return sent


def check(settings: Settings, store: Store) -> list[str]:
    """Send what is new (runs to alert on, sign-in blocks, a change of health) as one message; return its lines.

    Never raises: a store or health problem is logged and the caller's run goes on.
    """
    if not alert_urls(settings):
        return []
    try:
        incidents = _run_incidents(settings, store) + _signin_incidents(store)
        if settings.config.alerts.health:
            health = _health_incident(settings, store)
            incidents += [health] if health else []
        new = [i.line for i in incidents if i.key == HEALTH_KEY or store.claim_meta(i.key)]
    except Exception as exc:
        log.error("alert_check_failed", error_type=type(exc).__name__, error=str(exc))
        return []
    if new:
        what = "1 incident" if len(new) == 1 else f"{len(new)} incidents"
        send(settings, f"rcm-bots: {what}", new)
    return new

