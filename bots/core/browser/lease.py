"""A lease: one signed-in browser context of a site, held by one task.

A :class:`Lease` loads pages the site's way (navigating its tab, or GETting through the
context's request API), throttled, translated and checked for system pages, and signs in
again when a load lands on the sign-in page. Its :class:`SitePool` hands leases out.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin, urlsplit

from playwright.async_api import BrowserContext, Page

from bots.core.browser.faults import path_of, translate_errors
from bots.core.browser.reading import _MARK, _READ_JS, Document, Field, _spec, _with_base, read_html
from bots.core.errors import SessionExpired
from bots.core.evidence import EvidenceFile
from bots.core.logging import get_logger

if TYPE_CHECKING:
    from bots.core.browser.pool import SiteConfig, SitePool

log = get_logger("bots.browser")


@dataclass
class _Slot:
    context: BrowserContext
    tab: Page | None  # opened when first needed (sign-in, page mode)
    generation: int   # the site sign-in whose cookies this context holds


class Lease:
    """One signed-in browser context of a site, held by one task until the ``async with`` ends.

    ``open`` loads a page the site's way (``fetch_mode``); ``goto`` and ``submit`` always use
    the tab (sign-in forms, clicks); ``fetch`` and ``post`` always use the request API. Each load is
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

    async def post(self, url: str, fields: Sequence[tuple[str, str]], read: Mapping[str, Field] | None = None, *,
                   referer: str | None = None, signed_in: bool = True) -> Document:
        """POST ``fields`` form-encoded (names may repeat, order kept) through the context's request
        API, with its cookies, and read the answer. A redirect is not followed: the document is the
        answer itself, its ``url`` the redirect's target (a post/redirect/get's 303 names the page
        the app sends the browser to). ``referer`` is sent with the page's origin, as a browser
        submitting the form would (some apps check them against forgery).

        A post cannot be repeated after a fresh sign-in (what it was based on may be stale), so
        an answer that is the sign-in page, or a redirect to it, raises ``SessionExpired``; the
        retry policy redoes the item.
        """
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if referer:
            parts = urlsplit(referer)
            headers.update(referer=referer, origin=f"{parts.scheme}://{parts.netloc}")

        async def load() -> Document:
            await self.pool.throttle()
            with translate_errors(f"{self.site.name}: posting to {path_of(url)}"):
                response = await self.slot.context.request.post(
                    url, data=urlencode(list(fields)), headers=headers, timeout=self.site.timeout_ms,
                    max_redirects=0, fail_on_status_code=False)
                try:
                    body = await response.text()
                    status, location = response.status, response.headers.get("location")
                finally:
                    await response.dispose()
                final = urljoin(url, location) if 300 <= status < 400 and location else url
                return await self._document(final, status, body, read)
        doc = await self._checked(load)
        if signed_in and self._is_sign_in(doc):
            raise SessionExpired(f"{self.site.name}: the session ended while posting to {path_of(url)}")
        return doc

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
        return await self.pool.host.keep_evidence(self.evidence_name(kind, "png"), png)

    async def failure_screenshot(self, exc: BaseException) -> EvidenceFile | None:
        """Best effort: what the tab showed when ``exc`` happened (a note page if nothing loaded)."""
        try:
            if self.last is None:
                note = (f"<h1>{html_lib.escape(self.site.name)}: no page loaded</h1>"
                        f"<p>{html_lib.escape(type(exc).__name__)}: {html_lib.escape(str(exc))}</p>")
                png = await self.pool.host.render(note)
                return await self.pool.host.keep_evidence(self.evidence_name("failure", "png"), png)
            return await self.screenshot("failure")
        except Exception as shot_error:  # the fault matters more than its picture
            log.warning("failure_screenshot_failed", site=self.site.name, error_type=type(shot_error).__name__,
                        error=str(shot_error))
            return None

    # ---- internals ----------------------------------------------------------------------------

    async def _evaluate(self, html: str | None, spec: Mapping[str, Field]) -> dict[str, Any]:
        """Read ``spec`` from the live tab (``html`` None) or from fetched HTML (the host's parser
        tab, or in this process when the site's ``reader`` is ``"lexbor"``)."""
        if html is not None:
            if self.site.reader == "lexbor":
                return read_html(html, spec)
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
