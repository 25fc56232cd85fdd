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
  the rest of the run, so bad credentials never hammer a portal into locking the account;
  a maintenance page pauses the site. Later leases raise ``ItemDeferred`` at once (to the
  next run), without a request.
- **Blocking**: images, fonts and media are aborted (``block_resources``); stylesheets and
  scripts load, so pages work and screenshots stay readable.
- **Errors at the boundary**: Playwright's exceptions become ``PortalTimeout``,
  ``PortalUnavailable`` or ``SystemFault`` (:func:`translate_errors`), and every page load
  is checked for the system pages: maintenance → ``ItemDeferred``, service unavailable or
  HTTP 5xx → ``PortalUnavailable``, CAPTCHA → ``CaptchaChallenge``. Nothing above a page
  object needs to import Playwright's errors.
- **Evidence**: :meth:`Document.save_html` and :meth:`Document.screenshot` save through the
  run's :class:`~bots.core.evidence.EvidenceFolder`; a ``SystemFault`` leaving a lease gets
  a screenshot of what the tab showed (``exc.screenshot``), which the runner links from the
  Bot Failures row. A faulted lease's tab is closed, so a retry starts on a fresh page.
- **Fetch modes**: ``"page"`` navigates the lease's tab (for pages that need JavaScript);
  ``"request"`` GETs through the context's request API (same cookies, no rendering) and
  reads the HTML with the browser's own ``DOMParser`` in a shared helper tab, so the same
  CSS selectors apply and the evidence is the exact HTML the site sent. A screenshot of a
  fetched page renders that HTML in one of the host's render tabs.

Reading is one round trip per page: :class:`Field` specs go to the browser together and
come back as the text (or an attribute) of every match, in page order.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import glob
import hashlib
import html as html_lib
import itertools
import os
import re
import shutil
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urljoin, urlsplit

from playwright.async_api import Browser, BrowserContext, Page, Playwright, Route, async_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bots.core.errors import (
    BusinessException, CaptchaChallenge, ConfigError, ItemDeferred, LoginFailed, PortalTimeout,
    PortalUnavailable, SessionExpired, SystemFault,
)
from bots.core.evidence import EvidenceFile, EvidenceFolder
from bots.core.logging import get_logger

__all__ = [
    "CHROMIUM_ARGS", "BrowserHost", "BrowserNotFound", "Document", "Field", "Lease", "LoginFn", "SiteConfig",
    "SitePool", "SystemPages", "find_browser", "launch_kwargs", "path_of", "translate_errors",
]

T = TypeVar("T")
log = get_logger("bots.browser")

# Flags for Chromium as a headless robot: no sandbox (root in containers), no GPU,
# and none of the background traffic a closed network refuses at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

SYSTEM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserNotFound(ConfigError):
    """No usable browser; the message says what was tried."""


def _playwright_own() -> Path | None:
    root = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache" / "ms-playwright")
    patterns = ("chromium-*/chrome-linux*/chrome", "chromium_headless_shell-*/chrome-linux*/headless_shell",
                "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium")
    for pattern in patterns:
        found = sorted(glob.glob(os.path.join(root, pattern)))
        if found:
            return Path(found[-1])
    return None


def find_browser(configured: Path | None = None) -> tuple[Path | None, str]:
    """(executable path, where it came from). ``None`` path = let Playwright use its own.

    Raises ``BrowserNotFound`` naming what was tried when there is nothing.
    """
    configured = configured or (Path(os.environ["BOTS_BROWSER_PATH"]) if os.environ.get("BOTS_BROWSER_PATH") else None)
    if configured is not None:
        if configured.exists():
            return configured, "configured"
        raise BrowserNotFound(f"BOTS_BROWSER_PATH={configured} does not exist")
    for name in SYSTEM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return Path(path), "system"
    own = _playwright_own()
    if own is not None:
        return None, f"playwright ({own})"
    raise BrowserNotFound(
        "no browser found: set BOTS_BROWSER_PATH, install Chromium (Debian: apt-get install -y chromium), "
        "or run `playwright install chromium`"
    )


