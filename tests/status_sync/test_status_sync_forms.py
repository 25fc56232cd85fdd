"""The claim form read from its HTML as a browser would submit it (request level), and billing's
pages read in-process exactly as the browser's own parser reads them."""

from __future__ import annotations

import re

import httpx
import pytest

from bots.core.browser import BrowserHost, Field, SystemPages
from bots.core.browser.reading import read_html, system_markers
from bots.core.settings import Settings
from bots.status_sync.config import load_billing_config
from bots.status_sync.forms import Option, read_form
from bots.status_sync.pages import EditPage
from mock_portals import BILLING_STATUSES, MockPortals

RICH = """<!doctype html><html><head><base href="/app/"></head><body>
<form id="f" method="POST" action="save?x=1">
  <input type="hidden" name="csrf_token" value="t0k3n">
  <input type="hidden" name="version" value="7">
  <select id="s" name="status"><option value="S">Submitted</option><option selected>Paid
    in  full</option><option value="X" disabled>Closed</option></select>
  <textarea id="n" name="note">
old note</textarea>
  <input type="checkbox" name="flag" checked><input type="checkbox" name="off" value="1">
  <input type="radio" name="pick" value="a"><input type="radio" name="pick" value="b" checked>
  <input name="typed" disabled value="no"><fieldset disabled><input name="inside" value="no"></fieldset>
  <input type="submit" name="other" value="no"><input type="file" name="upload">
  <select name="many" multiple><option selected>one</option><option>two</option><option selected>three</option></select>
  <select name="none"><option disabled>dash</option><option value="first">First</option></select>
  <button id="save" name="go" value="save">Save</button>
</form><form id="other"><input name="elsewhere" value="no"></form></body></html>"""


def test_every_field_a_browser_would_send_is_read_hidden_ones_included() -> None:
    form = read_form(RICH, "http://billing.test/app/claims/1", "#f", {"status": "#s", "note": "#n", "gone": "#zz"},
                     submitter="#save")
    assert form is not None
    assert form.action == "http://billing.test/app/save?x=1" and form.method == "post"
    assert form.names == {"status": "status", "note": "note"}
    assert form.fields == (("csrf_token", "t0k3n"), ("version", "7"), ("status", "Paid in full"), ("note", "old note"),
                           ("flag", "on"), ("pick", "b"), ("many", "one"), ("many", "three"), ("none", "first"))
    assert form.options["status"] == (Option("S", "Submitted"), Option("Paid in full", "Paid in full"),
                                       Option("X", "Closed"))
    assert form.option_value("status", "Submitted") == "S" and form.option_value("status", "Denied") is None
    assert form.entries({"status": "S", "note": "new\nnote"}) == [
        ("csrf_token", "t0k3n"), ("version", "7"), ("status", "S"), ("note", "new\nnote"), ("flag", "on"),
        ("pick", "b"), ("many", "one"), ("many", "three"), ("none", "first"), ("go", "save")]
    assert read_form(RICH, "http://billing.test/", "#missing", {}) is None


@pytest.fixture
def pages_html(portals: MockPortals) -> dict[str, str]:
    """Billing's pages as the robot fetches them: v1 and v2 claim forms (with history), not found,
    sign-in."""
    out = {}
    with httpx.Client(base_url=portals.url) as client:
        client.post("/billing/login", data={"username": "robot", "password": "billing-robot-pass"})
        form = client.get("/billing/claims/CLM-1001").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        for status in ("Paid", "Denied"):
            client.post("/billing/claims/CLM-1001", data={"csrf_token": token[1], "status": status,
                                                          "note": f"  {status}\n  per portal <&> "})
        out["v1"] = client.get("/billing/claims/CLM-1001").text
        out["not_found"] = client.get("/billing/claims/CLM-0000").text
        portals.set_faults("layout=v2")
        out["v2"] = client.get("/billing/claims/CLM-1001").text
        client.cookies.clear()
        out["login"] = client.get("/billing/login").text
    return out


@pytest.mark.parametrize("layout", ["v1", "v2"])
def test_the_billing_forms_token_status_and_note_are_found_in_both_layouts(
        settings: Settings, pages_html: dict[str, str], layout: str) -> None:
    sel = load_billing_config(settings).selectors.edit
    if layout == "v2":  # the selectors an operator sets for v2 (sync_helpers.V2_SELECTORS)
        sel = sel.model_copy(update={"form": "#status-form", "status": "#new-status", "note": "#status-note",
                                     "save": "#btn-save"})
    form = read_form(pages_html[layout], "http://127.0.0.1/billing/claims/CLM-1001", sel.form,
                     {"status": sel.status, "note": sel.note}, submitter=sel.save)
    assert form is not None and form.action == "http://127.0.0.1/billing/claims/CLM-1001"
    fields = dict(form.fields)
    assert re.fullmatch(r"[0-9a-f]{32}", fields["csrf_token"]) and fields["status"] == "Denied"
    assert form.names == {"status": "status", "note": "note"}
    assert [o.label for o in form.options["status"]] == list(BILLING_STATUSES)


@pytest.mark.browser
def test_billing_pages_read_in_process_match_the_browsers_own_reading(
        settings: Settings, pages_html: dict[str, str]) -> None:
    config = load_billing_config(settings)
    spec = {**EditPage.fields(config), **EditPage._history_fields(config),
            **system_markers(SystemPages(), config.selectors.login.form),
            "not_found": Field(config.selectors.system.not_found), "error": Field(config.selectors.edit.error),
            "token": Field(f"{config.selectors.edit.form} input[type=hidden]", attr="value"),
            "selected": Field("option[selected]", attr="selected"), "bad": Field("#[oops")}
    with BrowserHost(settings.browser_path) as host:
        for name, html in pages_html.items():
            assert read_html(html, spec) == host.run(host.parse(html, spec)), name
    assert read_html(pages_html["v1"], spec)["bad"] == {"invalid": "#[oops"}
    history = read_html(pages_html["v1"], spec)["history"]
    assert [(row["status"], row["note"]) for row in history] == [
        (["Paid"], ["Paid per portal <&>"]), (["Denied"], ["Denied per portal <&>"])]
