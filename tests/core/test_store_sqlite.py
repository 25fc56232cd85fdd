"""The store's named methods on a real SQLite file: what bots, the workbook and tests read and
write instead of the tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.core.claims import Claim, ServiceLine
from bots.core.errors import ExceptionRecord
from bots.core.store import AuditEntry, ItemState, RunStatus, Store, WorkItemSpec, exception_fingerprint
from store_helpers import set_columns


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.close()


def _claim(claim_id: str, payer: str = "acme", *, submitted: str = "", codes: tuple[str, ...] = ("99214",)) -> Claim:
    lines = [ServiceLine(line_no=n, procedure_code=code, units=n, charge=100.0 + n, modifiers=["25"] if n == 1 else [],
                         diagnosis_pointers=[1, 2], date_of_service="2026-10-14", note_id=f"N{n}",
                         note_signed=n % 2 == 1, note_date="2026-10-15", time_minutes=30, source_row=n + 1)
             for n, code in enumerate(codes, start=1)]
    return Claim(claim_id=claim_id, payer_id=payer, member_id="M1", patient_name="DOE, JANE", patient_dob="1980-01-02",
                 date_of_service="2026-10-14", provider_npi="1234567893", diagnosis_codes=["E11.9", "I10"],
                 lines=lines, prior_auth_number="PA-1", submitted_date=submitted, expected_amount=95.5,
                 source_file="wl.csv", source_row=2)


def _save(store: Store, *claims: Claim, digest: str = "d1") -> None:
    with store.begin() as conn:
        store.save_claims(conn, [(c, f"{digest}-{c.claim_id}") for c in claims], "2026-11-01T00:00:00")


def test_claims_round_trip_with_their_lines_in_order(db: Store) -> None:
    original = _claim("CLM-1", codes=("20610", "99214", "36415"))
    _save(db, original, _claim("CLM-2", "beacon"))
    loaded = db.load_claims(["acme:CLM-1", "beacon:CLM-2", "acme:NOPE"])
    assert set(loaded) == {"acme:CLM-1", "beacon:CLM-2"}
    assert loaded["acme:CLM-1"] == original
    assert [ln.procedure_code for ln in loaded["acme:CLM-1"].lines] == ["20610", "99214", "36415"]
    assert loaded["acme:CLM-1"].lines[0].note_signed and not loaded["acme:CLM-1"].lines[1].note_signed
    # Saving again replaces the claim and its lines, not adds to them.
    _save(db, _claim("CLM-1", codes=("99213",)), digest="d2")
    again = db.load_claims(["acme:CLM-1"])["acme:CLM-1"]
    assert [ln.procedure_code for ln in again.lines] == ["99213"]
    assert db.claim_digests(["acme:CLM-1", "beacon:CLM-2", "acme:NOPE"]) == {
        "acme:CLM-1": "d2-CLM-1", "beacon:CLM-2": "d1-CLM-2"}


def test_claim_keys_for_ids_reads_more_than_one_chunk(db: Store) -> None:
    _save(db, *(_claim(f"CLM-{i:04d}") for i in range(600)), _claim("CLM-0001", "beacon"))
    keys = db.claim_keys_for_ids([f"CLM-{i:04d}" for i in range(0, 600, 2)] + ["CLM-0001", "CLM-UNKNOWN"])
    assert len(keys) == len(set(keys)) == 302  # every even id, and CLM-0001 at both payers
    assert set(keys) >= {"acme:CLM-0000", "acme:CLM-0001", "beacon:CLM-0001", "acme:CLM-0598"}
    assert "acme:CLM-0003" not in keys


def test_claim_selections_for_the_bots(db: Store) -> None:
    _save(db, _claim("CLM-NEW"), _claim("CLM-OLD", submitted="2026-10-01"), _claim("CLM-RECENT", submitted="2026-10-30"),
          _claim("CLM-FINAL", submitted="2026-09-01"), _claim("CLM-CHECKED", submitted="2026-09-15"))
    set_columns(db, "claims", {"claim_id": "CLM-FINAL"}, final=True)
    set_columns(db, "claims", {"claim_id": "CLM-CHECKED"}, status_checked_at="2026-10-31T00:00:00")
    assert db.unsubmitted_claims() == [("acme:CLM-NEW", "d1-CLM-NEW", "2026-10-14")]
    due = db.claims_due_for_status(submitted_by="2026-10-20", checked_by="2026-10-25T00:00:00")
    assert due == [("acme:CLM-OLD", "d1-CLM-OLD", "2026-10-01")]
    named = db.claims_due_for_status(submitted_by="2026-10-20", checked_by="2026-10-25T00:00:00",
                                     also=["acme:CLM-RECENT", "acme:CLM-FINAL", "acme:CLM-CHECKED"])
    assert [k for k, _, _ in named] == ["acme:CLM-CHECKED", "acme:CLM-OLD", "acme:CLM-RECENT"]  # oldest first
    rows = {r["claim_id"]: r for r in db.claim_rows()}
    assert rows["CLM-FINAL"]["final"] is True and rows["CLM-OLD"]["final"] is False
    assert rows["CLM-OLD"]["total_charge"] == 101.0 and rows["CLM-NEW"]["submitted_date"] is None


def test_denial_counts_per_payer_and_code(db: Store) -> None:
    _save(db, *(_claim(f"DEN-{i}", codes=("99214", "36415")) for i in range(3)), _claim("DEN-B", "beacon"),
          _claim("OLD-1"))
    for claim_id in ("DEN-0", "DEN-1", "DEN-2", "DEN-B"):
        set_columns(db, "claims", {"claim_id": claim_id}, status_category="F2", status_checked_at="2026-11-10T00:00:00")
    set_columns(db, "claims", {"claim_id": "OLD-1"}, status_category="F2", status_checked_at="2026-01-01T00:00:00")
    assert db.denial_counts(since="2026-11-01T00:00:00", min_denials=2) == {("acme", "99214"): 3, ("acme", "36415"): 3}
    assert db.denial_counts(since="2025-01-01T00:00:00", min_denials=1)[("acme", "99214")] == 4


def test_work_items_list_by_bot_claim_reference_and_state(db: Store) -> None:
    db.enqueue("payer_portal", [WorkItemSpec(reference=f"acme:CLM-{i}", claim_key=f"acme:CLM-{i}", digest="d",
                                             payload={"n": i}, sort_key=f"2026-10-{i + 1:02d}") for i in range(3)])
    db.enqueue("status_sync", [WorkItemSpec(reference="acme:CLM-1|Paid|", claim_key="acme:CLM-1")])
    items = db.claim_items("payer_portal", "run-1", limit=1, lease_seconds=60)
    with db.begin() as conn:
        db.set_item_state(conn, items[0], ItemState.DONE, result={"result": "read"})
    listed = db.work_items("payer_portal")
    assert [i["reference"] for i in listed] == ["acme:CLM-0", "acme:CLM-1", "acme:CLM-2"]
    assert listed[0]["state"] == ItemState.DONE and listed[0]["result"] == {"result": "read"}
    assert listed[1]["payload"] == {"n": 1} and listed[1]["result"] is None
    assert [i["bot"] for i in db.work_items(claim_key="acme:CLM-1")] == ["payer_portal", "status_sync"]
    assert [i["reference"] for i in db.work_items("payer_portal", states=ItemState.CLAIMABLE)] == [
        "acme:CLM-1", "acme:CLM-2"]
    refs = [f"acme:CLM-{i}" for i in range(3)] + [f"acme:MISSING-{i}" for i in range(700)]
    with db.begin() as conn:  # inside a write transaction, over more than one chunk of references
        done = db.work_items("payer_portal", references=refs, states=(ItemState.DONE,), conn=conn)
    assert [i["reference"] for i in done] == ["acme:CLM-0"]


def _record(store: Store, item_ref: str, *records: ExceptionRecord, bot: str = "payer_portal") -> list[str]:
    claim = {"claim_id": item_ref.split(":")[1], "payer_id": "acme", "patient_name": "DOE, JANE",
             "date_of_service": "2026-10-14", "total_charge": 145.0}
    with store.begin() as conn:
        return store.record_exceptions(conn, bot=bot, item_ref=item_ref, run_id="run-1", records=list(records),
                                       claim=claim)


def test_exception_rows_filters_counts_and_the_workbook_mirror(db: Store) -> None:
    (denied,) = _record(db, "acme:CLM-1", ExceptionRecord(queue="Denials", rule_id="PORTAL-DENIED", reason="denied",
                                                           detail="CARC CO-97"))
    (variance,) = _record(db, "acme:CLM-2", ExceptionRecord(queue="Payment Variances", rule_id="PORTAL-VARIANCE",
                                                             reason="short"))
    _record(db, "acme:CLM-3", ExceptionRecord(queue="Denials", rule_id="PORTAL-DENIED", reason="gone"))
    _record(db, "acme:CLM-3")  # no longer found: Cleared
    rows = {r["exception_id"]: r for r in db.exception_rows("payer_portal")}
    assert len(rows) == 3 and rows[denied]["patient"] == "DOE, JANE" and rows[denied]["amount"] == 145.0
    assert [r["exception_id"] for r in db.exception_rows(queue="Denials", bot_status="Open")] == [denied]
    assert [r["claim_id"] for r in db.exception_rows(claim_ids=["CLM-2", "CLM-9"])] == ["CLM-2"]
    assert db.exception_rows(seen_since="2999-01-01T00:00:00") == [] and db.exception_rows("claim_edits") == []
    assert db.exception_counts("queue", bot_status="Open") == {"Denials": 1, "Payment Variances": 1}
    assert db.exception_counts("bot_status") == {"Open": 2, "Cleared": 1}

    # The workbook shows every row as it is now: nothing pending, until a coder edit or a Bot Check.
    assert db.unwritten_count() == 3
    shown = {r["exception_id"]: exception_fingerprint(r) for r in db.exception_rows()}
    assert db.mark_written(shown, "2026-11-02T00:00:00") == 0 and db.unwritten_count() == 0
    with db.begin() as conn:
        db.save_coder_edits(conn, [{"exception_id": denied, "assigned_to": "jlee", "status": "In Progress",
                                    "coder_updated_at": "2026-11-03T00:00:00", "bot_check": None}])
        db.set_bot_checks(conn, {variance: "missing Resolution"})
    after = {r["exception_id"]: r for r in db.exception_rows()}
    assert (after[denied]["assigned_to"], after[denied]["status"]) == ("jlee", "In Progress")
    assert after[denied]["written_at"] is None and after[variance]["bot_check"] == "missing Resolution"
    assert db.unwritten_count() == 2
    assert db.bot_check_rows() == [{"exception_id": variance, "queue": "Payment Variances",
                                    "bot_check": "missing Resolution"}]
    # A row that changed after it was rendered stays pending.
    stale = {denied: shown[denied], variance: exception_fingerprint(after[variance])}
    assert db.mark_written(stale, "2026-11-04T00:00:00") == 1


def test_run_history_and_audit_records(db: Store) -> None:
    first = db.start_run("claim_edits")
    db.finish_run(first, status=RunStatus.SUCCEEDED, counts={"items": 4, "done": 3, "exceptions": 1})
    skipped = db.record_run_event("claim_edits", RunStatus.SKIPPED, "previous run still going")
    db.start_run("payer_portal")
    runs = db.list_runs("claim_edits")
    assert {r["run_id"] for r in runs} == {first, skipped}
    kept = db.list_runs("claim_edits", exclude_statuses=(RunStatus.SKIPPED,))
    assert [(r["run_id"], r["items"], r["done"], r["exceptions"]) for r in kept] == [(first, 4, 3, 1)]

    db.audit([AuditEntry(action="status_read", result="F1", bot="payer_portal", claim_id="CLM-1", item_ref="acme:CLM-1"),
              AuditEntry(action="status_read", result="F2", bot="payer_portal", claim_id="CLM-2", item_ref="acme:CLM-2"),
              AuditEntry(action="rule_evaluated", result="pass", bot="claim_edits", claim_id="CLM-1",
                         detail={"table": "2026Q4"})])
    reads = db.audit_records(action="status_read")
    assert [(r["seq"], r["claim_id"], r["result"]) for r in reads] == [(1, "CLM-1", "F1"), (2, "CLM-2", "F2")]
    mine = db.audit_records(claim_id="CLM-1", bot="claim_edits")
    assert len(mine) == 1 and mine[0]["detail"] == '{"table":"2026Q4"}' and mine[0]["prev_hash"] == reads[1]["hash"]


def test_a_database_from_an_earlier_release_gains_new_columns(tmp_path: Path) -> None:
    """Opening an older bots.db adds columns introduced since (create_all only adds tables)."""
    import sqlite3

    path = tmp_path / "old.db"
    Store(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as raw:
        raw.execute("ALTER TABLE runs DROP COLUMN carried_over")  # as the previous release created it
        assert "carried_over" not in {r[1] for r in raw.execute("PRAGMA table_info(runs)")}
    store = Store(f"sqlite:///{path}")
    try:
        run_id = store.start_run("claim_edits")
        store.finish_run(run_id, status=RunStatus.SUCCEEDED, counts={"items": 5, "done": 2, "retried": 3})
        (run,) = store.list_runs("claim_edits")
        assert (run["items"], run["done"], run["carried_over"]) == (5, 2, 3)
    finally:
        store.close()


def test_a_database_from_an_earlier_release_gains_new_indexes(tmp_path: Path) -> None:
    """Opening an older bots.db builds the indexes added since (one claim's items, the live rows),
    and opening a current one again changes nothing."""
    import sqlite3

    path = tmp_path / "old.db"
    Store(f"sqlite:///{path}").close()

    def indexes() -> set[str]:
        with sqlite3.connect(path) as raw:
            return {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}

    current = indexes()
    assert {"ix_work_items_claim_key", "ix_exceptions_archived"} <= current
    with sqlite3.connect(path) as raw:  # as the previous release created it
        raw.execute("DROP INDEX ix_work_items_claim_key")
        raw.execute("DROP INDEX ix_exceptions_archived")
    Store(f"sqlite:///{path}").close()
    assert indexes() == current
    with sqlite3.connect(path) as raw:
        plan = " ".join(r[3] for r in raw.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM work_items WHERE bot = 'status_sync' AND claim_key = 'acme:CLM-1'"))
    assert "ix_work_items_claim_key" in plan, "one claim's items are found by the index, not a scan"