def launch_kwargs(configured: Path | None = None, *, headless: bool = True) -> dict[str, Any]:
    """Keyword arguments for ``playwright.chromium.launch``."""
    path, _source = find_browser(configured)
    kwargs: dict[str, Any] = {"headless": headless, "args": list(CHROMIUM_ARGS)}
    if path is not None:
        kwargs["executable_path"] = str(path)
    return kwargs


# ---- errors at the boundary ---------------------------------------------------------------------

_NETWORK = re.compile(r"net::ERR_|ECONNREFUSED|ECONNRESET|EPIPE|EHOSTUNREACH|ENOTFOUND|socket hang up")
_QUERY = re.compile(r"\?[^\s\"']*")


def _brief(exc: BaseException) -> str:
    """The first line of a Playwright message, query strings cut (they may carry a member id)."""
    text = str(getattr(exc, "message", None) or exc).strip().splitlines()
    return _QUERY.sub("?…", text[0] if text else type(exc).__name__)[:300]


def path_of(url: str) -> str:
    """The URL's path only: what error messages and logs may show of a URL."""
    return urlsplit(url).path or "/"


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Turn Playwright's exceptions into ``bots.core.errors`` types, ``what`` leading the message.

    Works around awaits too (``with translate_errors("acme: search"): await page.goto(...)``).
    A timeout becomes ``PortalTimeout``; a refused or dropped connection ``PortalUnavailable``;
    anything else the browser reports (a crashed tab, a closed context) a plain, retryable
    ``SystemFault``.
    """
    try:
        yield
    except PlaywrightTimeoutError as exc:
        raise PortalTimeout(f"{what}: timed out ({_brief(exc)})") from exc
    except PlaywrightError as exc:
        brief = _brief(exc)
        if "Timeout" in brief:
            raise PortalTimeout(f"{what}: timed out ({brief})") from exc
        if _NETWORK.search(brief):
            raise PortalUnavailable(f"{what}: cannot reach the site ({brief})") from exc
        raise SystemFault(f"{what}: browser error ({brief})") from exc


# ---- what to read from a page -------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """What to read: the text (whitespace collapsed) or attribute ``attr`` of every element
    ``selector`` (CSS, as ``querySelectorAll`` takes it) matches, in page order. With
    ``rows``, one dict per match instead, each of its fields read inside that element."""

    selector: str
    attr: str | None = None
    rows: Mapping[str, Field] | None = None

    def spec(self) -> dict[str, Any]:
        return {"sel": self.selector, "attr": self.attr,
                "rows": {k: f.spec() for k, f in self.rows.items()} if self.rows else None}


_READ_JS = """([html, spec]) => {
  const root = html === null ? document : new DOMParser().parseFromString(html, "text/html");
  const value = (el, attr) => attr ? (el.getAttribute(attr) ?? "")
                                   : (el.textContent ?? "").replace(/\\s+/g, " ").trim();
  const read = (scope, fields) => {
    const out = {};
    for (const [name, f] of Object.entries(fields)) {
      let els;
      try { els = Array.from(scope.querySelectorAll(f.sel)); }
      catch (e) { out[name] = {invalid: f.sel}; continue; }
      out[name] = f.rows ? els.map(el => read(el, f.rows)) : els.map(el => value(el, f.attr));
    }
    return out;
  };
  return read(root, spec);
}"""

_MARK = "__"  # prefix of the system-page markers read along with every page


@dataclass(frozen=True)
class SystemPages:
    """Markers of the pages a site shows instead of the one asked for (any layout)."""

    maintenance: str | None = "#maintenance-notice"
    unavailable: str | None = "#service-unavailable"
    captcha: str | None = "#captcha-challenge"


@dataclass(frozen=True)
class SiteConfig:
    """One web site a bot signs in to (a payer portal, the billing app)."""

    name: str
    base_url: str
    concurrency: int = 2
    min_interval: float = 0.0                     # seconds between two requests to the site
    fetch_mode: Literal["page", "request"] = "page"
    timeout_ms: int = 15_000                      # per navigation, request or action
    login_path: str = "/login"                    # a load that ends here means "signed out"
    login_marker: str | None = None               # ...and so does a page showing one of these
                                                  # (CSS selector list: the sign-in form, a code step)
    logout_path: str | None = None                # GET at the end of the run to end the session
    system_pages: SystemPages = SystemPages()
    block_resources: frozenset[str] = frozenset({"image", "font", "media"})
    max_renewals: int = 2                         # fresh sign-ins per page load before SessionExpired

    def url(self, path: str) -> str:
        """An absolute URL for a path under the site's base URL."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


