"""The store's tables. Only the store package imports them: bots and the workbook call the
store's named methods (``bots.core.store.Store``), never a table.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint, text,
)

from bots.core.lifecycle import ItemState, RowState

__all__ = ["appeals", "audit", "audit_head", "claims", "exceptions", "meta", "metadata", "qa_samples", "runs", "service_lines",
           "signin_blocks", "work_items"]

metadata = MetaData()


claims = Table(
    "claims", metadata,
    Column("claim_key", String(120), primary_key=True),  # payer_id:claim_id
    Column("claim_id", String(60), nullable=False, index=True),
    Column("payer_id", String(60), nullable=False),
    Column("member_id", String(60)),
    Column("patient_name", String(200)),
    Column("patient_dob", String(10)),
    Column("date_of_service", String(10)),
    Column("provider_npi", String(10)),
    Column("diagnosis_codes", Text),
    Column("prior_auth_number", String(60)),
    Column("submitted_date", String(10)),
    Column("expected_amount", Float),
    Column("total_charge", Float),
    Column("digest", String(64), nullable=False),
    Column("source_file", Text),
    Column("source_row", Integer),
    Column("loaded_at", String(32)),
    Column("status_category", String(8)),
    Column("status_word", String(120)),
    Column("status_checked_at", String(32)),
    Column("paid_amount", Float),
    Column("final", Boolean, nullable=False, default=False),
)

service_lines = Table(
    "service_lines", metadata,
    Column("claim_key", String(120), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("date_of_service", String(10)),
    Column("procedure_code", String(10)),
    Column("modifiers", String(60)),
    Column("units", Integer),
    Column("charge", Float),
    Column("diagnosis_pointers", String(60)),
    Column("note_id", String(60)),
    Column("note_signed", String(1)),
    Column("note_date", String(10)),
    Column("time_minutes", Integer),
    Column("source_row", Integer),
)

work_items = Table(
    "work_items", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("bot", String(40), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("claim_key", String(120)),
    Column("payload", Text, nullable=False, default="{}"),
    Column("digest", String(64), nullable=False, default=""),
    Column("sort_key", String(60), nullable=False, default=""),
    Column("state", String(20), nullable=False, default=ItemState.NEW),
    Column("attempts", Integer, nullable=False, default=0),
    Column("not_before", String(32)),
    Column("lease_owner", String(80)),
    Column("lease_expires", String(32)),
    Column("last_run", String(80)),  # a run never takes the same item twice
    Column("last_error", Text),
    Column("last_error_type", String(80)),
    Column("result", Text),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("cycles", Integer, nullable=False, default=1),
    UniqueConstraint("bot", "reference", name="uq_work_items_bot_reference"),
    Index("ix_work_items_claim", "bot", "state", "sort_key", "id"),
    Index("ix_work_items_claim_key", "bot", "claim_key"),  # one claim's items (status_sync's turn order)
)

runs = Table(
    "runs", metadata,
    Column("run_id", String(80), primary_key=True),
    Column("bot", String(40), nullable=False, index=True),
    Column("trigger", String(20), nullable=False, default="manual"),
    Column("status", String(20), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32)),
    Column("host", String(120)),
    Column("pid", Integer),
    Column("items", Integer, nullable=False, default=0),
    Column("done", Integer, nullable=False, default=0),
    Column("exceptions", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("deferred", Integer, nullable=False, default=0),
    Column("carried_over", Integer, nullable=False, default=0, server_default="0"),  # put back for the next run
    Column("retries", Integer, nullable=False, default=0),
    Column("message", Text),
    Column("workbook", Text),
)

audit = Table(
    "audit", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("ts", String(32), nullable=False),
    Column("run_id", String(80)),
    Column("bot", String(40)),
    Column("item_ref", String(200)),
    Column("claim_id", String(60), index=True),
    Column("action", String(40), nullable=False),
    Column("rule_id", String(60)),
    Column("rule_version", String(20)),
    Column("input_digest", String(64)),
    Column("result", String(40)),
    Column("detail", Text),
    Column("evidence_path", Text),
    Column("evidence_sha256", String(64)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The HMAC key that signed ``hash`` (bots.core.audit_keys); NULL: a record from before keys, plain sha256.
    Column("key_id", String(16)),
)

audit_head = Table(
    "audit_head", metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
)

exceptions = Table(
    "exceptions", metadata,
    Column("exception_id", String(20), primary_key=True),
    Column("queue", String(40), nullable=False, index=True),
    Column("bot", String(40), nullable=False),
    Column("item_ref", String(200), nullable=False),
    Column("rule_id", String(60), nullable=False),
    Column("rule_version", String(20)),
    Column("claim_id", String(60), index=True),
    Column("line_no", Integer),
    Column("payer_id", String(60)),
    Column("patient", String(200)),
    Column("dos", String(10)),
    Column("amount", Float),
    Column("reason", Text),
    Column("detail", Text),
    Column("evidence", Text),
    Column("evidence_file", Text),
    Column("review_level", String(10), nullable=False, default="Entry"),
    Column("priority", String(10), nullable=False, default="Normal"),
    Column("run_id", String(80)),
    Column("first_seen", String(32), nullable=False),
    Column("last_seen", String(32), nullable=False),
    Column("times_seen", Integer, nullable=False, default=1),
    Column("bot_status", String(10), nullable=False, default=RowState.OPEN),
    Column("bot_check", Text),
    # Coder-owned: mirrored from the workbook, never set by a bot's own decision.
    Column("assigned_to", String(120)),
    Column("status", String(20)),
    Column("resolution", String(60)),
    Column("resolution_note", Text),
    Column("resolved_by", String(120)),
    Column("resolved_on", String(32)),
    Column("coder_updated_at", String(32)),
    # The Assigned To the bots chose from the roster (``workbook.assignment``): while the cell still
    # shows it, the bots may move the row; a different name there is a coder's choice and stays.
    Column("assigned_by_bot", String(120)),
    Column("escalated_to", String(120)),  # coder-owned: the senior a row was escalated to
    Column("escalated_at", String(32)),  # when the bots took the escalation: the row stays Senior from then on
    Column("synced_at", String(32)),
    Column("written_at", String(32)),  # null: changed since the last workbook write
    # Moved out of the live workbook into a monthly archive file (``workbook.archive``); null: live. A row
    # found again is live again (``archived_at`` null) and keeps ``archive_file``: where its earlier copy is.
    Column("archived_at", String(32)),
    Column("archive_file", Text),  # relative to the workbook's folder, e.g. archive/exceptions-2026-08.xlsx
    Index("ix_exceptions_scope", "bot", "item_ref"),
    Index("ix_exceptions_archived", "archived_at"),  # the live rows among a year of archived ones
)

# A decision sampled for quality review (``bots.core.quality``): one row of the Quality Review sheet.
# The sample is deterministic (seed inputs: period, kind, decision_ref); the QA columns are the
# reviewer's, mirrored from the workbook like the coder columns of ``exceptions``.
qa_samples = Table(
    "qa_samples", metadata,
    Column("sample_id", String(20), primary_key=True),
    Column("kind", String(30), nullable=False),
    Column("decision_ref", String(300), nullable=False),
    Column("period", String(10), nullable=False),
    Column("rate", Float),
    Column("reason", String(20)),  # rate | minimum (a coder's weekly minimum)
    Column("decided_by", String(120)),  # the bot's name, or the coder's
    Column("decided_at", String(32)),
    Column("claim_id", String(60), index=True),
    Column("item_ref", String(200)),
    Column("queue", String(40)),  # where a failed decision's follow-up row goes
    Column("review_level", String(10)),
    Column("rule_id", String(60)),
    Column("rule_version", String(20)),
    Column("decision", Text),
    Column("evidence", Text),
    Column("evidence_file", Text),
    Column("sampled_at", String(32), nullable=False),
    # The reviewer's columns.
    Column("qa_reviewer", String(120)),
    Column("qa_result", String(10)),
    Column("finding_category", String(120)),
    Column("qa_note", Text),
    Column("reviewer_by_bot", String(120)),  # the reviewer the bots chose (a different name is a person's)
    Column("qa_updated_at", String(32)),
    # The bots' answer.
    Column("bot_check", Text),
    Column("bot_status", String(10), nullable=False, default=RowState.OPEN),
    Column("followup_id", String(20)),  # the exception row a Fail opened
    Column("synced_at", String(32)),
)

# An Appeal Preparation row's own facts (``core/appeals.py``, ``workbook/appeals.py``), beside its
# exception row (same id, queue Appeal Preparation): the denial it appeals, the deadline, the
# checklist, and the appeal's evidence (mirrored from the workbook like the coder columns).
appeals = Table(
    "appeals", metadata,
    Column("appeal_id", String(20), primary_key=True),  # the Appeal Preparation row's exception id
    Column("source_id", String(20), nullable=False, unique=True),  # the Denials / Payment Variances row
    Column("claim_id", String(60), index=True),
    Column("payer_id", String(60)),
    Column("category", String(60), nullable=False),
    Column("carc", String(200)),
    Column("counted_from", String(10)),  # the denial or remittance date the deadline counts from
    Column("deadline", String(10)),
    Column("basis", Text),  # how the deadline was worked out (or why there is none)
    Column("items", Text, nullable=False),  # JSON list: the documents this category needs
    Column("opened_at", String(32), nullable=False),
    # The coder's: JSON {item: "Yes"} for documents in hand, and the submission's evidence.
    Column("checklist", Text),
    Column("letter_ref", String(120)),
    Column("submitted_on", String(32)),
    Column("submission_ref", String(120)),
    Column("appeal_updated_at", String(32)),
    # The bots': each set once, with its audit record.
    Column("escalated_at", String(32)),  # near the deadline with gaps: Senior, High
    Column("missed_at", String(32)),  # past the deadline, not submitted in time
    Column("completed_at", String(32)),  # resolved with every piece of evidence
    Column("submitted_at", String(32)),  # applied to billing (the row turned Synced)
    Column("outcome", String(20)),  # won | upheld, from a later portal read
    Column("outcome_at", String(32)),
    Column("outcome_seq", Integer),  # the status_read audit record that showed it
)

meta = Table(
    "meta", metadata,
    Column("key", String(120), primary_key=True),
    Column("value", Text),
    Column("updated_at", String(32)),
)

# A change to what claim_edits decides with (an edit-table version, the rules file) or to a payer
# profile (``store.changes``): what changed, the claims it sent back for a rescan, and the effect
# of that rescan (rows raised and cleared per rule), filled once those claims were scanned again.
rule_changes = Table(
    "rule_changes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # ptp_table | mue_table | rules | payer_profile
    Column("subject", String(120), nullable=False),  # table kind, rules file, payer id
    Column("bot", String(40)),  # whose items it reopened (claim_edits), if any
    Column("old_version", Text),  # table label or digest before
    Column("new_version", Text),
    Column("summary", Text, nullable=False),  # JSON: rows added/deleted/changed, rule versions old -> new, keys
    Column("refs", Text, nullable=False),  # JSON: item references sent back for a rescan
    Column("baseline", Text, nullable=False),  # JSON: open exception ids of those items at the change
    Column("created_at", String(32), nullable=False, index=True),
    Column("effect", Text),  # JSON: {"raised": {rule: [ids]}, "cleared": {rule: [ids]}, "rescanned": n}
    Column("effect_at", String(32)),
)

# A refused sign-in, remembered across runs so a wrong password is tried once, not until the account
# locks (``store.signins``). ``fingerprint`` tells "the same credential" from "a changed one" and is a
# salted, slow hash: never the username or password. Active while ``cleared_at`` is null.
signin_blocks = Table(
    "signin_blocks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site", String(60), nullable=False, index=True),  # the pool's name: payer id, "billing"
    Column("origin", String(200)),  # scheme://host:port, nothing more
    Column("bot", String(40), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("credential_envs", Text),  # the variable names, for the operator's message
    Column("run_id", String(80)),
    Column("message", Text),  # what the site said, as the page object put it (no secret, no PHI)
    Column("blocked_at", String(32), nullable=False),
    Column("held_runs", Integer, nullable=False, default=0, server_default="0"),  # runs that did not try
    Column("cleared_at", String(32)),
    Column("cleared_by", String(120)),
    Column("clear_reason", String(40)),  # operator | credential_changed
    # One active block per site, even when two processes are refused at once (the second insert fails
    # and is logged; the first block stands).
    Index("uq_signin_blocks_active_site", "site", unique=True,
          sqlite_where=text("cleared_at IS NULL"), postgresql_where=text("cleared_at IS NULL")),
)
