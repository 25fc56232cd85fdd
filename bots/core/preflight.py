"""Preflight: what a run needs, checked before it touches a single item.

**The contract.** A bot may define ``preflight(run: RunContext) -> list[SetupProblem]``
(``bots.core.runner.context.Bot``). The runner calls it once per run, inside the bot's
``session`` (so it can use the run's browser) and after ``enqueue`` (idempotent: it adds or
reopens items but never claims one or spends an attempt, so the preflight knows which sites
this run will visit), before any worker claims an item. Problems → ``SetupError``: the run
ends ``failed`` with one message naming each payer/site and the setting to fix (an
environment variable's *name*, never its value), an audit record ``preflight_failed`` per
problem, no item claimed, no workbook row. The next good run does the items.

What a bot that signs in to web sites checks, with the helpers below, for every site the
run will visit: the credentials are set (:func:`missing_credentials`), a TOTP secret is one
the library accepts (:func:`totp_problem`), and the site answers and accepts the sign-in
(:func:`sign_in_problem`: one real sign-in in the run's browser, whose session the items
then share, so a good run signs in once as before). A refused sign-in is never retried:
accounts lock after a few failures. It is remembered across runs (``bots.core.store.signins``):
while the site's block stands for the same credential, later runs do not sign in at all and
fail their setup naming the variables and ``bots signin clear SITE``; a changed credential
supersedes the block and gets its one try. A refusal mid-run (a renewal refused because the
password was changed or the account locked on the site meanwhile) is remembered the same way,
through the pool. An unreachable site is retried with the run's in-process policy first (a
blip is not a setup problem). Anything else the site shows at sign-in (a
maintenance page, a CAPTCHA) is left to the items, which settle it as before (deferred, Bot
Failures).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyotp
from pydantic import SecretStr

from bots.core.browser import BrowserHost, SitePool
from bots.core.errors import (
    ItemDeferred, LoginFailed, PortalTimeout, SetupProblem, SiteOutage, SiteUnreachable, SystemFault,
)
from bots.core.retrying import retry_policy
from bots.core.settings import RetryConfig
from bots.core.store import ItemState, utcnow
from bots.core.times import display_zone, show_time

if TYPE_CHECKING:
    from bots.core.runner.context import RunContext

__all__ = ["SetupProblem", "claimable_items", "clear_command", "missing_credentials", "origin", "sign_in_problem",
           "totp_problem"]


def claimable_items(run: RunContext) -> list[dict[str, Any]]:
    """The items this run will claim (this bot's, named ones only with ``--claim``, not waiting for a
    later time): what tells a preflight which sites the run will visit. Only those are checked, so
    a payer not set up yet does not stop the runs of the payers that are, and a run with nothing
    to do signs in nowhere."""
    if run.only_refs is not None and not run.only_refs:
        return []
    return run.store.work_items(run.bot, references=run.only_refs, states=ItemState.CLAIMABLE, due_by=utcnow())


def origin(url: str) -> str:
    """What a message may show of a site's URL: scheme, host and port (no user info, no path)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def missing_credentials(site: str, display: str, names: Sequence[str]) -> SetupProblem | None:
    """``names``: the environment variables that are needed but empty."""
    if not names:
        return None
    listed = ", ".join(names)
    return SetupProblem(site, listed, f"{display} ({site}): no credentials: set {listed} in the environment or .env")


def totp_problem(site: str, display: str, env_name: str, secret: str) -> SetupProblem | None:
    """A TOTP secret the library cannot make a code from (not base32, say); the value is never shown."""
    try:
        pyotp.TOTP(secret).now()
    except Exception as exc:  # binascii.Error, ValueError, TypeError: all mean "not a usable secret"
        return SetupProblem(site, env_name, f"{display} ({site}): {env_name} is not a usable TOTP secret "
                                            f"({type(exc).__name__}; expected the base32 key the portal showed "
                                            f"when two-step sign-in was set up)")
    return None


def clear_command(site: str) -> str:
    """The operator's command that ends a site's sign-in block."""
    return f"bots signin clear {site}"


def sign_in_problem(host: BrowserHost, pool: SitePool, *, display: str, credential_envs: Sequence[str],
                    url_env: str, retry: RetryConfig, run: RunContext,
                    credential: Sequence[SecretStr | str | None]) -> SetupProblem | None:
    """One real sign-in to ``pool``'s site; the problem if it is refused or the site does not answer.

    ``credential``: the values the sign-in uses (username, password, …), only ever fingerprinted,
    so a refusal is remembered for this credential and not for the next one. While a refusal
    of the same credential stands, no sign-in is tried at all."""
    site, names = pool.name, ", ".join(credential_envs)
    store = run.store
    fingerprint = store.credential_fingerprint([c.get_secret_value() if isinstance(c, SecretStr) else c
                                                for c in credential])
    block = store.signin_block_for(site, fingerprint, bot=run.bot, run_id=run.run_id)
    if block is not None:
        when = show_time(block["blocked_at"], display_zone(run.settings), seconds=False)
        run.log.error("site_login_blocked", site=site, block=block["id"], blocked_at=block["blocked_at"])
        return SetupProblem(site, names, f"{display} ({site}): sign-in was refused at {when} (run "
                                         f"{block['run_id']}: {block['message']}); not tried again so the account "
                                         f"does not lock. Fix {names} (a changed value is tried once), or once the "
                                         f"account works as it is, run `{clear_command(site)}`")

    def remember(exc: LoginFailed) -> None:
        store.record_signin_refused(site=site, fingerprint=fingerprint, bot=run.bot, run_id=run.run_id,
                                    message=str(exc), origin=origin(pool.config.base_url),
                                    credential_envs=credential_envs)

    pool.remember_refusals(remember)
    budget = pool.config.timeout_ms / 1000 * 4 + 30
    try:
        retry_policy(retry, site=site, step="preflight")(lambda: host.run(pool.check_sign_in(), timeout=budget))
    except LoginFailed as exc:
        return SetupProblem(site, names, f"{display} ({site}): sign-in refused ({exc}); check {names}. Not tried "
                                         f"again until {names} change or `{clear_command(site)}`, so the account "
                                         f"does not lock")
    except (SiteUnreachable, PortalTimeout, SiteOutage) as exc:
        return SetupProblem(site, url_env, f"{display} ({site}): cannot reach {origin(pool.config.base_url)} "
                                           f"({exc}); check {url_env} and that the site is up")
    except (SystemFault, ItemDeferred):
        # The site answered: HTTP 5xx past the retry budget, maintenance, a CAPTCHA or a changed page
        # are the items' to meet (retried, deferred, or a site outage that makes the run degraded),
        # not a setting the operator got wrong.
        return None
    return None