LoginFn = Callable[["Lease"], Awaitable[None]]
"""Signs the lease's tab in (``lease.goto``/``lease.submit`` with ``signed_in=False``); raises
``LoginFailed`` when the site refuses the credentials or has locked the account."""


@dataclass
class Document:
    """One loaded page: where the load ended, its HTTP status and what was read from it."""

    lease: Lease
    url: str
    status: int
    values: dict[str, Any]
    fetched_html: str | None = None  # request mode: the body exactly as the site sent it

    @property
    def path(self) -> str:
        return path_of(self.url)

    def texts(self, name: str) -> list[str]:
        found = self.values.get(name)
        return found if isinstance(found, list) and all(isinstance(v, str) for v in found) else []

    def text(self, name: str) -> str | None:
        """The first match's text, or ``None`` when nothing matched."""
        found = self.texts(name)
        return found[0] if found else None

    def has(self, name: str) -> bool:
        found = self.values.get(name)
        return isinstance(found, list) and len(found) > 0

    def rows(self, name: str) -> list[dict[str, list[str]]]:
        found = self.values.get(name)
        return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []

    def invalid_selectors(self) -> list[str]:
        return [v["invalid"] for v in self.values.values() if isinstance(v, dict) and "invalid" in v]

    def absolute(self, href: str) -> str:
        return urljoin(self.url, href)

    async def read(self, spec: Mapping[str, Field]) -> dict[str, Any]:
        """Read more from the same document (one round trip)."""
        values = await self.lease._evaluate(self.fetched_html, spec)
        self.values.update(values)
        return values

    async def html(self) -> str:
        """The HTML: as fetched (request mode), or the tab's now (page mode: save it before the
        tab moves on)."""
        if self.fetched_html is not None:
            return self.fetched_html
        with translate_errors(f"{self.lease.site.name}: reading {self.path}"):
            return await self.lease.tab.content()

    async def save_html(self, kind: str) -> EvidenceFile:
        """The page's HTML as evidence (0600, sha256)."""
        return self.lease.pool.host.save_evidence(self.lease.evidence_name(kind, "html"), await self.html())

    async def screenshot(self, kind: str) -> EvidenceFile:
        """A full-page PNG of this document as evidence (a fetched page is rendered first)."""
        return await self.lease.screenshot(kind, self)


@dataclass
class _Slot:
    context: BrowserContext
    tab: Page | None  # opened when first needed (sign-in, page mode)
    generation: int   # the site sign-in whose cookies this context holds


