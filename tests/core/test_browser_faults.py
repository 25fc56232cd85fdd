"""bots.core.browser.faults: Playwright's exceptions, raised by a real headless Chromium, become
the project's SystemFault families, and their messages carry no query strings (a member id)."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError

from bots.core.browser import BrowserHost, path_of, translate_errors
from bots.core.errors import PortalTimeout, PortalUnavailable, SiteUnreachable, SystemFault

pytestmark = pytest.mark.browser

MEMBER = "M0048151623"  # stands for a member id in a query string


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def fault_of(host: BrowserHost, what: str, action: Callable[[BrowserContext], Awaitable[Any]]) -> BaseException:
    """Run ``action`` in a fresh context inside ``translate_errors(what)``; return what it raised."""

    async def attempt() -> None:
        context = await host.browser.new_context()
        try:
            with translate_errors(what):
                await action(context)
        finally:
            await context.close()

    with pytest.raises(BaseException) as raised:
        host.run(attempt())
    return raised.value


def assert_clean(exc: BaseException, what: str) -> None:
    """The message leads with ``what``, is one line, cuts the query and chains Playwright's error."""
    message = str(exc)
    assert message.startswith(f"{what}: ")
    assert MEMBER not in message and "member=" not in message
    assert "\n" not in message and "Call log" not in message
    assert isinstance(exc.__cause__, PlaywrightError)


async def goto(context: BrowserContext, url: str, **kw: Any) -> None:
    await (await context.new_page()).goto(url, **kw)


def test_a_refused_connection_becomes_site_unreachable(host: BrowserHost, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/claims?member={MEMBER}"
    exc = fault_of(host, "acme: search", lambda context: goto(context, url))
    # no answer at all: a PortalUnavailable (retried) that past the retry budget is a site outage
    assert type(exc) is SiteUnreachable and isinstance(exc, PortalUnavailable) and exc.retryable
    assert "cannot reach the site" in str(exc) and "net::ERR_" in str(exc)
    assert "/claims?…" in str(exc)  # the path stays, the query is cut
    assert_clean(exc, "acme: search")


def test_a_refused_request_api_call_becomes_site_unreachable(host: BrowserHost, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}/claims?member={MEMBER}"
    exc = fault_of(host, "acme: fetch", lambda context: context.request.get(url))
    assert type(exc) is SiteUnreachable and "ECONNREFUSED" in str(exc)
    assert_clean(exc, "acme: fetch")


def test_a_page_that_never_answers_becomes_portal_timeout(host: BrowserHost, silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/claims?member={MEMBER}"
    exc = fault_of(host, "acme: loading /claims", lambda context: goto(context, url, timeout=300))
    assert type(exc) is PortalTimeout and "timed out" in str(exc)
    assert_clean(exc, "acme: loading /claims")


def test_a_request_that_never_answers_becomes_portal_timeout(host: BrowserHost, silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}/claims?member={MEMBER}"
    exc = fault_of(host, "acme: fetching /claims", lambda context: context.request.get(url, timeout=300))
    assert type(exc) is PortalTimeout
    assert_clean(exc, "acme: fetching /claims")


def test_other_browser_errors_become_a_plain_retryable_system_fault(host: BrowserHost) -> None:
    async def script_error(context: BrowserContext) -> None:
        await (await context.new_page()).evaluate(f"() => {{ throw new Error('no claim at /c?member={MEMBER}') }}")

    exc = fault_of(host, "acme: reading", script_error)
    assert type(exc) is SystemFault and exc.retryable and "browser error" in str(exc)
    assert "no claim at /c?…" in str(exc)
    assert_clean(exc, "acme: reading")

    async def closed_tab(context: BrowserContext) -> None:
        tab = await context.new_page()
        await tab.close()
        await tab.content()

    exc = fault_of(host, "acme: reading", closed_tab)
    assert type(exc) is SystemFault and "closed" in str(exc)


def test_errors_that_are_not_playwrights_pass_through_untouched() -> None:
    original = ValueError("not a browser problem")
    with pytest.raises(ValueError) as raised, translate_errors("acme: parsing"):
        raise original
    assert raised.value is original
    with translate_errors("acme: nothing wrong"):
        pass


def test_path_of_keeps_only_the_path() -> None:
    assert path_of(f"https://portal.example/claims/CLM-1?member={MEMBER}#top") == "/claims/CLM-1"
    assert path_of("https://portal.example") == "/"
