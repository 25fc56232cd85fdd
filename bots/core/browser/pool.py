"""A site's configuration and its pool of signed-in browser contexts for one run.

:class:`SitePool` takes care of concurrency, politeness (``min_interval``), one sign-in for
the whole site, pausing the site (maintenance, a refused sign-in), checking every load for
the system pages, and blocking the resources nobody reads (see the package docstring).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Route

from bots.core.browser.faults import path_of, translate_errors
from bots.core.browser.lease import Lease, _Slot
from bots.core.browser.reading import _MARK, Document, Field, SystemPages, system_markers
from bots.core.errors import (
    BusinessException, CaptchaChallenge, ConfigError, ItemDeferred, LoginFailed, PortalTimeout, PortalUnavailable,
    SiteOutage, SiteUnreachable, SystemFault,
)
from bots.core.logging import get_logger

if TYPE_CHECKING:
    from bots.core.browser.host import BrowserHost

log = get_logger("bots.browser")


@dataclass(frozen=True)
class SiteConfig:
    """One web site a bot signs in to (a payer portal, the billing app)."""

    name: str
    base_url: str
    concurrency: int = 2
    min_interval: float = 0.0                     # seconds between two requests to the site
    fetch_mode: Literal["page", "request"] = "page"
    # Fetched HTML is read by the browser's DOMParser (one shared parser tab) or, "lexbor", in
    # this process (``reading.read_html``): no round trip, for sites with many requests in flight.
    reader: Literal["browser", "lexbor"] = "browser"
    timeout_ms: int = 15_000                      # per navigation, request or action
    login_path: str = "/login"                    # a load that ends here means "signed out"
    login_marker: str | None = None               # ...and so does a page showing one of these
                                                  # (CSS selector list: the sign-in form, a code step)
    logout_path: str | None = None                # GET at the end of the run to end the session
    system_pages: SystemPages = SystemPages()
    block_resources: frozenset[str] = frozenset({"image", "font", "media"})
    max_renewals: int = 2                         # fresh sign-ins per page load before SessionExpired
    # A site outage (``SiteOutage``: the site is stopped for the rest of the run) is this many
    # failed leases in a row with no answer at all (connection refused, DNS), or this many
    # failed in a row with 5xx / timeouts / no answer over at least ``outage_after_seconds``.
    # One 503 now and then is a fault of the item and is retried; a burst of them on a flaky
    # portal passes within seconds, while a site that is down stays down for minutes.
    outage_after_unreachable: int = 3
    outage_after_errors: int = 8
    outage_after_seconds: float = 60.0

    def url(self, path: str) -> str:
        """An absolute URL for a path under the site's base URL."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


LoginFn = Callable[["Lease"], Awaitable[None]]
"""Signs the lease's tab in (``lease.goto``/``lease.submit`` with ``signed_in=False``); raises
``LoginFailed`` when the site refuses the credentials or has locked the account."""

RefusalFn = Callable[[LoginFailed], None]
"""Told of a refused sign-in (blocking; run in a worker thread): how a refusal outlives the run
(``bots.core.preflight`` records it in the store, so later runs do not try again)."""


class SitePool:
    """The signed-in browser contexts of one site for one run (see the package docstring)."""

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
        self._on_refused: RefusalFn | None = None
        self._down: SiteOutage | None = None  # the site stopped answering: no more requests this run
        self._unreachable = 0  # leases in a row that got no answer at all
        self._failing = 0      # leases in a row that got no answer, a 5xx or a timeout
        self._failing_since = 0.0  # time.monotonic() of the first of them
        self.login_path = path_of(config.url(config.login_path))
        self.markers: dict[str, Field] = system_markers(config.system_pages, config.login_marker)
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
        a refused sign-in, and ``SiteOutage`` once the site has stopped answering. A
        ``SystemFault`` leaving the block gets a screenshot, and a tab the lease navigated is
        closed (the next lease that needs one gets a fresh tab).
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
                outage = self._note_failure(exc)
                if outage is not None:
                    raise outage from exc
                raise
            else:
                self._unreachable = self._failing = 0
            finally:
                await self._give_back(slot, broken and lease.used_tab)

    async def check_sign_in(self) -> None:
        """Sign in now, as a run's preflight does: one real sign-in, whose session the run's leases
        then share. Raises what a lease would (``LoginFailed``, ``SiteUnreachable``, …)."""
        async with self.lease(label="preflight"):
            pass

    def remember_refusals(self, on_refused: RefusalFn) -> None:
        """Call ``on_refused`` whenever the site refuses a sign-in (in the preflight or mid-run)."""
        self._on_refused = on_refused

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
                    await self._tell_refused(exc)
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
        async def close_context(slot: _Slot) -> None:
            with contextlib.suppress(PlaywrightError):
                await slot.context.close()

        await asyncio.gather(*(close_context(slot) for slot in self._slots))
        self._slots.clear()
        self._idle.clear()
        self._login_slot = None
        log.info("site_closed", site=self.name, **self.stats)

    # ---- internals ----------------------------------------------------------------------------

    def _note_failure(self, exc: BaseException) -> SiteOutage | None:
        """Count a failed lease; the ``SiteOutage`` that stops the site when this one makes it down."""
        if isinstance(exc, SiteOutage) or not isinstance(exc, SystemFault):
            return None
        if not isinstance(exc, (PortalUnavailable, PortalTimeout)):  # the site answered (a page we did not expect)
            self._unreachable = self._failing = 0
            return None
        if self._failing == 0:
            self._failing_since = time.monotonic()
        self._failing += 1
        if isinstance(exc, SiteUnreachable):
            exc.site = self.name
            self._unreachable += 1
        else:
            self._unreachable = 0
        if self._down is None and (self._unreachable >= self.config.outage_after_unreachable
                                   or self._failing >= self.config.outage_after_errors
                                   and time.monotonic() - self._failing_since >= self.config.outage_after_seconds):
            self._down = SiteOutage(self.name, f"{self.name} stopped answering ({exc}); its remaining work is "
                                               f"carried over to the next run")
            log.error("site_outage", site=self.name, failed_in_a_row=self._failing, error=str(exc))
        if self._down is None:
            return None
        return SiteOutage(self.name, str(self._down), screenshot=exc.screenshot)

    async def _tell_refused(self, exc: LoginFailed) -> None:
        if self._on_refused is None:
            return
        try:
            await asyncio.to_thread(self._on_refused, exc)
        except Exception as err:  # remembering is on top; the refusal itself still stops this run's sign-ins
            log.error("site_login_refusal_not_recorded", site=self.name, error_type=type(err).__name__)

    def _raise_if_stopped(self) -> None:
        if self._down is not None:
            raise SiteOutage(self.name, str(self._down))
        if self._paused is not None:
            raise ItemDeferred(self._paused[0], until=self._paused[1])
        if self._login_error is not None:
            raise ItemDeferred(f"sign-in to {self.name} was refused earlier in this run ({self._login_error}); "
                               f"not tried again in this run")

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

