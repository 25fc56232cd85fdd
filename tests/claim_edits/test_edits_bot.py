"""The claim_edits bot through the real runner and a real SQLite store."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from config_helpers import edit_toml
from bots.claim_edits import create_bot
from bots.claim_edits.config import load_rules
from bots.claim_edits.importer import active_versions, import_tables
from bots.claim_edits.reference import EditTableReplaced
from bots.core.errors import ConfigError
from bots.core.runner import RunContext, run_bot
from bots.core.settings import Settings
from bots.core.store import Store
from bots.core.store.audit import RULE_EVALUATED, RULES_EVALUATED, decisions
from bots.core.worklist import load_worklist
from claim_edits.edits_helpers import GOOD_ROW, write_ptp, write_worklist

RULES = 13


@pytest.fixture
def payer(settings: Settings) -> str:
    folder = settings.config_dir / "payers"
    folder.mkdir(exist_ok=True)
    (folder / "testpayer.toml").write_text('display_name = "Test payer"\nprior_auth_codes = ["72148"]\n')
    return "testpayer"


def messy_claim() -> list[dict[str, str]]:
    """One claim that breaks five rules: CODE-MOD25, NCCI-PTP (20610/99214), DOC-NOTE-SIGNED, MUE, CODE-NPI."""
    return [
        {**GOOD_ROW, "claim_id": "CLM-MESSY", "procedure_code": "99214", "note_signed": "N",
         "provider_npi": "1234567890"},
        {**GOOD_ROW, "claim_id": "CLM-MESSY", "line_no": "2", "procedure_code": "20610", "units": "2",
         "note_id": "N-2", "provider_npi": "1234567890"},
    ]


def clean_claim(claim_id: str = "CLM-CLEAN") -> list[dict[str, str]]:
    return [{**GOOD_ROW, "claim_id": claim_id}]


def scan(settings: Settings, store: Store, rows: list[dict[str, str]], tmp_path: Path, name: str = "wl.csv"):
    load_worklist(store, write_worklist(tmp_path / name, rows))
    result = run_bot(create_bot(settings), settings, store, write_workbook=False)
    assert result.ok, result.message
    return result


def open_exceptions(store: Store, claim_id: str) -> list[tuple[str, str, int]]:
    return sorted((r["rule_id"], r["review_level"], r["times_seen"])
                  for r in store.exception_rows(claim_ids=[claim_id], bot_status="Open"))


def test_claim_hitting_several_rules_gets_one_exception_per_rule_not_per_run(
        settings: Settings, store: Store, payer: str, tmp_path: Path) -> None:
    first = scan(settings, store, messy_claim(), tmp_path)
    assert first.counts["exceptions"] == 1
    expected = ["CODE-MOD25", "CODE-NPI", "DOC-NOTE-SIGNED", "MUE", "NCCI-PTP"]
    assert [r for r, _, _ in open_exceptions(store, "CLM-MESSY")] == expected

    again = run_bot(create_bot(settings), settings, store, write_workbook=False)
    assert again.counts["items"] == 0, "an unchanged claim is not scanned again"
    # A reload that changes the claim (the expected amount) rescans it: same findings, same rows.
    rows = [{**r, "expected_amount": "99.00"} for r in messy_claim()]
    third = scan(settings, store, rows, tmp_path, "wl2.csv")
    assert third.counts["items"] == 1
    after = open_exceptions(store, "CLM-MESSY")
    assert [r for r, _, _ in after] == expected
    assert {t for _, _, t in after} == {2}, "the rerun updated Times Seen on the same rows"
    assert len(store.exception_rows()) == len(expected)


def test_exception_reasons_name_the_line_codes_and_next_step(
        settings: Settings, store: Store, payer: str, tmp_path: Path) -> None:
    scan(settings, store, messy_claim(), tmp_path)
    rows = {r["rule_id"]: r for r in store.exception_rows(claim_ids=["CLM-MESSY"])}
    ncci = rows["NCCI-PTP"]
    assert ncci["queue"] == "Claim Edits" and ncci["line_no"] == 1 and ncci["rule_version"] == "1"
    assert "column 2 code 99214 is bundled into column 1 code 20610" in ncci["reason"]
    assert "add modifier 25 to line 1" in ncci["reason"] and "ncci_ptp_sample.txt" in ncci["evidence"]
    assert rows["DOC-NOTE-SIGNED"]["queue"] == "Documentation Requests"
    assert rows["CODE-MOD25"]["queue"] == "Coding Queries"
    assert rows["MUE"]["line_no"] == 2 and "reduce to 1" in rows["MUE"]["reason"]
    assert ncci["payer_id"] == "testpayer" and ncci["dos"] == "2026-10-14" and ncci["amount"] == 290.0


def test_clean_claim_queues_ready_to_submit_for_status_sync(
        settings: Settings, store: Store, payer: str, tmp_path: Path) -> None:
    result = scan(settings, store, clean_claim(), tmp_path)
    assert result.counts["done"] == 1 and result.counts["exceptions"] == 0
    queued = store.work_items("status_sync")
    ref, body, state = queued[0]["reference"], queued[0]["payload"], queued[0]["state"]
    assert len(queued) == 1 and state == "new" and ref.startswith("testpayer:CLM-CLEAN|Ready to submit|")
    assert body["status"] == "Ready to submit" and body["source_bot"] == "claim_edits"
    assert "13 rules passed" in body["note"]


def test_every_rule_evaluation_is_audited_in_one_record_per_claim_and_the_chain_verifies(
        settings: Settings, store: Store, payer: str, tmp_path: Path) -> None:
    scan(settings, store, clean_claim() + messy_claim(), tmp_path)
    assert store.verify_audit() == []
    digests = {r["claim_id"]: r["digest"] for r in store.claim_rows()}
    records = store.audit_records(action=RULES_EVALUATED)
    assert sorted(r["claim_id"] for r in records) == ["CLM-CLEAN", "CLM-MESSY"]
    assert store.audit_records(action=RULE_EVALUATED) == [], "no per-rule records any more"
    trail = [d for r in records for d in decisions(r)]
    assert len(trail) == 2 * RULES
    for claim_id in ("CLM-CLEAN", "CLM-MESSY"):
        mine = [r for r in trail if r["claim_id"] == claim_id]
        assert len({r["rule_id"] for r in mine}) == RULES
        assert {r["input_digest"] for r in mine} == {digests[claim_id]}
        assert {r["rule_version"] for r in mine} == {"1"}
    labels = {k: label for k, (_vid, label) in active_versions(store).items()}
    details = {(r["claim_id"], r["rule_id"]): json.loads(r["detail"]) if r["detail"] else None for r in trail}
    assert details[("CLM-CLEAN", "NCCI-PTP")] == {"table": labels["ptp"]}
    assert details[("CLM-CLEAN", "MUE")] == {"table": labels["mue"]}
    messy = details[("CLM-MESSY", "NCCI-PTP")]
    assert messy["table"] == labels["ptp"] and messy["failed_lines"] == [1] and messy["lines"] == [1, 2]
    results = {(r["claim_id"], r["rule_id"]): r["result"] for r in trail}
    assert results[("CLM-MESSY", "MUE")] == "fail" and results[("CLM-CLEAN", "MUE")] == "pass"
    assert {r["claim_id"]: r["result"] for r in records} == {"CLM-CLEAN": "pass", "CLM-MESSY": "fail"}
    assert all(r["tables"] == labels for r in trail), "each decision names the edit-table versions"


def test_corrected_and_reloaded_claim_is_rescanned_and_its_exceptions_cleared(
        settings: Settings, store: Store, payer: str, tmp_path: Path) -> None:
    scan(settings, store, messy_claim(), tmp_path)
    fixed = [{**r, "note_signed": "Y", "provider_npi": "1234567893", "units": "1"} for r in messy_claim()]
    fixed[0]["modifiers"] = "25"
    scan(settings, store, fixed, tmp_path, "fixed.csv")
    status = {r["rule_id"]: r["bot_status"] for r in store.exception_rows()}
    # Modifier 25 bypasses the 20610/99214 edit: it stays, now for senior review; the rest cleared.
    assert status == {"CODE-MOD25": "Cleared", "CODE-NPI": "Cleared", "DOC-NOTE-SIGNED": "Cleared",
                      "MUE": "Cleared", "NCCI-PTP": "Open"}
    assert open_exceptions(store, "CLM-MESSY") == [("NCCI-PTP", "Senior", 2)]


def test_submitted_claims_are_not_scanned(settings: Settings, store: Store, payer: str, tmp_path: Path) -> None:
    rows = clean_claim("CLM-SENT")
    rows[0]["submitted_date"] = "2026-10-16"
    result = scan(settings, store, rows + clean_claim("CLM-NEW"), tmp_path)
    assert result.counts["items"] == 1
    refs = [r["reference"] for r in store.work_items("claim_edits")]
    assert refs == ["testpayer:CLM-NEW"]


def test_references_for_claims_are_claim_keys(settings: Settings, store: Store, tmp_path: Path) -> None:
    load_worklist(store, write_worklist(tmp_path / "wl.csv", clean_claim("CLM-A") + clean_claim("CLM-B")))
    refs = create_bot(settings).references_for_claims(store, {"CLM-A"})
    assert refs == ["testpayer:CLM-A"]


def test_sample_tables_load_on_first_run(settings: Settings, store: Store, payer: str, tmp_path: Path) -> None:
    assert active_versions(store) == {}
    scan(settings, store, clean_claim(), tmp_path)
    labels = {k: label for k, (_v, label) in active_versions(store).items()}
    assert labels["ptp"].startswith("ncci_ptp_sample.txt sha256:") and labels["mue"].startswith("mue_sample.txt")


def test_bad_rules_config_fails_the_run_naming_file_and_key(
        settings: Settings, store: Store, payer: str, tmp_path: Path) -> None:
    path = settings.config_dir / "rules" / "claim_edits.toml"
    edit_toml(path, lambda doc: doc["rules"]["CODE-DX-POINTER"]["params"].update(max_pointers="four"))
    load_worklist(store, write_worklist(tmp_path / "wl.csv", clean_claim()))
    result = run_bot(create_bot(settings), settings, store, write_workbook=False)
    assert result.status == "failed"
    assert "claim_edits.toml: key 'rules.CODE-DX-POINTER.params.max_pointers'" in result.message
    edit_toml(path, lambda doc: doc["rules"].__setitem__("NO-SUCH-RULE", doc["rules"].pop("MUE")))
    from bots.claim_edits.config import load_rules
    with pytest.raises(ConfigError, match="key 'rules'.*unknown rule 'NO-SUCH-RULE'"):
        load_rules(path)


def test_table_replaced_mid_run_is_a_system_fault_retried_next_run(
        settings: Settings, store: Store, payer: str, tmp_path: Path) -> None:
    load_worklist(store, write_worklist(tmp_path / "wl.csv", messy_claim()))
    bot = create_bot(settings)
    run = RunContext(settings, store, bot.name, "run-x", None, threading.Event(), {})
    bot.enqueue(run)
    with bot.session(run) as session:
        import_tables(store, [write_ptp(tmp_path / "new.txt", [("20610", "99214", "20100101", "*", "0")])])
        claim = run.claim("testpayer:CLM-MESSY")
        assert claim is not None
        with pytest.raises(EditTableReplaced):
            session.engine.evaluate(claim)


def test_a_run_with_only_submitted_claims_says_that_only_unsubmitted_claims_are_scanned(
        settings: Settings, store: Store, payer: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bots.cli.app import app

    rows = [{**GOOD_ROW, "claim_id": f"CLM-S{n:02d}", "submitted_date": "2026-10-16"} for n in range(10)]
    load_worklist(store, write_worklist(tmp_path / "sent.csv", rows))
    out = CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir),
                                   "run", "claim_edits"])
    assert out.exit_code == 0, out.output
    assert "items 0" in out.output
    assert "10 loaded claim(s) are already submitted; claim_edits scans claims before submission" in out.output
    # a run that did scan something says nothing of the kind
    result = scan(settings, store, clean_claim("CLM-NEW"), tmp_path, "new.csv")
    assert result.counts["items"] == 1 and "already submitted" not in result.message


# ---- the per-claim audit record through the command line (issue 18 item 2) ----

def _cli(settings: Settings, *args: str):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from bots.cli.app import app

    return CliRunner().invoke(app, ["--home", str(settings.home), "--config-dir", str(settings.config_dir), *args])


def _flat(text: str) -> str:
    """The CLI's text with rich's line wrapping undone (it wraps long lines at spaces)."""
    return " ".join(text.split())


def _cli_scan(settings: Settings, tmp_path: Path) -> None:
    wl = write_worklist(tmp_path / "wl.csv", clean_claim() + messy_claim() + clean_claim("CLM-OTHER"))
    out = _cli(settings, "run", "claim_edits", "--worklist", str(wl))
    assert out.exit_code == 0, out.output
    assert "items 3" in out.output


def _rules_record(settings: Settings, claim_id: str) -> int:
    with sqlite3.connect(settings.home / "bots.db") as c:
        (seq,) = c.execute("select seq from audit where action = ? and claim_id = ?",
                           (RULES_EVALUATED, claim_id)).fetchone()
    return int(seq)


def test_audit_show_prints_every_rule_decision_of_a_scanned_claim_with_its_version(
        settings: Settings, payer: str, tmp_path: Path) -> None:
    _cli_scan(settings, tmp_path)
    out = _cli(settings, "audit", "show", "CLM-MESSY")
    assert out.exit_code == 0, out.output
    shown = _flat(out.output)
    _config, rules = load_rules(settings.config_dir / "rules" / "claim_edits.toml")
    assert len(rules) == RULES
    failing = {"CODE-MOD25", "CODE-NPI", "DOC-NOTE-SIGNED", "MUE", "NCCI-PTP"}
    for r in rules:
        assert f"{r.rule_id} v{r.version} -> {'fail' if r.rule_id in failing else 'pass'}" in shown, r.rule_id
    store = Store(settings.db_url)
    try:
        digest = {r["claim_id"]: r["digest"] for r in store.claim_rows()}["CLM-MESSY"]
        labels = {k: label for k, (_v, label) in active_versions(store).items()}
    finally:
        store.close()
    seq = _rules_record(settings, "CLM-MESSY")
    assert f"#{seq} " in shown and f"{RULES} rules; input {digest}" in shown
    assert f"mue {labels['mue']}; ptp {labels['ptp']}" in shown, "the edit-table versions the claim was checked against"
    assert "item_outcome -> exception" in shown
    as_json = [json.loads(ln) for ln in _cli(settings, "audit", "show", "CLM-MESSY", "--json").output.splitlines()]
    per_rule = [d for d in as_json if d["action"] == RULE_EVALUATED]
    assert [(d["rule_id"], d["rule_version"]) for d in per_rule] == [(r.rule_id, r.version) for r in rules]
    assert {d["seq"] for d in per_rule} == {seq} and {d["input_digest"] for d in per_rule} == {digest}


def test_verify_names_an_edited_per_claim_record(settings: Settings, payer: str, tmp_path: Path) -> None:
    _cli_scan(settings, tmp_path)
    assert _cli(settings, "audit", "verify").exit_code == 0
    seq = _rules_record(settings, "CLM-MESSY")
    with sqlite3.connect(settings.home / "bots.db") as c:  # turn the MUE verdict from fail to pass
        changed = c.execute("update audit set detail = replace(detail, ?, ?) where seq = ?",
                            ('"result":"fail","rule":"MUE"', '"result":"pass","rule":"MUE"', seq)).rowcount
        assert changed == 1 and '"result":"pass","rule":"MUE"' in c.execute(
            "select detail from audit where seq = ?", (seq,)).fetchone()[0]
    out = _cli(settings, "audit", "verify")
    assert out.exit_code == 1
    shown = _flat(out.output)
    assert f"record {seq} (rules_evaluated testpayer:CLM-MESSY)" in shown and "edited after it was written" in shown


def test_verify_names_a_deleted_per_claim_record(settings: Settings, payer: str, tmp_path: Path) -> None:
    _cli_scan(settings, tmp_path)
    seq = _rules_record(settings, "CLM-CLEAN")
    with sqlite3.connect(settings.home / "bots.db") as c:
        c.execute("delete from audit where seq = ?", (seq,))
    out = _cli(settings, "audit", "verify")
    assert out.exit_code == 1
    assert f"record {seq} deleted" in _flat(out.output)


def test_a_scan_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    from bots.claim_edits.scan_gc import scan_gc

    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    with scan_gc():
        assert gc.get_threshold()[0] >= 20_000 and gc.get_freeze_count() > frozen
        with scan_gc():  # a second run in the same process (the scheduler) overlapping the first
            pass
        assert gc.get_threshold()[0] >= 20_000, "the inner run's end does not undo the outer run's settings"
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
