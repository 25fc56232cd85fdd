"""The browser host: one Chromium for a run, on an asyncio loop in a thread of its own.

Worker threads hand :class:`BrowserHost` coroutines through :meth:`BrowserHost.run`; every
page operation of the run is a task on that one loop. The host also keeps the shared
helper tabs: one that parses fetched HTML and a few that render HTML for screenshots.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import functools
import hashlib
import itertools
import threading
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

from playwright.async_api import Browser, BrowserContext, CDPSession, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from bots.core.browser.discovery import launch_kwargs
from bots.core.browser.faults import translate_errors
from bots.core.browser.pool import LoginFn, SiteConfig, SitePool, _block
from bots.core.browser.reading import _READ_JS, Field, _spec
from bots.core.errors import PortalTimeout
from bots.core.evidence import EvidenceFile, EvidenceFolder
from bots.core.logging import get_logger

T = TypeVar("T")
log = get_logger("bots.browser")


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
        self._cdp: dict[int, CDPSession] = {}  # render tab → its DevTools session (screenshots)
        self._rendered: dict[str, bytes] = {}  # sha256 of HTML → PNG, the last 32
        self._helper_stats: dict[str, int] = {"blocked": 0}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._sites: dict[str, SitePool] = {}
        self._sites_lock = threading.Lock()
        self._evidence_seq = itertools.count(1)
        # One writer thread for the run: a pool that starts threads on demand cost more than the writes.
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def browser(self) -> Browser:
        if self._browser is None:
            raise RuntimeError("BrowserHost is not started")
        return self._browser

    def start(self) -> BrowserHost:
        if self._loop is not None:
            return self
        kwargs = launch_kwargs(self.executable, headless=self.headless)
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence")
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
                    png = await self._full_page_png(tab)
                healthy = True
                self._rendered[key] = png
                while len(self._rendered) > 32:
                    self._rendered.pop(next(iter(self._rendered)))
                return png
            finally:
                if healthy:
                    self._render_idle.append(tab)
                else:
                    self._cdp.pop(id(tab), None)
                    with contextlib.suppress(PlaywrightError):
                        await tab.close()

    async def _full_page_png(self, tab: Page) -> bytes:
        """The whole page as PNG, encoded for speed (Chromium's ``optimizeForSpeed``): encoding
        was most of a screenshot's CPU, and evidence PNGs are read by people, not compared. The
        page is captured beyond the viewport only when it is larger than the viewport."""
        cdp = self._cdp.get(id(tab))
        if cdp is None:
            cdp = self._cdp[id(tab)] = await tab.context.new_cdp_session(tab)
        metrics = await cdp.send("Page.getLayoutMetrics")
        content, view = metrics["cssContentSize"], metrics["cssLayoutViewport"]
        width, height = max(content["width"], view["clientWidth"]), max(content["height"], view["clientHeight"])
        beyond = width > view["clientWidth"] or height > view["clientHeight"]
        params: dict[str, Any] = {"format": "png", "optimizeForSpeed": True, "captureBeyondViewport": beyond}
        if beyond:
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = await cdp.send("Page.captureScreenshot", params)
        return base64.b64decode(shot["data"])

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

    async def keep_evidence(self, name: str, content: bytes | str) -> EvidenceFile:
        """``save_evidence`` from the loop: the file is written by the host's evidence thread, since
        a write (create, write, chmod) on a busy disk took milliseconds every page load waited on."""
        assert self._loop is not None and self._writer is not None
        return await self._loop.run_in_executor(self._writer, self.save_evidence, name, content)

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
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None
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
        # Each site signs out with a request of its own: at the same time, not one after another.
        await asyncio.gather(*(pool.close() for pool in list(self._sites.values())))
        self._sites.clear()
        if self._helper is not None:
            with contextlib.suppress(PlaywrightError):
                await self._helper.close()
            self._helper = self._parser = None
            self._render_idle.clear()
            self._cdp.clear()
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None
