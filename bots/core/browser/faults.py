"""Errors at the boundary: Playwright's exceptions become ``bots.core.errors`` types.

Nothing above this package (page objects, bots) needs to import Playwright's errors:
:func:`translate_errors` maps a timeout to ``PortalTimeout``, a refused or dropped
connection to ``SiteUnreachable`` (a ``PortalUnavailable``) and anything else the browser reports to a plain,
retryable ``SystemFault``. Messages keep only the first line of Playwright's text, with
query strings cut (they may carry a member id); :func:`path_of` is what a message or a
log may show of a URL.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from bots.core.errors import PortalTimeout, SiteUnreachable, SystemFault

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
    A timeout becomes ``PortalTimeout``; a refused or dropped connection ``SiteUnreachable``;
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
            raise SiteUnreachable(f"{what}: cannot reach the site ({brief})") from exc
        raise SystemFault(f"{what}: browser error ({brief})") from exc