class Lease:
    """One signed-in browser context of a site, held by one task until the ``async with`` ends.

    ``open`` loads a page the site's way (``fetch_mode``); ``goto`` and ``submit`` always use
    the tab (sign-in forms, clicks); ``fetch`` always uses the request API. Each load is
    throttled, translated and checked for system pages; with ``signed_in=True`` (the default)
    a load that lands on the sign-in page signs in again and repeats the load.
    """

    def __init__(self, pool: SitePool, slot: _Slot, label: str):
        self.pool = pool
        self.slot = slot
        self.label = label
        self.last: Document | None = None
        self.used_tab = False  # a fault closes the tab only if this lease navigated it

    @property
    def site(self) -> SiteConfig:
        return self.pool.config

    @property
    def tab(self) -> Page:
        """The context's tab (open it with ``open_tab`` first; sign-in runs with it open)."""
        if self.slot.tab is None:
            raise RuntimeError("this lease has no tab yet: await lease.open_tab() first")
        return self.slot.tab

    async def open_tab(self) -> Page:
        self.used_tab = True
        if self.slot.tab is None:
            with translate_errors(f"{self.site.name}: opening a tab"):
                self.slot.tab = await self.slot.context.new_page()
            self.pool.stats["tabs"] += 1
        return self.slot.tab

    def evidence_name(self, kind: str, ext: str) -> str:
        return f"{self.site.name}_{self.label or 'page'}_{kind}_{next(self.pool.host._evidence_seq):05d}.{ext}"

    async def open(self, url: str, read: Mapping[str, Field] | None = None) -> Document:
        if self.site.fetch_mode == "request":
            return await self.fetch(url, read)
        return await self.goto(url, read)

    async def goto(self, url: str, read: Mapping[str, Field] | None = None, *, signed_in: bool = True) -> Document:
        async def load() -> Document:
            tab = await self.open_tab()
            await self.pool.throttle()
            with translate_errors(f"{self.site.name}: loading {path_of(url)}"):
                response = await tab.goto(url, wait_until="domcontentloaded")
                return await self._document(tab.url, response.status if response else 0, None, read)
        return await (self._signed_in(load) if signed_in else self._checked(load))

    async def fetch(self, url: str, read: Mapping[str, Field] | None = None, *, signed_in: bool = True) -> Document:
        async def load() -> Document:
            await self.pool.throttle()
            with translate_errors(f"{self.site.name}: fetching {path_of(url)}"):
                response = await self.slot.context.request.get(
                    url, timeout=self.site.timeout_ms, max_redirects=10, fail_on_status_code=False)
                try:
                    body = await response.text()
                    final, status = response.url, response.status
                finally:
                    await response.dispose()
                return await self._document(final, status, body, read)
        return await (self._signed_in(load) if signed_in else self._checked(load))

    async def submit(self, action: Callable[[], Awaitable[Any]], read: Mapping[str, Field] | None = None,
                     *, signed_in: bool = True) -> Document:
        """Run ``action`` (a click that submits a form) and read the page it navigates to.

        A submit cannot be repeated after a fresh sign-in (the form is gone), so landing on
        the sign-in page raises ``SessionExpired`` here; the retry policy redoes the item.
        """
        async def load() -> Document:
            tab = await self.open_tab()
            await self.pool.throttle()
            with translate_errors(f"{self.site.name}: submitting a form on {path_of(tab.url)}"):
                async with tab.expect_navigation(wait_until="domcontentloaded") as navigation:
                    await action()
                response = await navigation.value
                return await self._document(tab.url, response.status if response else 0, None, read)
        doc = await self._checked(load)
        if signed_in and self._is_sign_in(doc):
            raise SessionExpired(f"{self.site.name}: the session ended while submitting on {doc.path}")
        return doc

    async def renew_session(self) -> None:
        """Sign in again (or adopt a sign-in another context just made)."""
        await self.pool.renew(self)

    async def screenshot(self, kind: str, doc: Document | None = None) -> EvidenceFile:
        """A full-page PNG of ``doc`` (default: the last page loaded; a fetched page is rendered
        from its HTML, with its stylesheets) as evidence."""
        doc = doc or self.last
        if doc is not None and doc.fetched_html is not None:
            png = await self.pool.host.render(_with_base(doc.fetched_html, doc.url))
        else:
            with translate_errors(f"{self.site.name}: taking a screenshot"):
                png = await (await self.open_tab()).screenshot(full_page=True, type="png")
        return self.pool.host.save_evidence(self.evidence_name(kind, "png"), png)

    async def failure_screenshot(self, exc: BaseException) -> EvidenceFile | None:
        """Best effort: what the tab showed when ``exc`` happened (a note page if nothing loaded)."""
        try:
            if self.last is None:
                note = (f"<h1>{html_lib.escape(self.site.name)}: no page loaded</h1>"
                        f"<p>{html_lib.escape(type(exc).__name__)}: {html_lib.escape(str(exc))}</p>")
                png = await self.pool.host.render(note)
                return self.pool.host.save_evidence(self.evidence_name("failure", "png"), png)
            return await self.screenshot("failure")
        except Exception as shot_error:  # the fault matters more than its picture
            log.warning("failure_screenshot_failed", site=self.site.name, error_type=type(shot_error).__name__,
                        error=str(shot_error))
            return None

    # ---- internals ----------------------------------------------------------------------------

    async def _evaluate(self, html: str | None, spec: Mapping[str, Field]) -> dict[str, Any]:
        """Read ``spec`` from the live tab (``html`` None) or from fetched HTML (a helper tab)."""
        if html is not None:
            return await self.pool.host.parse(html, spec)
        with translate_errors(f"{self.site.name}: reading the page"):
            result = await self.tab.evaluate(_READ_JS, [None, _spec(spec)])
        return result if isinstance(result, dict) else {}

    async def _document(self, url: str, status: int, html: str | None,
                        read: Mapping[str, Field] | None) -> Document:
        values = await self._evaluate(html, {**self.pool.markers, **(read or {})})
        doc = Document(self, url, status, values, html)
        self.last = doc
        return doc

    async def _checked(self, load: Callable[[], Awaitable[Document]]) -> Document:
        doc = await load()
        self.pool.check_system_pages(doc)
        return doc

    async def _signed_in(self, load: Callable[[], Awaitable[Document]]) -> Document:
        for renewal in range(self.site.max_renewals + 1):
            doc = await self._checked(load)
            if not self._is_sign_in(doc):
                return doc
            if renewal == self.site.max_renewals:
                break
            self.pool.stats["sessions_ended"] += 1
            log.info("site_session_ended", site=self.site.name, path=doc.path)
            await self.pool.renew(self)
        raise SessionExpired(f"{self.site.name}: still sent to the sign-in page after "
                             f"{self.site.max_renewals} fresh sign-in(s) ({doc.path})")

    def _is_sign_in(self, doc: Document) -> bool:
        return doc.path == self.pool.login_path or doc.has(_MARK + "login")


