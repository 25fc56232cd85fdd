"""Browsers for the bots: finding one, and sharing one across a run's worker threads.

**Finding.** Order: the configured path (``BOTS_BROWSER_PATH``), then a system Chromium,
then Playwright's own download. ``python -m bots.core.browser`` prints the choice and
exits 1 when there is none (the Makefile then installs Debian's chromium when it can).

**Sharing.** A run drives one Chromium. The runner calls ``Bot.process`` from several
worker threads, but Playwright objects belong to the event loop that created them. So one
:class:`BrowserHost` runs Playwright's async API on an asyncio loop in a thread of its own,
and worker threads hand it coroutines through :meth:`BrowserHost.run` (thread-safe; the
calling thread blocks until the coroutine is done). Every page operation of the run is a
task on that one loop, so dozens of lookups wait on the network at the same time while
the browser itself is shared::

    host = BrowserHost(settings.browser_path, evidence=run.evidence).start()    # one per run
    site = host.site(SiteConfig(name="acme", base_url="http://127.0.0.1:8700/acme",
                                concurrency=4, min_interval=0.05, fetch_mode="request",
                                login_path="/login", login_marker="#login-form"),
                     login=sign_in)          # async def sign_in(lease: Lease) -> None

    async def status_of(claim_id: str) -> str | None:       # runs on the host's loop
        async with site.lease(label=claim_id) as lease:      # a signed-in context
            doc = await lease.open(site.url(f"/claims/{claim_id}"),
                                   read={"status": Field("#claim-status")})
            await doc.save_html("detail")                     # EvidenceFile: 0600, sha256
            return doc.text("status")

    status = host.run(status_of("CLM-1001"))                 # from any worker thread
    host.close()

What a :class:`SitePool` (one per site and run) takes care of:

- **Concurrency**: at most ``concurrency`` leases at once, each its own browser context
  (cookie jar); contexts are opened on demand and reused. A worker context opens a tab (a
  renderer process, the expensive part) only in ``"page"`` mode.
- **Politeness**: at least ``min_interval`` seconds between two requests to the site.
- **One sign-in**: the site's ``login`` coroutine runs in a sign-in context of its own (one
  warm tab); the storage state it leaves (the session cookies, kept in memory only: they
  are credentials) seeds every worker context, so a new context does not sign in again.
  When the portal ends the session (a page load lands on its sign-in page or code step),
  :meth:`Lease.open` signs in once for the whole site and loads the page again; the other
  contexts adopt the fresh cookies instead of signing in themselves.
- **Stopping early**: a refused sign-in (``LoginFailed``) stops sign-ins to that site for
  the rest of the run, so bad credentials never hammer a portal into locking the account
  (``SitePool.remember_refusals`` lets the preflight remember it for later runs too);
  a maintenance page pauses the site. Later leases raise ``ItemDeferred`` at once (to the
  next run), without a request. A site that stops answering (``outage_after_unreachable``
  leases in a row with no connection, or ``outage_after_errors`` in a row with 5xx or
  timeouts) is down for the run: later leases raise ``SiteOutage`` at once, and the runner
  carries that work over and ends the run ``degraded``. ``SitePool.check_sign_in`` is the
  preflight's one real sign-in (``bots.core.preflight``).
- **Blocking**: images, fonts and media are aborted (``block_resources``); stylesheets and
  scripts load, so pages work and screenshots stay readable.
- **Errors at the boundary**: Playwright's exceptions become ``PortalTimeout``,
  ``PortalUnavailable`` or ``SystemFault`` (:func:`translate_errors`), and every page load
  is checked for the system pages: maintenance → ``ItemDeferred``, service unavailable or
  HTTP 5xx → ``PortalUnavailable``, CAPTCHA → ``CaptchaChallenge``. Nothing above a page
  object needs to import Playwright's errors.
- **Evidence**: :meth:`Document.save_html` and :meth:`Document.screenshot` save through the
  run's :class:`~bots.core.evidence.EvidenceFolder`, in the host's writer thread (the loop never
  waits on the disk); a ``SystemFault`` leaving a lease gets
  a screenshot of what the tab showed (``exc.screenshot``), which the runner links from the
  Bot Failures row. A faulted lease's tab is closed, so a retry starts on a fresh page.
- **Fetch modes**: ``"page"`` navigates the lease's tab (for pages that need JavaScript);
  ``"request"`` GETs through the context's request API (same cookies, no rendering) and
  reads the HTML with the browser's own ``DOMParser`` in a shared helper tab or, with
  ``reader="lexbor"``, in this process, so the same CSS selectors apply and the evidence is the
  exact HTML the site sent. A screenshot of a
  fetched page renders that HTML in one of the host's render tabs.

Reading is one round trip per page: :class:`Field` specs go to the browser together and
come back as the text (or an attribute) of every match, in page order.
"""

from __future__ import annotations

from bots.core.browser.discovery import CHROMIUM_ARGS, BrowserNotFound, find_browser, launch_kwargs
from bots.core.browser.faults import path_of, translate_errors
from bots.core.browser.host import BrowserHost
from bots.core.browser.lease import Lease
from bots.core.browser.pool import LoginFn, SiteConfig, SitePool
from bots.core.browser.reading import Document, Field, SystemPages

__all__ = [
    "CHROMIUM_ARGS", "BrowserHost", "BrowserNotFound", "Document", "Field", "Lease", "LoginFn", "SiteConfig",
    "SitePool", "SystemPages", "find_browser", "launch_kwargs", "path_of", "translate_errors",
]
