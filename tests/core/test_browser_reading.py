"""bots.core.browser.reading: Field specs read in one round trip, the same way from a live tab and
from fetched HTML (a real headless Chromium), the Document accessors, and the system markers."""

from __future__ import annotations

from typing import Any

import pytest

from bots.core.browser import BrowserHost, Document, Field, SystemPages
from bots.core.browser.reading import _READ_JS, _spec, _with_base, system_markers

PAGE = """<!doctype html><html><head><title>Claim</title></head><body>
<h1 id="status">  Paid
   in full </h1>
<a class="doc" href="/docs/eob-1.pdf?member=M1">EOB</a><a class="doc" href="docs/letter.pdf">Letter</a>
<table id="lines">
  <tr class="line"><td class="code">99213</td><td class="paid">$80.00</td></tr>
  <tr class="line"><td class="code">36415</td><td class="paid"></td></tr>
</table>
<script>document.body.insertAdjacentHTML("beforeend", '<p id="scripted">ran</p>')</script>
</body></html>"""

SPEC = {
    "status": Field("#status"),
    "links": Field("a.doc", attr="href"),
    "lines": Field("tr.line", rows={"code": Field(".code"), "paid": Field(".paid")}),
    "missing": Field("#no-such-thing"),
    "broken": Field("td[[oops"),
    "scripted": Field("#scripted"),
}


async def read_live(host: BrowserHost, html: str, spec: dict[str, Field]) -> dict[str, Any]:
    """What the reader returns on a tab that rendered ``html`` (page mode)."""
    context = await host.browser.new_context()
    try:
        tab = await context.new_page()
        await tab.set_content(html)
        return await tab.evaluate(_READ_JS, [None, _spec(spec)])  # type: ignore[no-any-return]
    finally:
        await context.close()


def test_fetched_html_reads_like_the_page_without_running_its_scripts(host: BrowserHost) -> None:
    fetched = host.run(host.parse(PAGE, SPEC))
    assert fetched["status"] == ["Paid in full"]  # whitespace collapsed
    assert fetched["links"] == ["/docs/eob-1.pdf?member=M1", "docs/letter.pdf"]  # attributes as written
    assert fetched["lines"] == [{"code": ["99213"], "paid": ["$80.00"]}, {"code": ["36415"], "paid": [""]}]
    assert fetched["missing"] == []
    assert fetched["broken"] == {"invalid": "td[[oops"}
    assert fetched["scripted"] == []  # parsed, never run

    live = host.run(read_live(host, PAGE, SPEC))
    assert live["scripted"] == ["ran"]  # a rendered tab does run it
    assert {k: v for k, v in live.items() if k != "scripted"} == {k: v for k, v in fetched.items() if k != "scripted"}


def test_document_accessors_pick_the_shape_they_ask_for(host: BrowserHost) -> None:
    values = host.run(host.parse(PAGE, SPEC))
    doc = Document(lease=None, url="https://portal.example/acme/claims/CLM-1?member=M1", status=200,  # type: ignore[arg-type]
                   values=values)
    assert doc.text("status") == "Paid in full" and doc.texts("links")[1] == "docs/letter.pdf"
    assert doc.text("missing") is None and not doc.has("missing") and doc.has("lines")
    assert doc.texts("lines") == [] and doc.rows("status") == []  # rows are not texts, nor texts rows
    assert [r["code"] for r in doc.rows("lines")] == [["99213"], ["36415"]]
    assert doc.text("never-asked") is None and doc.rows("never-asked") == []
    assert doc.invalid_selectors() == ["td[[oops"]
    assert doc.path == "/acme/claims/CLM-1"
    assert doc.absolute("docs/letter.pdf") == "https://portal.example/acme/claims/docs/letter.pdf"
    assert doc.absolute("/docs/eob.pdf") == "https://portal.example/docs/eob.pdf"


def test_system_markers_read_only_the_pages_a_site_has() -> None:
    markers = system_markers(SystemPages(captcha=None), "#login-form, #otp-form")
    assert markers == {"__maintenance": Field("#maintenance-notice"), "__unavailable": Field("#service-unavailable"),
                       "__login": Field("#login-form, #otp-form")}
    assert system_markers(SystemPages(None, None, None), None) == {}


@pytest.mark.parametrize(("html", "expected"), [
    ('<html><head lang="en"><title>t</title></head></html>',
     '<html><head lang="en"><base href="https://p.example/a/&quot;x&quot;/"><title>t</title></head></html>'),
    ("<HEAD></HEAD><p>x</p>", '<HEAD><base href="https://p.example/a/&quot;x&quot;/"></HEAD><p>x</p>'),
    ("<p>no head</p>", '<base href="https://p.example/a/&quot;x&quot;/"><p>no head</p>'),
])
def test_a_base_goes_right_after_the_head_tag_or_first(html: str, expected: str) -> None:
    assert _with_base(html, 'https://p.example/a/"x"/') == expected