def _spec(spec: Mapping[str, Field]) -> dict[str, Any]:
    return {k: f.spec() for k, f in spec.items()}


def _with_base(html: str, url: str) -> str:
    """The HTML with a ``<base>`` so its relative links (stylesheets) resolve when rendered."""
    base = f'<base href="{html_lib.escape(url, quote=True)}">'
    match = re.search(r"<head[^>]*>", html, re.IGNORECASE)
    return html[:match.end()] + base + html[match.end():] if match else base + html


class SitePool:
    """The signed-in browser contexts of one site for one run (see the module docstring)."""

    def __init__(self, host: BrowserHost, config: SiteConfig, login: LoginFn):
        if config.concurrency < 1:
            raise ConfigError(f"site {config.name}: concurrency must be at least 1")
        self.host = host
        self.config = config
        self._login = login
        self._sem = asyncio.Semaphore(config.concurrency)
        self._login_lock = asyncio.Lock()
        self._idle: list[_Slot] = []
        self._slots: list[_Slot] = []
        self._login_slot: _Slot | None = None  # where sign-ins happen
        self._state: dict[str, Any] | None = None  # storage state of the current sign-in (memory only)
        self._generation = 0
        self._next_request = 0.0
        self._paused: tuple[str, datetime | None] | None = None
        self._login_error: LoginFailed | None = None
        self.login_path = path_of(config.url(config.login_path))
        sp = config.system_pages
        self.markers: dict[str, Field] = {
            _MARK + name: Field(sel) for name, sel in
            (("maintenance", sp.maintenance), ("unavailable", sp.unavailable), ("captcha", sp.captcha),
             ("login", config.login_marker)) if sel
        }
        self.stats: dict[str, int] = dict.fromkeys(
            ("requests", "contexts", "tabs", "logins", "adopted", "sessions_ended", "blocked", "tabs_closed"), 0)

    @property
    def name(self) -> str:
        return self.config.name

    def url(self, path: str) -> str:
        return self.config.url(path)

    @contextlib.asynccontextmanager
    async def lease(self, label: str = "") -> AsyncIterator[Lease]:
        """A signed-in context for one piece of work; waits while ``concurrency`` are out.

        Raises ``ItemDeferred`` straight away while the site is paused (maintenance) or after
        a refused sign-in. A ``SystemFault`` leaving the block gets a screenshot, and a tab the
        lease navigated is closed (the next lease that needs one gets a fresh tab).
        """
        self._raise_if_stopped()
        async with self._sem:
            self._raise_if_stopped()
            slot = self._idle.pop() if self._idle else await self._open_slot()
            lease = Lease(self, slot, label)
            broken = False
            try:
                if self._state is None:
                    await self.renew(lease)
                elif slot.generation < self._generation:
                    await self._adopt(slot)
                yield lease
            except BaseException as exc:
                broken = not isinstance(exc, (BusinessException, ItemDeferred))
                if isinstance(exc, SystemFault) and exc.screenshot is None and self.host.evidence is not None:
                    shot = await lease.failure_screenshot(exc)
                    exc.screenshot = str(shot.path) if shot else None
                raise
            finally:
                await self._give_back(slot, broken and lease.used_tab)

    async def renew(self, lease: Lease) -> None:
        """A fresh session for ``lease``'s context: one sign-in for the whole site.

        Sign-ins run in the site's own sign-in context (one warm tab), one at a time; the
        lease's context, and every other one as it next needs it, adopts the cookies. A lease
        that waited while another signed in just adopts the new session.
        """
        async with self._login_lock:
            self._raise_if_stopped()
            if self._state is not None and lease.slot.generation < self._generation:
                await self._adopt(lease.slot)
                return
            if self._login_slot is None:
                self._login_slot = await self._open_slot(pooled=False)
            signer = Lease(self, self._login_slot, lease.label)
            with translate_errors(f"{self.name}: clearing cookies"):
                await self._login_slot.context.clear_cookies()
            await signer.open_tab()
            try:
                await self._login(signer)
            except BaseException as exc:
                if isinstance(exc, LoginFailed):
                    self._login_error = exc
                    log.error("site_login_refused", site=self.name, error=str(exc))
                if isinstance(exc, SystemFault) and exc.screenshot is None and self.host.evidence is not None:
                    shot = await signer.failure_screenshot(exc)  # the sign-in page, not the lease's
                    exc.screenshot = str(shot.path) if shot else None
                raise
            with translate_errors(f"{self.name}: saving the session"):
                self._state = await self._login_slot.context.storage_state()
            self._generation += 1
            self.stats["logins"] += 1
            log.info("site_signed_in", site=self.name, generation=self._generation)
            await self._adopt(lease.slot)

    def pause(self, reason: str, until: datetime | None = None) -> None:
        """Defer every later lease of this run (e.g. the site shows its maintenance page)."""
        if self._paused is None:
            log.warning("site_paused", site=self.name, reason=reason)
        self._paused = (reason, until)

    def check_system_pages(self, doc: Document) -> None:
        """Raise for a maintenance, CAPTCHA or service-unavailable page (or any HTTP 5xx)."""
        if doc.has(_MARK + "maintenance"):
            reason = f"{self.name} shows its maintenance page; deferred to the next run"
            self.pause(reason)
            raise ItemDeferred(reason)
        if doc.has(_MARK + "captcha"):
            raise CaptchaChallenge(f"{self.name} asks for a CAPTCHA ({doc.path}); a person must do this lookup")
        if doc.has(_MARK + "unavailable") or doc.status >= 500:
            raise PortalUnavailable(f"{self.name} answered HTTP {doc.status} ({doc.path})")

    async def throttle(self) -> None:
        """Wait for this request's turn: requests to a site start ``min_interval`` apart."""
        self.stats["requests"] += 1
        gap = self.config.min_interval
        if gap <= 0:
            return
        now = asyncio.get_running_loop().time()
        turn = max(now, self._next_request)
        self._next_request = turn + gap
        if turn > now:
            await asyncio.sleep(turn - now)

    async def close(self) -> None:
        if self.config.logout_path and self._state is not None and self._slots:
            with contextlib.suppress(PlaywrightError):  # the session times out on its own anyway
                await self._slots[0].context.request.get(self.url(self.config.logout_path),
                                                         timeout=self.config.timeout_ms, max_redirects=0)
        for slot in self._slots:
            with contextlib.suppress(PlaywrightError):
                await slot.context.close()
        self._slots.clear()
        self._idle.clear()
        self._login_slot = None
        log.info("site_closed", site=self.name, **self.stats)

    # ---- internals ----------------------------------------------------------------------------

    def _raise_if_stopped(self) -> None:
        if self._paused is not None:
            raise ItemDeferred(self._paused[0], until=self._paused[1])
        if self._login_error is not None:
            raise ItemDeferred(f"sign-in to {self.name} was refused earlier in this run ({self._login_error}); "
                               f"not tried again until the next run")

    async def _open_slot(self, *, pooled: bool = True) -> _Slot:
        with translate_errors(f"{self.name}: opening a browser context"):
            context = await self.host.browser.new_context(storage_state=self._state, service_workers="block")
            context.set_default_timeout(self.config.timeout_ms)
            context.set_default_navigation_timeout(self.config.timeout_ms)
            if self.config.block_resources:
                await context.route("**/*", functools.partial(_block, self.config.block_resources, self.stats))
        slot = _Slot(context, None, self._generation)
        self._slots.append(slot)
        if pooled:
            self.stats["contexts"] += 1
        return slot

    async def _adopt(self, slot: _Slot) -> None:
        """Give ``slot``'s context the cookies of the site's current session."""
        assert self._state is not None
        with translate_errors(f"{self.name}: taking over the session"):
            await slot.context.clear_cookies()
            await slot.context.add_cookies(self._state.get("cookies", []))
        slot.generation = self._generation
        self.stats["adopted"] += 1

    async def _give_back(self, slot: _Slot, broken: bool) -> None:
        if broken and slot.tab is not None:
            tab, slot.tab = slot.tab, None  # the next lease opens a fresh tab if it needs one
            try:
                await tab.close()
                self.stats["tabs_closed"] += 1
            except PlaywrightError:  # the context itself is gone: drop it, a new one opens on demand
                with contextlib.suppress(PlaywrightError):
                    await slot.context.close()
                self._slots.remove(slot)
                return
        self._idle.append(slot)


