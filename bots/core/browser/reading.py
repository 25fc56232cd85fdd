"""What to read from a page, and the page it was read from.

Reading is one round trip per page: :class:`Field` specs go to the browser together (the
JavaScript reader ``_READ_JS``) and come back as the text (or an attribute) of every
match, in page order. The same reader runs on a live tab or, for fetched HTML, on a
``DOMParser`` document, so the same CSS selectors apply either way. A site may instead have
fetched HTML read in this process (:func:`read_html`, lexbor through selectolax: an HTML5
parser like the browser's, the same specs and answers, no round trip to the browser's one
shared parser tab, which many requests in flight queue on). Every load also reads
the site's system-page markers (:class:`SystemPages`, see :func:`system_markers`), which
the site's pool checks. A :class:`Document` holds one loaded page and what was read.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from bots.core.browser.faults import path_of, translate_errors
from bots.core.evidence import EvidenceFile

if TYPE_CHECKING:
    from bots.core.browser.lease import Lease


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


def read_html(html: str, spec: Mapping[str, Field]) -> dict[str, Any]:
    """``_READ_JS`` in this process: ``spec`` read from ``html`` parsed by lexbor, with the same
    answers (text with whitespace collapsed, or the attribute, ``""`` when absent; ``rows`` read
    inside each match, whose own element never matches itself, as with ``querySelectorAll``; an
    unusable selector answers ``{"invalid": selector}``)."""
    return _read(LexborHTMLParser(html), None, spec)


def _read(tree: LexborHTMLParser, scope: LexborNode | None, fields: Mapping[str, Field]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, f in fields.items():
        try:
            found = tree.css(f.selector) if scope is None else [
                el for el in scope.css(f.selector) if el.mem_id != scope.mem_id]
        except SelectolaxError:
            out[name] = {"invalid": f.selector}
            continue
        if f.rows:
            out[name] = [_read(tree, el, f.rows) for el in found]
        elif f.attr:
            out[name] = [el.attributes.get(f.attr) or "" for el in found]
        else:
            out[name] = [" ".join((el.text(deep=True) or "").split()) for el in found]
    return out


@dataclass(frozen=True)
class SystemPages:
    """Markers of the pages a site shows instead of the one asked for (any layout)."""

    maintenance: str | None = "#maintenance-notice"
    unavailable: str | None = "#service-unavailable"
    captcha: str | None = "#captcha-challenge"


def system_markers(pages: SystemPages, login_marker: str | None) -> dict[str, Field]:
    """The marker fields read along with every page: the system pages and the sign-in marker."""
    return {
        _MARK + name: Field(sel) for name, sel in
        (("maintenance", pages.maintenance), ("unavailable", pages.unavailable), ("captcha", pages.captcha),
         ("login", login_marker)) if sel
    }


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
        return await self.lease.pool.host.keep_evidence(self.lease.evidence_name(kind, "html"), await self.html())

    async def screenshot(self, kind: str) -> EvidenceFile:
        """A full-page PNG of this document as evidence (a fetched page is rendered first)."""
        return await self.lease.screenshot(kind, self)


def _spec(spec: Mapping[str, Field]) -> dict[str, Any]:
    return {k: f.spec() for k, f in spec.items()}


def _with_base(html: str, url: str) -> str:
    """The HTML with a ``<base>`` so its relative links (stylesheets) resolve when rendered."""
    base = f'<base href="{html_lib.escape(url, quote=True)}">'
    match = re.search(r"<head[^>]*>", html, re.IGNORECASE)
    return html[:match.end()] + base + html[match.end():] if match else base + html
