"""Quality sampling through the real workbook: a deterministic, re-derivable sample of every kind of
decision reaches a reviewer who did not make it, with its evidence, and a Fail opens exactly one
linked row that survives reruns (reopened with openpyxl, once saved through LibreOffice)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from openpyxl import load_workbook

from bots.core.errors import ConfigError
from bots.core.quality import is_sampled, load_quality, period_of, rederive, sample_hash
from bots.core.settings import Settings
from bots.core.store import AuditEntry, Store
from bots.core.workbook import sync_workbook
from office_helpers import save_through_libreoffice
from team_helpers import MONDAY, ROSTER, qa_edit, write_roster
from workbook_helpers import Finding, coder_edit, report, stored

QUINN = {"name": "Quinn Lee", "roles": ["qa"]}
CATEGORIES = ["Wrong resolution", "Rule misapplied"]
FRIDAY = MONDAY + timedelta(days=4)
REVIEWERS = {"Dee Marsh", "Eve Stone", "Quinn Lee"}  # the roster's qa and senior people


def write_quality(settings: Settings, **values: Any) -> Path:
    doc = {"finding_categories": CATEGORIES, "bot": {"claim_clean": 0.10, "portal_paid": 0.5, "status_applied": 0.5},
           "coder": {"rate": 1.0, "min_per_coder_per_week": 1}, **values}
    path = settings.config_file("quality.toml")
    path.write_bytes(tomli_w.dumps(doc).encode())
    return path


def _clean_claims(store: Store, n: int) -> None:
    """``n`` claims claim_edits passed clean over one week, recorded as the runner records them."""
    entries = []
    for i in range(n):
        ts = f"{MONDAY + timedelta(days=i % 5)}T10:{i % 60:02d}:00.000000"
        common = {"run_id": f"run-ce-{i % 5}", "bot": "claim_edits", "item_ref": f"acme:CLM-{i:04d}",
                  "claim_id": f"CLM-{i:04d}", "ts": ts}
        entries += [AuditEntry(action="rule_evaluated", result="pass", rule_id="NCCI-PTP", rule_version="3", **common),
                    AuditEntry(action="rule_evaluated", result="pass", rule_id="MUE", rule_version="2", **common),
                    AuditEntry(action="item_outcome", result="done", **common)]
    # payer_portal read two claims as paid as expected; status_sync wrote one billing status
    for i in range(2):
        common = {"run_id": "run-pp", "bot": "payer_portal", "item_ref": f"acme:CLM-P{i}", "claim_id": f"CLM-P{i}",
                  "ts": f"{MONDAY}T11:00:00.000000"}
        entries += [AuditEntry(action="status_read", result="F1", rule_id="PORTAL-F1", rule_version="4", **common),
                    AuditEntry(action="item_outcome", result="done", **common)]
    entries.append(AuditEntry(action="status_pushed", result="pushed", run_id="run-ss", bot="status_sync",
                              item_ref="acme:CLM-B1|Paid|", claim_id="CLM-B1", rule_id="STATUS-SYNC", rule_version="1",
                              ts=f"{MONDAY}T12:00:00.000000"))
    store.audit(entries)


def _qa_rows(path: Path) -> dict[str, dict[str, Any]]:
    ws = load_workbook(path)["Quality Review"]
    headers = [c.value for c in ws[1]]
    out = {}
    for values in ws.iter_rows(min_row=2, values_only=True):
        row = {h: v for h, v in zip(headers, values, strict=False) if v is not None}
        if row.get("Sample ID"):
            out[row["Sample ID"]] = row
    return out


def _linked(store: Store, sample: str) -> list[dict[str, Any]]:
    return [r for r in stored(store).values() if r["bot"] == "quality" and r["item_ref"] == sample]


def test_sampling_is_deterministic_rederivable_reviewed_by_someone_else_and_a_fail_opens_one_linked_row(
        settings: Settings, store: Store) -> None:
    write_roster(settings, [*ROSTER, QUINN])
    write_quality(settings)
    _clean_claims(store, 1000)
    report(store, "run-1", [Finding("CLM-R1", detail="r1"), Finding("CLM-R2", detail="r2"),
                            Finding("CLM-R3", detail="r3", review_level="Senior")])
    assert sync_workbook(settings, store, today=FRIDAY).written
    path = settings.workbook_path

    # 10% of 1,000 bot-closed items: 100 within sampling tolerance (3 sigma = 3 * sqrt(1000 * .1 * .9) ~ 28).
    samples = {s["sample_id"]: s for s in store.qa_samples()}
    clean = [s for s in samples.values() if s["kind"] == "claim_clean"]
    assert 72 <= len(clean) <= 128, len(clean)
    assert {s["kind"] for s in samples.values()} >= {"claim_clean"}
    # Identical when re-derived from the audit trail alone (the rule and the stored seed inputs).
    records = store.audit_records()
    config = load_quality(settings)
    assert config is not None
    sampled = [r for r in records if r["action"] == "qa_sampled"]
    bot_refs = {json.loads(r["detail"])["ref"] for r in sampled if json.loads(r["detail"])["kind"] != "coder_resolution"}
    assert bot_refs == rederive(records, config) and len(sampled) == len(samples)
    for r in sampled:
        d = json.loads(r["detail"])
        assert d["hash"] == f"{sample_hash(d['period'], d['kind'], d['ref']):064x}"
        assert d["reason"] == "minimum" or is_sampled(d["period"], d["kind"], d["ref"], d["rate"])
        assert d["period"] == period_of(MONDAY) == "2026-W48"
    # Every kind of bot decision reached the sheet with what, who (bot + rule/version) and evidence.
    shown = _qa_rows(path)
    assert set(shown) == set(samples)
    one = shown[clean[0]["sample_id"]]
    assert one["Decided By"] == "claim_edits" and one["Rule ID"] == "ALL-RULES-PASSED" and one["Rule Version"]
    assert "NCCI-PTP v3" in one["Evidence"] and "MUE v2" in one["Evidence"]
    portal = [s for s in samples.values() if s["kind"] == "portal_paid"]
    assert all(s["rule_id"] == "PORTAL-F1" and s["rule_version"] == "4" for s in portal)
    assert all(s["qa_reviewer"] in REVIEWERS for s in samples.values())  # qa or senior, balanced
    assert max(Counter(s["qa_reviewer"] for s in samples.values()).values()) - min(
        Counter(s["qa_reviewer"] for s in samples.values()).values()) <= 1
    # A rerun with nothing new samples nothing new.
    assert sync_workbook(settings, store, today=FRIDAY).written
    assert len(store.qa_samples()) == len(samples)

    # Coders resolve rows (Dee is a senior and a QA reviewer: never her own reviewer).
    ids = {r["claim_id"]: r["exception_id"] for r in stored(store).values() if r["bot"] == "claim_edits"}
    done = {"Status": "Resolved", "Resolution": "Corrected claim", "Resolution Note": "checked op note",
            "Resolved On": FRIDAY.isoformat()}
    coder_edit(path, "Claim Edits", {ids["CLM-R1"]: {**done, "Resolved By": "Ana Ruiz"},
                                     ids["CLM-R2"]: {**done, "Resolved By": "Cy Tran"},
                                     ids["CLM-R3"]: {**done, "Resolved By": "Dee Marsh"}})
    assert sync_workbook(settings, store, today=FRIDAY).written  # merges the resolutions
    assert sync_workbook(settings, store, today=FRIDAY).written  # samples them
    coder = {s["decided_by"]: s for s in store.qa_samples() if s["kind"] == "coder_resolution"}
    assert set(coder) == {"Ana Ruiz", "Cy Tran", "Dee Marsh"}
    assert coder["Dee Marsh"]["qa_reviewer"] in REVIEWERS - {"Dee Marsh"}
    assert all(s["qa_reviewer"] != s["decided_by"] for s in store.qa_samples())

    # The reviewers' entries: a Fail without category and note, a reviewer who decided, a good Fail.
    bad, good = clean[0]["sample_id"], clean[1]["sample_id"]
    rework = coder["Ana Ruiz"]["sample_id"]
    own = coder["Cy Tran"]["sample_id"]
    passed = coder["Dee Marsh"]["sample_id"]
    qa_edit(path, {bad: {"QA Result": "Fail"},
                   good: {"QA Result": "Fail", "Finding Category": "Rule misapplied", "QA Note": "59 not supported"},
                   rework: {"QA Result": "Fail", "Finding Category": "Wrong resolution", "QA Note": "needs void"},
                   own: {"QA Reviewer": "Cy Tran", "QA Result": "Pass"},
                   passed: {"QA Result": "Pass"}})
    save_through_libreoffice(path)  # a real spreadsheet client's save keeps the QA dropdowns
    saved = {dv.formula1 for dv in load_workbook(path)["Quality Review"].data_validations.dataValidation}
    assert {'"Pass,Fail"', "Lists!$B$2:$B$4", "Lists!$C$2:$C$3"} <= saved, saved
    result = sync_workbook(settings, store, today=FRIDAY)
    assert result.written and not result.problems, result.problems  # Lists and Quality Review read as ours
    now = {s["sample_id"]: s for s in store.qa_samples()}
    assert now[bad]["bot_check"].startswith("missing Finding Category and QA Note") and now[bad]["bot_status"] == "Open"
    assert not _linked(store, bad)
    assert "QA Reviewer 'Cy Tran' made this decision" in now[own]["bot_check"]
    assert now[passed]["bot_status"] == "Synced" and now[good]["bot_status"] == "Synced"
    overturned = _linked(store, good)
    assert len(overturned) == 1 and now[good]["followup_id"] == overturned[0]["exception_id"]
    assert overturned[0]["queue"] == "Claim Edits" and overturned[0]["rule_id"] == "QA-OVERTURNED"
    assert overturned[0]["rule_version"] == clean[1]["rule_version"] and overturned[0]["claim_id"] == clean[1]["claim_id"]
    assert good in overturned[0]["reason"] and "ALL-RULES-PASSED" in overturned[0]["reason"]
    redo = _linked(store, rework)
    assert len(redo) == 1 and redo[0]["rule_id"] == "QA-REWORK" and redo[0]["queue"] == "Claim Edits"
    assert redo[0]["assigned_to"] == "Ana Ruiz" and redo[0]["claim_id"] == "CLM-R1"
    original = stored(store)[ids["CLM-R1"]]  # the coder's cells as the coder left them
    assert (original["status"], original["resolution"], original["resolved_by"]) == (
        "Resolved", "Corrected claim", "Ana Ruiz")
    # The dropdowns and the follow-up rows are in the file.
    ws = load_workbook(path)["Quality Review"]
    formulas = {dv.formula1 for dv in ws.data_validations.dataValidation}
    assert {'"Pass,Fail"', "Lists!$B$2:$B$4", "Lists!$C$2:$C$3"} <= formulas, formulas
    shown = _qa_rows(path)
    assert shown[good]["Follow-up Row"] == overturned[0]["exception_id"] and shown[good]["Bot Status"] == "Synced"

    # Three reruns: still exactly one linked row each, and one qa_failed record each.
    for n in range(3):
        report(store, f"run-r{n}", [Finding("CLM-R1", detail="r1"), Finding("CLM-R2", detail="r2")])
        assert sync_workbook(settings, store, today=FRIDAY + timedelta(days=n)).written
        assert len(_linked(store, good)) == 1 and len(_linked(store, rework)) == 1
    failed = store.audit_records(action="qa_failed")
    assert sorted(r["item_ref"] for r in failed) == sorted([good, rework])
    assert json.loads(next(r for r in failed if r["item_ref"] == good)["detail"])["followup"] == overturned[0][
        "exception_id"]
    assert all(r["bot_status"] == "Open" for r in _linked(store, good) + _linked(store, rework))

    # The Summary: samples per kind, pass rate, open findings, fails counted against rule and version.
    summary = {r[0]: r for r in load_workbook(path)["Summary"].iter_rows(values_only=True) if r[0]}
    assert summary["claim_clean"][1] == len(clean)
    total = summary["All samples"]
    assert total[1:5] == (len(store.qa_samples()), 3, 1, 2) and abs(total[5] - 1 / 3) < 1e-9
    assert summary["Open QA findings"][1] == 2
    assert summary[f"QA fails: rule ALL-RULES-PASSED version {clean[1]['rule_version']}"][1] == 1
    assert summary["Unowned open rows"][1] == 0 and "Senior backlog by person" in summary


def test_a_bad_quality_file_names_file_key_and_value(settings: Settings) -> None:
    path = write_quality(settings, bot={"claim_clean": 1.5})
    with pytest.raises(ConfigError, match=r"quality.toml: key 'bot.claim_clean'.*1.5"):
        load_quality(settings)
    assert path.exists()


def test_without_quality_toml_nothing_is_sampled_and_there_is_no_review_sheet(settings: Settings,
                                                                              store: Store) -> None:
    _clean_claims(store, 50)
    report(store, "run-1", [Finding("CLM-R1")])
    assert sync_workbook(settings, store, today=date(2026, 11, 27)).written
    assert store.qa_samples() == [] and "Quality Review" not in load_workbook(settings.workbook_path).sheetnames


def test_each_coder_gets_the_weekly_minimum_by_lowest_hash_and_a_sample_id_moved_to_another_decision_is_held(
        settings: Settings, store: Store) -> None:
    write_roster(settings, [*ROSTER, QUINN])
    write_quality(settings, bot={"claim_clean": 0.0}, coder={"rate": 0.0, "min_per_coder_per_week": 2})
    report(store, "run-1", [Finding(f"CLM-M{n}", detail=f"m{n}") for n in range(5)])
    assert sync_workbook(settings, store, today=FRIDAY).written
    path = settings.workbook_path
    ids = {r["claim_id"]: r["exception_id"] for r in stored(store).values()}
    done = {"Status": "Resolved", "Resolution": "Corrected claim", "Resolution Note": "checked",
            "Resolved By": "Ana Ruiz", "Resolved On": FRIDAY.isoformat()}
    coder_edit(path, "Claim Edits", {ids[f"CLM-M{n}"]: done for n in range(5)})
    assert sync_workbook(settings, store, today=FRIDAY).written
    assert sync_workbook(settings, store, today=FRIDAY).written

    samples = store.qa_samples()
    assert len(samples) == 2 and {s["reason"] for s in samples} == {"minimum"}
    refs = sorted((f"{ids[f'CLM-M{n}']}|Ana Ruiz|{FRIDAY}" for n in range(5)),
                  key=lambda ref: sample_hash(period_of(FRIDAY), "coder_resolution", ref))
    assert sorted(s["decision_ref"] for s in samples) == sorted(refs[:2])  # the two lowest hashes
    assert all(s["qa_reviewer"] in REVIEWERS for s in samples)
    assert len(store.audit_records(action="qa_sampled")) == 2

    # A Sample ID typed beside another decision: nothing on that row is saved, the Bot Check says why.
    first, second = samples
    qa_edit(path, {first["sample_id"]: {"Decision Ref": second["decision_ref"], "QA Result": "Pass"}})
    assert sync_workbook(settings, store, today=FRIDAY).written
    held = {s["sample_id"]: s for s in store.qa_samples()}[first["sample_id"]]
    assert held["qa_result"] is None and held["bot_status"] == "Open"
    assert held["bot_check"].startswith(f"Sample ID {first['sample_id']} belongs to decision")
    assert _qa_rows(path)[first["sample_id"]]["Decision Ref"] == first["decision_ref"]  # put back by the write
