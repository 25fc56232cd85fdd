"""Portal trouble: 503s, session expiry, layout changes, maintenance, CAPTCHA (a refused sign-in: test_payer_portal_setup).
Nothing is lost: every claim ends in exactly one terminal state, or waits for the next run."""

from __future__ import annotations

import os
import stat
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bots.core.settings import Settings
from config_helpers import edit_toml
from bots.core.workbook import sync_workbook
from bots.core.store import Store
from mock_portals import SELECTORS, MockPortals

from payer_portal.portal_helpers import (
    edit_profile, exception_rows, expected_routes, items, load_sample, robot_env, route_taken, run, set_retry,
    workbook_rows,
)

pytestmark = pytest.mark.browser

# The v2 layout's selectors, from mock_portals/README.md: the only change an operator makes
# when the portals switch layouts is this block in each profile.
V2_SELECTORS = {
    "acme": """
[selectors.login]
form = "#signin-form"
username = "#acme-user"
password = "#acme-pass"
submit = "#signin-button"
error = ".signin-alert--error"
locked = ".signin-alert--locked"
session_expired = ".signin-alert--expired"

[selectors.nav]
user = ".topbar-user"
logout = "a.topbar-signout"

[selectors.search]
form = "#lookup-form"
claim_number = "#q-claim"
submit = "#q-go"
not_found = ".lookup-empty"

[selectors.detail]
container = "section.claim-card"
claim_id = '[data-field="claim-id"]'
patient_name = '[data-field="patient"]'
member_id = '[data-field="member"]'
date_of_service = '[data-field="dos"]'
status = '[data-field="status"]'
status_date = '[data-field="status-date"]'
billed = '[data-field="charges"]'
paid = '[data-field="payment"]'
paid_date = '[data-field="payment-date"]'
check_number = '[data-field="eft"]'
payer_claim_number = '[data-field="icn"]'
remarks = '[data-field="notes"]'
carc_row = "table.adj-codes tbody tr"
carc_code = "table.adj-codes td.adj-code"
carc_text = "table.adj-codes td.adj-desc"
back = "a.new-lookup"
""",
    "beacon": """
[selectors.login]
form = "#frmLogin"
username = "#uid"
password = "#pwd"
submit = "#btnLogin"
error = "#msgError"
locked = "#msgLocked"
session_expired = "#msgExpired"

[selectors.otp]
code = "#mfaCode"
submit = "#btnVerify"
error = "#mfaError"

[selectors.nav]
user = "#lblUser"
logout = "#lnkSignOut"

[selectors.search]
member_id = "#mbrId"
dos = "#svcDate"
submit = "#btnFind"
error = "#findError"
no_results = "#noMatches"

[selectors.results]
table = "#claimGrid"
row = "#claimGrid div.grid-row"
claim_id = "span.grid-pcn"
status = "span.grid-status"
link = "a.grid-open"

[selectors.detail]
container = "#pnlClaim"
claim_id = "#fldPcn"
patient_name = "#fldPatient"
member_id = "#fldMember"
date_of_service = "#fldDos"
status = "#fldStatus"
status_date = "#fldStatusDate"
billed = "#fldBilled"
paid = "#fldPaid"
paid_date = "#fldPaidDate"
check_number = "#fldCheck"
payer_claim_number = "#fldIcn"
remarks = "#fldRemarks"
carc_row = "#lstAdj li"
carc_code = "#lstAdj .adj-cd"
carc_text = "#lstAdj .adj-txt"
back = "#lnkNewSearch"
""",
}


def use_v2_selectors(config_dir: Path, payer: str) -> None:
    """Replace the profile's payer-specific selector tables with the v2 ones (config only)."""
    def change(doc: dict[str, Any]) -> None:
        for table in ("login", "otp", "nav", "search", "results", "detail"):
            doc["selectors"].pop(table, None)
        doc["selectors"].update(tomllib.loads(V2_SELECTORS[payer])["selectors"])

    edit_toml(config_dir / "payers" / f"{payer}.toml", change)


