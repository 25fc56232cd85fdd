"""The dashboard's quality figures (``bots report``) from a history sampled and reviewed through the
real workbook: samples drawn per kind, reviewed, pass rate, findings by category, by rule and version
and per coder, the QA rows in rework, each against an independent count over the store's plain views
(``qa_samples``, ``exception_rows``, ``audit_records``); without ``config/quality.toml`` and without
a sample the section says it is not available; no PHI and, when turned off, no coder name leaves it.

Sampling, reviewer assignment and follow-up rows happen at the real time of each sync; the history is
then spread over three weeks by moving a third of the samples (and the rows their Fails opened) one
week back and another third two weeks back, the way ``test_report`` dates its generated rows.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from typer.testing import CliRunner

from bots.cli import app
from bots.core.report import Report, build_report, write_report
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store, utcnow
from bots.core.workbook import sync_workbook
from canaries import CANARY_MEMBER, CANARY_NAME
from store_helpers import set_columns
from team_helpers import MONDAY, ROSTER, qa_edit, write_roster
from workbook_helpers import Finding, coder_edit, report, stored

QUINN = {"name": "Quinn Lee", "roles": ["qa"]}
CATEGORIES = ["Wrong resolution", "Rule misapplied", "Evidence missing or insufficient"]
FRIDAY = MONDAY + timedelta(days=4)  # the roster's "today": everyone present
CODERS = {"Ana Ruiz", "Ben Okafor", "Cy Tran", "Eve Stone"}
WEEKS = 3
BOT_KINDS = ("claim_clean", "portal_paid", "status_applied")


def write_quality(settings: Settings) -> Path:
    doc = {"finding_categories": CATEGORIES,
           "bot": {"claim_clean": 0.3, "portal_paid": 0.5, "status_applied": 0.5},
           "coder": {"rate": 1.0, "min_per_coder_per_week": 0}}
    path = settings.config_file("quality.toml")
    path.write_bytes(tomli_w.dumps(doc).encode())
    return path


def _bot_decisions(store: Store, n: int) -> None:
    """``n`` clean claim_edits scans under two rule sets, portal reads paid as expected under two
    versions of the F1 rule, and billing statuses written: the decisions the bots close alone."""
    entries = []
    for i in range(n):
        common = {"run_id": f"run-ce-{i % 5}", "bot": "claim_edits", "item_ref": f"acme:CLM-{i:04d}",
                  "claim_id": f"CLM-{i:04d}", "ts": f"{MONDAY + timedelta(days=i % 5)}T10:{i % 60:02d}:00.000000"}
        entries.append(AuditEntry(action="rule_evaluated", result="pass", rule_id="NCCI-PTP",
                                  rule_version="3" if i % 2 else "4", **common))
        entries += [AuditEntry(action="rule_evaluated", result="pass", rule_id="MUE", rule_version="2", **common),
                    AuditEntry(action="item_outcome", result="done", **common)]
    for i in range(16):
        common = {"run_id": "run-pp", "bot": "payer_portal", "item_ref": f"acme:CLM-P{i}", "claim_id": f"CLM-P{i}",
                  "ts": f"{MONDAY}T11:{i:02d}:00.000000"}
        entries += [AuditEntry(action="status_read", result="F1", rule_id="PORTAL-F1", rule_version=str(4 + i % 2),
                               **common),
                    AuditEntry(action="item_outcome", result="done", **common)]
    for i in range(8):
        entries.append(AuditEntry(action="status_pushed", result="pushed", run_id="run-ss", bot="status_sync",
                                  item_ref=f"acme:CLM-B{i}|Paid|", claim_id=f"CLM-B{i}", rule_id="STATUS-SYNC",
                                  rule_version="1", ts=f"{MONDAY}T12:{i:02d}:00.000000"))
    store.audit(entries)


def _shift(ts: str | None, days: int) -> str | None:
    return None if ts is None else (datetime.fromisoformat(ts) - timedelta(days=days)).isoformat(timespec="microseconds")


def sampled_history(settings: Settings, store: Store) -> None:
    """Bot decisions and coder resolutions sampled, most reviewed (Pass or a Fail of each category,
    one QA Note naming the canary patient), a few left open, over three weeks."""
    write_roster(settings, [*ROSTER, QUINN])
    write_quality(settings)
    _bot_decisions(store, 120)
    who = {"Claim Edits": ("Ana Ruiz", "Ben Okafor", "Cy Tran"), "Denials": ("Ben Okafor", "Cy Tran")}
    findings = [Finding(f"CLM-E{n}", rule_id=("NCCI-PTP", "MUE", "MOD-25")[n % 3], detail=f"e{n}") for n in range(9)]
    findings += [Finding(f"CLM-D{n}", queue="Denials", rule_id="PORTAL-F2", bot="payer_portal", detail=f"d{n}")
                 for n in range(4)]
    findings.append(Finding("CLM-S1", rule_id="MUE", detail="s1", review_level="Senior"))
    report(store, "run-1", findings)
    [canary_row] = [r for r in stored(store).values() if r["claim_id"] == "CLM-E0"]
    set_columns(store, "exceptions", {"exception_id": canary_row["exception_id"]}, patient=CANARY_NAME)
    assert sync_workbook(settings, store, today=FRIDAY).written
    path = settings.workbook_path
    done = {"Status": "Resolved", "Resolution": "Corrected claim", "Resolution Note": "checked the op note",
            "Resolved On": FRIDAY.isoformat()}
    edits: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for n, row in enumerate(sorted(stored(store).values(), key=lambda r: r["claim_id"])):
        if row["review_level"] == "Senior":
            coder = "Eve Stone"
        else:
            coder = who[row["queue"]][n % len(who[row["queue"]])]
        edits[row["queue"]][row["exception_id"]] = {**done, "Resolved By": coder}
    for sheet, by_id in edits.items():
        coder_edit(path, sheet, by_id)
    assert sync_workbook(settings, store, today=FRIDAY).written  # merges the resolutions
    assert sync_workbook(settings, store, today=FRIDAY).written  # samples them
    samples = sorted(store.qa_samples(), key=lambda s: s["sample_id"])
    assert {s["kind"] for s in samples} == {*BOT_KINDS, "coder_resolution"}
    outcomes: dict[str, dict[str, Any]] = {}
    for j, s in enumerate(samples):
        if j % 5 == 4:
            continue  # awaiting review
        if j % 5 in (0, 2):
            outcomes[s["sample_id"]] = {"QA Result": "Pass"}
        else:
            outcomes[s["sample_id"]] = {"QA Result": "Fail", "Finding Category": CATEGORIES[j % len(CATEGORIES)],
                                        "QA Note": f"see chart of {CANARY_NAME}" if j == 1 else "not supported"}
    qa_edit(path, outcomes)
    result = sync_workbook(settings, store, today=FRIDAY)
    assert result.written and not result.problems, result.problems
    assert len(store.audit_records(action="qa_failed")) == sum(o["QA Result"] == "Fail" for o in outcomes.values())

    followups = {r["exception_id"]: r for r in stored(store).values() if r["bot"] == "quality"}
    for j, s in enumerate(sorted(store.qa_samples(), key=lambda s: s["sample_id"])):
        drawn_back = 7 * (j % WEEKS)
        reviewed_back = drawn_back if j % 2 else max(0, drawn_back - 7)  # reviewed the week drawn, or the next
        set_columns(store, "qa_samples", {"sample_id": s["sample_id"]}, sampled_at=_shift(s["sampled_at"], drawn_back),
                    synced_at=_shift(s["synced_at"], reviewed_back))
        if s["followup_id"]:
            row = followups[s["followup_id"]]
            set_columns(store, "exceptions", {"exception_id": row["exception_id"]},
                        first_seen=_shift(row["first_seen"], reviewed_back), last_seen=_shift(row["last_seen"], reviewed_back))


def week_of(ts: str | None, first: date) -> int | None:
    if not ts:
        return None
    i = (date.fromisoformat(ts[:10]) - first).days // 7
    return i if 0 <= i < WEEKS else None


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _report(store: Store, **kw: Any) -> tuple[Report, date]:
    today = utcnow().date()
    rep = build_report(store, today - timedelta(weeks=WEEKS - 1), today, "week", **kw)
    return rep, date.fromisoformat(rep.range_from)


@pytest.fixture
def history(settings: Settings, store: Store) -> None:
    sampled_history(settings, store)


def test_quality_figures_equal_an_independent_count_of_the_samples(settings: Settings, store: Store,
                                                                    history: None) -> None:
    rep, first = _report(store, quality_sampling=True)
    samples = store.qa_samples()
    rows = store.exception_rows()
    audit = store.audit_records()
    section = rep.section("quality")
    assert section.available and "qa_samples" in section.definition and "qa_sampled" in section.definition

    def reviewed(s: dict[str, Any]) -> bool:
        return s["bot_status"] == "Synced" and (s["qa_result"] or "").strip() in ("Pass", "Fail")

    def fail(s: dict[str, Any]) -> bool:
        return reviewed(s) and s["qa_result"].strip() == "Fail"

    in_range = [s for s in samples if reviewed(s) and week_of(s["synced_at"], first) is not None]
    # per period: drawn (per kind), reviewed, pass, fail, pass rate
    table = section.table("Per period")
    kinds = [c.removeprefix("Drawn: ") for c in table.columns if c.startswith("Drawn: ")]
    assert kinds == [*BOT_KINDS, "coder_resolution"]
    for i in range(WEEKS):
        drawn = [s for s in samples if week_of(s["sampled_at"], first) == i]
        done = [s for s in in_range if week_of(s["synced_at"], first) == i]
        passed = sum(1 for s in done if not fail(s))
        assert table.rows[i][1:] == [len(drawn), *(sum(1 for s in drawn if s["kind"] == k) for k in kinds),
                                     len(done), passed, len(done) - passed, pct(passed, len(done))], i
    assert all(table.column("Drawn")) and all(table.column("Reviewed"))  # every week has some of each
    # the same totals from the audit trail: one qa_sampled per sample, one qa_reviewed per Pass, qa_failed per Fail
    assert sum(table.column("Drawn")) == len(samples) == sum(1 for a in audit if a["action"] == "qa_sampled")
    assert sum(table.column("Pass")) == sum(1 for a in audit if a["action"] == "qa_reviewed")
    assert sum(table.column("Fail")) == sum(1 for a in audit if a["action"] == "qa_failed")
    by_kind = section.table("Per period and decision kind")
    for period, kind, drawn_n, reviewed_n, pass_n, fail_n, _rate in by_kind.rows:
        i = rep.periods.index(period)
        done = [s for s in in_range if s["kind"] == kind and week_of(s["synced_at"], first) == i]
        assert [drawn_n, reviewed_n, pass_n, fail_n] == [
            sum(1 for s in samples if s["kind"] == kind and week_of(s["sampled_at"], first) == i), len(done),
            sum(1 for s in done if not fail(s)), sum(1 for s in done if fail(s))]

    # findings by category (bot decisions, coder resolutions), by rule and version, by queue
    fails = [s for s in in_range if fail(s)]
    cats = {r[0]: r[1:] for r in section.table("Findings by category over the range").rows}
    assert cats == {c: [sum(1 for s in fails if s["finding_category"] == c and s["kind"] != "coder_resolution"),
                        sum(1 for s in fails if s["finding_category"] == c and s["kind"] == "coder_resolution"),
                        sum(1 for s in fails if s["finding_category"] == c)]
                    for c in {s["finding_category"] for s in fails}}
    assert set(cats) == set(CATEGORIES)
    per_rule = {tuple(r[:3]): r[3:5] for r in section.table("Bot decisions by rule and version over the range").rows}
    want: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for s in in_range:
        if s["kind"] != "coder_resolution":
            want[(s["kind"], s["rule_id"], s["rule_version"])][0] += 1
            want[(s["kind"], s["rule_id"], s["rule_version"])][1] += fail(s)
    assert per_rule == dict(want)
    assert {("portal_paid", "PORTAL-F1", "4"), ("portal_paid", "PORTAL-F1", "5")} <= set(per_rule)
    assert len({k for k in per_rule if k[0] == "claim_clean"}) == 2  # the two rule sets: two versions
    per_queue = {tuple(r[:2]): r[2:4] for r in
                 section.table("Coder resolutions by queue and review level over the range").rows}
    assert per_queue == {k: [sum(1 for s in in_range if s["kind"] == "coder_resolution"
                                 and (s["queue"], s["review_level"]) == k),
                             sum(1 for s in fails if s["kind"] == "coder_resolution" and (s["queue"], s["review_level"]) == k)]
                         for k in {(s["queue"], s["review_level"]) for s in in_range if s["kind"] == "coder_resolution"}}
    waiting = dict(map(tuple, section.table("Awaiting review now").rows))  # type: ignore[arg-type]
    assert waiting == dict(Counter(s["kind"] for s in samples if s["bot_status"] == "Open"))
    # no coder's name in the quality section: they are the training view's
    assert not any(name in json.dumps([t.rows for t in section.tables]) for name in CODERS)

    # rework: the rows the Fails opened, by First Seen
    table = rep.section("rework").table("Per period")
    for i in range(WEEKS):
        for column, rule in (("Failed QA (rework rows)", "QA-REWORK"), ("Overturned in QA", "QA-OVERTURNED")):
            assert table.column(column)[i] == sum(1 for r in rows if r["bot"] == "quality" and r["rule_id"] == rule
                                                   and week_of(r["first_seen"], first) == i), (i, column)
    assert sum(table.column("Failed QA (rework rows)")) == sum(1 for s in fails if s["kind"] == "coder_resolution") > 0
    assert sum(table.column("Overturned in QA")) == sum(1 for s in fails if s["kind"] != "coder_resolution") > 0

    # training view: per coder resolved rows, failed QA, rework rate, QA sampled / reviewed / fails, findings
    training = rep.section("training")
    failed_refs = {(s["item_ref"], s["decided_by"]) for s in samples if s["kind"] == "coder_resolution" and fail(s)}
    mine = [r for r in rows if (r["status"] or "").strip() == "Resolved" and r["queue"] != "Bot Failures"
            and week_of(r["coder_updated_at"], first) is not None]
    per_coder = {r[0]: r for r in training.table("Per coder").rows}
    assert set(per_coder) == CODERS
    for coder, (_c, n, _median, _p90, recurred, failed_qa, reworked, rate, drawn, done, fails_n, pass_rate, _top) \
            in per_coder.items():
        theirs = [r for r in mine if r["resolved_by"] == coder]
        qa_failed = sum(1 for r in theirs if (r["exception_id"], coder) in failed_refs)
        assert (n, recurred, failed_qa, reworked, rate) == (len(theirs), 0, qa_failed, qa_failed, pct(qa_failed, n))
        own = [s for s in samples if s["kind"] == "coder_resolution" and s["decided_by"] == coder]
        own_done = [s for s in own if reviewed(s) and week_of(s["synced_at"], first) is not None]
        own_fails = sum(1 for s in own_done if fail(s))
        assert (drawn, done, fails_n, pass_rate) == (
            sum(1 for s in own if week_of(s["sampled_at"], first) is not None), len(own_done), own_fails,
            pct(len(own_done) - own_fails, len(own_done))), coder
    assert sum(r[5] for r in per_coder.values()) > 0  # some coder's resolution failed QA
    findings = {(c, cat): n for c, cat, n in training.table("QA findings per coder and category").rows}
    assert findings == dict(Counter((s["decided_by"], s["finding_category"]) for s in fails
                                    if s["kind"] == "coder_resolution"))
    assert training.note == ""


def test_no_phi_or_coder_name_reaches_html_or_json_and_names_stay_in_the_training_view(
        settings: Settings, store: Store, history: None, tmp_path: Path) -> None:
    rep, _first = _report(store, quality_sampling=True)
    write_report(rep, tmp_path / "d.html", tmp_path / "d.json")
    texts = [(tmp_path / "d.html").read_text(), (tmp_path / "d.json").read_text()]
    for text in texts:
        for secret in (CANARY_NAME, CANARY_MEMBER, "DOE, JANE", "CLM-", "see chart of", "not supported"):
            assert secret not in text  # QA notes are free text: never read
        assert "Ana Ruiz" in text  # the training view names coders…
    named = [s.key for s in rep.sections if any(name in json.dumps([t.rows for t in s.tables]) for name in CODERS)]
    assert named == ["training"]  # …and only it
    off, _ = _report(store, quality_sampling=True, coder_names=False)
    write_report(off, tmp_path / "o.html", tmp_path / "o.json")
    for text in ((tmp_path / "o.html").read_text(), (tmp_path / "o.json").read_text()):
        assert not any(name in text for name in CODERS | {CANARY_NAME, "CLM-"})
    assert off.section("quality").available and "coder names are turned off" in off.section("quality").note


def test_without_quality_toml_or_samples_the_section_says_not_available_and_with_it_shows_zeros(
        settings: Settings, store: Store, tmp_path: Path) -> None:
    report(store, "run-1", [Finding("CLM-R1")])
    rep, _first = _report(store)
    assert not rep.section("quality").available
    assert rep.section("quality").note == "not available: quality sampling is not set up"
    assert rep.section("rework").note.endswith("Failed QA and overturned in QA: not available: quality sampling is "
                                               "not set up.")
    write_quality(settings)  # set up, nothing drawn yet: the CLI reads config/quality.toml
    out = tmp_path / "board.html"
    result = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                      "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    quality = next(s for s in json.loads(out.with_suffix(".json").read_text())["sections"] if s["key"] == "quality")
    assert quality["available"] and quality["note"].startswith("Quality sampling is set up")
    per_period = next(t for t in quality["tables"] if t["title"] == "Per period")
    assert all(r[1] == 0 and r[-1] is None for r in per_period["rows"])