async def _block(kinds: frozenset[str], stats: dict[str, int], route: Route) -> None:
    """Route handler: abort the resource types nobody reads (images, fonts, media)."""
    try:
        if route.request.resource_type in kinds:
            stats["blocked"] += 1
            await route.abort("blockedbyclient")
        else:
            await route.continue_()
    except PlaywrightError:  # the tab went away meanwhile
        return


class BrowserHost:
    """One Chromium for a run, driven from an asyncio loop in a dedicated thread.

    ``start()`` launches it; ``run(coro)`` runs a coroutine on the loop from any other
    thread and returns its result (or raises its exception); ``site(config, login)`` gives
    the pool of signed-in contexts of one site; ``close()`` signs out, closes everything
    and stops the thread. Also a context manager.

    Shared helpers on the loop: ``parse(html, spec)`` reads fetched HTML with ``DOMParser``
    in one helper tab (parsing is stateless, so every site shares it) and ``render(html)``
    screenshots HTML in one of ``render_tabs`` tabs (a render holds its tab from
    ``set_content`` to ``screenshot``). Both live in a helper context without cookies.
    """

    def __init__(self, executable: Path | None = None, *, headless: bool = True,
                 evidence: EvidenceFolder | None = None, render_tabs: int = 2,
                 block_resources: frozenset[str] = frozenset({"image", "font", "media"})):
        self.executable = executable
        self.headless = headless
        self.evidence = evidence
        self.block_resources = block_resources
        self._helper: BrowserContext | None = None
        self._helper_lock = asyncio.Lock()
        self._parser_lock = asyncio.Lock()
        self._parser: Page | None = None
        self._render_sem = asyncio.Semaphore(max(1, render_tabs))
        self._render_idle: list[Page] = []
        self._rendered: dict[str, bytes] = {}  # sha256 of HTML → PNG, the last 32
        self._helper_stats: dict[str, int] = {"blocked": 0}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._sites: dict[str, SitePool] = {}
        self._sites_lock = threading.Lock()
        self._evidence_seq = itertools.count(1)

    @property
    def browser(self) -> Browser:
        if self._browser is None:
            raise RuntimeError("BrowserHost is not started")
        return self._browser

    def start(self) -> BrowserHost:
        if self._loop is not None:
            return self
        kwargs = launch_kwargs(self.executable, headless=self.headless)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="browser-host", daemon=True)
        self._thread.start()
        try:
            self.run(self._launch(kwargs), timeout=120)
        except BaseException:
            self.close()
            raise
        return self

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the browser's loop and wait for it (thread-safe).

        ``timeout`` seconds without a result cancel the coroutine (its leases clean up) and
        raise ``PortalTimeout``.
        """
        if self._loop is None or self._thread is None:
            coro.close()
            raise RuntimeError("BrowserHost is not started")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("BrowserHost.run called on the browser thread: await the coroutine instead")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise PortalTimeout(f"browser work did not finish within {timeout:.0f} s") from None

    def site(self, config: SiteConfig, login: LoginFn) -> SitePool:
        """The pool for ``config.name`` (created on first call; later calls return it)."""
        with self._sites_lock:
            pool = self._sites.get(config.name)
            if pool is None:
                pool = self._sites[config.name] = SitePool(self, config, login)
            return pool

    async def parse(self, html: str, spec: Mapping[str, Field]) -> dict[str, Any]:
        """Read ``spec`` from an HTML string (parsed, never rendered: no requests, no scripts)."""
        if self._parser is None:
            async with self._parser_lock:
                if self._parser is None:
                    helper = await self._helper_context()
                    with translate_errors("opening the parser tab"):
                        self._parser = await helper.new_page()
        with translate_errors("reading a fetched page"):
            result = await self._parser.evaluate(_READ_JS, [html, _spec(spec)])
        return result if isinstance(result, dict) else {}

    async def render(self, html: str) -> bytes:
        """A full-page PNG of ``html`` (with a ``<base>``, its stylesheets load).

        Identical HTML renders once per run (a portal's "service unavailable" page, its sign-in
        page): retries under a fault storm then cost a file write, not a render each.
        """
        key = hashlib.sha256(html.encode("utf-8", "replace")).hexdigest()
        cached = self._rendered.get(key)
        if cached is not None:
            return cached
        async with self._render_sem:
            if self._render_idle:
                tab = self._render_idle.pop()
            else:
                helper = await self._helper_context()
                with translate_errors("opening a render tab"):
                    tab = await helper.new_page()
            healthy = False
            try:
                with translate_errors("rendering a page for its screenshot"):
                    await tab.set_content(html, wait_until="load")
                    png = await tab.screenshot(full_page=True, type="png")
                healthy = True
                self._rendered[key] = png
                while len(self._rendered) > 32:
                    self._rendered.pop(next(iter(self._rendered)))
                return png
            finally:
                if healthy:
                    self._render_idle.append(tab)
                else:
                    with contextlib.suppress(PlaywrightError):
                        await tab.close()

    async def _helper_context(self) -> BrowserContext:
        async with self._helper_lock:
            if self._helper is None:
                with translate_errors("opening the helper context"):
                    helper = await self.browser.new_context(service_workers="block")
                    if self.block_resources:
                        await helper.route("**/*", functools.partial(_block, self.block_resources,
                                                                     self._helper_stats))
                self._helper = helper
            return self._helper

    def save_evidence(self, name: str, content: bytes | str) -> EvidenceFile:
        if self.evidence is None:
            raise RuntimeError("this BrowserHost was started without an evidence folder")
        return self.evidence.save(name, content)

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            if self._browser is not None or self._playwright is not None:
                self.run(self._shutdown(), timeout=60)
        except Exception as exc:  # closing must not hide the run's own outcome
            log.warning("browser_close_failed", error_type=type(exc).__name__, error=str(exc))
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            if not thread.is_alive():
                loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> BrowserHost:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    async def _launch(self, kwargs: dict[str, Any]) -> None:
        with translate_errors("starting the browser"):
            self._playwright = await async_playwright().start()
            self._browser = await self._playwright.chromium.launch(**kwargs)
        log.info("browser_started", version=self._browser.version, headless=self.headless)

    async def _shutdown(self) -> None:
        for pool in list(self._sites.values()):
            await pool.close()
        self._sites.clear()
        if self._helper is not None:
            with contextlib.suppress(PlaywrightError):
                await self._helper.close()
            self._helper = self._parser = None
            self._render_idle.clear()
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None


def main() -> int:
    try:
        path, source = find_browser()
    except BrowserNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{path or 'playwright-managed chromium'} ({source})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