def test_v2_selectors_in_this_test_are_the_readme_table() -> None:
    for payer, block in V2_SELECTORS.items():
        table = {}
        section = ""
        for line in block.strip().splitlines():
            if line.startswith("["):
                section = line.strip("[]").split(".")[1]
            elif "=" in line:
                key, value = (p.strip() for p in line.split("=", 1))
                table[f"{section}.{key}"] = value.strip("'\"")
        shipped = {k: v[1] for k, v in SELECTORS[payer].items()}
        assert {k: v for k, v in table.items() if k in shipped} == shipped


def test_with_20pc_503s_and_session_expiry_every_claim_ends_in_exactly_one_terminal_state(
        settings: Settings, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    load_sample(store)
    with MockPortals(faults="error_rate=0.2,expire_after=15,seed=11") as portals:
        robot_env(monkeypatch, portals.url)
        runs = 0
        while any(i["state"] in ("new", "abandoned") for i in items(store).values()) or runs == 0:
            run(settings, store)
            runs += 1
            assert runs <= 4, "items still claimable after max_attempts runs"
        stats = portals.stats
    assert stats["served_503"] > 20 and sum(stats["sessions_expired"].values()) > 0
    states = items(store)
    assert len(states) == 65 and all(i["state"] in ("done", "exception", "failed") for i in states.values())
    open_rows = exception_rows(store)
    # One row per exception/failed item, none for done items, no duplicates anywhere.
    per_item: dict[str, list[dict]] = {}
    for row in open_rows:
        per_item.setdefault(row["item_ref"], []).append(row)
    assert all(len(rows) == 1 for rows in per_item.values())
    assert set(per_item) == {ref for ref, i in states.items() if i["state"] in ("exception", "failed")}
    for ref, i in states.items():
        if i["state"] == "failed":
            assert per_item[ref][0]["queue"] == "Bot Failures"
        else:
            assert route_taken(per_item.get(ref, [])) == expected_routes()[ref.split(":")[1]]
    book = workbook_rows(settings)
    ids = [row["Exception ID"] for rows in book.values() for row in rows]
    assert len(ids) == len(set(ids)) == len(open_rows)
    assert store.verify_audit() == []


def test_an_expired_session_signs_in_again_and_carries_on_without_a_retry(
        settings: Settings, store: Store, env: MockPortals, config_dir: Path) -> None:
    # Sessions shared by two contexts, ending every 6 requests (beacon's code step counts too;
    # acme opens each claim's own page in one request, so it takes six lookups to pass the limit).
    for payer in ("acme", "beacon"):
        edit_profile(config_dir, payer, {"concurrency": "2"})
    env.set_faults("expire_after=6")
    load_sample(store)
    wanted = ["CLM-1001", "CLM-1003", "CLM-1009", "CLM-1010", "CLM-1016", "CLM-1019",
              "CLM-1033", "CLM-1041", "CLM-1048", "CLM-1051"]
    result = run(settings, store, only=wanted)
    assert result.counts["done"] == 10 and result.counts["retries"] == 0
    assert sum(env.stats["sessions_expired"].values()) >= 2 and env.stats["logins"]["acme"] >= 2


def test_v2_layout_fails_to_bot_failures_with_screenshots_then_passes_after_the_profile_change(
        settings: Settings, store: Store, env: MockPortals, config_dir: Path) -> None:
    settings = set_retry(settings, attempts=1, max_attempts=1)
    env.set_faults("layout=v2")
    load_sample(store)
    wanted = ["CLM-1016", "CLM-1025", "CLM-1048", "CLM-1064"]
    result = run(settings, store, only=wanted)
    assert result.counts["failed"] == 4
    failures = exception_rows(store)
    assert {r["claim_id"] for r in failures} == set(wanted) and {r["queue"] for r in failures} == {"Bot Failures"}
    for row in failures:
        assert "SelectorMissing" in row["reason"] and "Update [selectors]" in row["reason"]
        shot = Path(row["evidence_file"])
        assert shot.read_bytes().startswith(b"\x89PNG") and stat.S_IMODE(os.stat(shot).st_mode) == 0o600
    assert {r["Claim ID"] for r in workbook_rows(settings)["Bot Failures"]} == set(wanted)

    # The fix is configuration only; then a person hands the rows back to the robot.
    for payer in ("acme", "beacon"):
        use_v2_selectors(config_dir, payer)
    retry_by_bot(settings, {r["exception_id"] for r in failures})
    sync_workbook(settings, store)
    result = run(settings, store, only=wanted)
    assert result.counts["failed"] == 0 and result.counts["items"] == 4
    taken = {c: route_taken([r for r in exception_rows(store) if r["claim_id"] == c]) for c in wanted}
    assert taken == {c: expected_routes()[c] for c in wanted}
    assert {r["bot_status"] for r in exception_rows(store, open_only=False) if r["queue"] == "Bot Failures"} == {
        "Cleared"}


def retry_by_bot(settings: Settings, exception_ids: set[str]) -> None:
    """What a person does in the workbook: resolve Bot Failures rows with "Retry by bot"."""
    wb = load_workbook(settings.workbook_path)
    ws = wb["Bot Failures"]
    col = {cell.value: cell.column for cell in ws[1]}
    for r in range(2, ws.max_row + 1):
        if ws.cell(r, col["Exception ID"]).value in exception_ids:
            for header, value in {"Status": "Resolved", "Resolution": "Retry by bot",
                                  "Resolution Note": "profile updated to the v2 layout", "Resolved By": "ops"}.items():
                ws.cell(r, col[header]).value = value
    wb.save(settings.workbook_path)
    wb.close()


def test_a_maintenance_window_in_the_profile_defers_that_payers_claims_without_a_request(
        settings: Settings, store: Store, env: MockPortals, config_dir: Path) -> None:
    now = datetime.now(UTC)
    start, end = now - timedelta(minutes=30), now + timedelta(minutes=30)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[start.weekday()]
    edit_profile(config_dir, "acme", append=(
        f'\n[[maintenance]]\ndays = ["{day}"]\nstart = "{start:%H:%M}"\nend = "{end:%H:%M}"\ntimezone = "UTC"\n'))
    load_sample(store)
    result = run(settings, store, only=["CLM-1001", "CLM-1016", "CLM-1033", "CLM-1048"])
    assert result.counts["deferred"] == 2 and result.counts["done"] == 2
    acme = {ref: i for ref, i in items(store).items() if ref in ("acme:CLM-1001", "acme:CLM-1016")}
    assert all(i["state"] == "new" and i["attempts"] == 0 and i["not_before"] for i in acme.values())
    assert all(i["not_before"].startswith(f"{end:%Y-%m-%dT%H:%M}") for i in acme.values())
    assert env.stats["requests"]["acme"] == 0 and env.stats["requests"]["beacon"] > 0


def test_a_maintenance_page_defers_the_claims_to_the_next_run_which_does_them(
        settings: Settings, store: Store, env: MockPortals) -> None:
    env.set_faults("maintenance=beacon")
    load_sample(store)
    wanted = ["CLM-1033", "CLM-1041", "CLM-1048", "CLM-1056", "CLM-1001"]
    result = run(settings, store, only=wanted)
    assert result.counts["deferred"] == 4 and result.counts["done"] == 1 and result.counts["failed"] == 0
    assert env.stats["maintenance_503"]["beacon"] <= 8  # paused after the first maintenance page
    assert all(i["state"] == "new" and i["attempts"] == 0 for r, i in items(store).items() if r.startswith("beacon"))
    env.set_faults("")
    result = run(settings, store, only=wanted[:4])
    assert result.counts["items"] == 4 and result.counts["deferred"] == 0
    assert all(items(store)[f"beacon:{c}"]["state"] in ("done", "exception") for c in wanted[:4])


def test_a_captcha_goes_to_bot_failures_with_a_screenshot_without_retrying(
        settings: Settings, store: Store, env: MockPortals) -> None:
    env.set_faults("captcha=acme")
    load_sample(store)
    result = run(settings, store, only=["CLM-1001", "CLM-1016"])
    assert result.counts["failed"] == 2 and result.counts["retries"] == 0
    for row in exception_rows(store):
        assert row["queue"] == "Bot Failures" and "CaptchaChallenge" in row["reason"]
        assert Path(row["evidence_file"]).read_bytes().startswith(b"\x89PNG")
