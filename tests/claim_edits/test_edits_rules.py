"""Each claim-edit rule, failed and passed, as config/rules/claim_edits.toml configures it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bots.claim_edits.codes import CodeSet, icd10cm_wellformed, npi_valid
from bots.claim_edits.engine import RuleEngine
from bots.claim_edits.reference import ReferenceData
from bots.core.store import Store, utcnow
from store_helpers import set_columns
from claim_edits.edits_helpers import DOS, claim, evaluate, line, load_reference, repo_rule


@pytest.fixture
def ref(store: Store, tmp_path: Path) -> ReferenceData:
    return load_reference(store, tmp_path)


# ---- documentation ---------------------------------------------------------------------------------

def test_note_present_fails_naming_the_lines_without_a_note(ref: ReferenceData) -> None:
    ev = evaluate("DOC-NOTE-PRESENT", claim(line(1), line(2, "36415", note_id="")), ref)
    (f,) = ev.findings
    assert f.line_no == 2 and "line 2 (36415)" in f.reason and "Request the visit note" in f.reason


def test_note_present_passes_when_every_line_links_a_note(ref: ReferenceData) -> None:
    assert not evaluate("DOC-NOTE-PRESENT", claim(line(1), line(2)), ref).failed


def test_note_signed_fails_once_per_unsigned_note(ref: ReferenceData) -> None:
    c = claim(line(1, note_id="N-9", note_signed=False), line(2, "36415", note_id="N-9", note_signed=False))
    (f,) = evaluate("DOC-NOTE-SIGNED", c, ref).findings
    assert "Note N-9 (lines 1, 2) is not signed" in f.reason and f.detail == "note=N-9"


def test_note_signed_passes_for_signed_notes(ref: ReferenceData) -> None:
    assert not evaluate("DOC-NOTE-SIGNED", claim(line(1)), ref).failed


def test_note_date_fails_when_it_differs_from_the_date_of_service(ref: ReferenceData) -> None:
    (f,) = evaluate("DOC-NOTE-DATE", claim(line(1, note_date="2026-10-13")), ref).findings
    assert "dated 2026-10-13" in f.reason and f"date of service {DOS}" in f.reason


def test_note_date_passes_when_it_equals_the_date_of_service(ref: ReferenceData) -> None:
    assert not evaluate("DOC-NOTE-DATE", claim(line(1)), ref).failed


def test_time_based_code_without_minutes_fails(ref: ReferenceData) -> None:
    (f,) = evaluate("DOC-TIME", claim(line(1, "97110", units=2)), ref).findings
    assert f.line_no == 1 and "time-based code 97110" in f.reason


def test_time_based_code_with_minutes_passes_and_other_codes_are_not_checked(ref: ReferenceData) -> None:
    ev = evaluate("DOC-TIME", claim(line(1, "97110", time_minutes=30), line(2, "99213")), ref)
    assert not ev.failed and ev.checked == [1]


def test_time_code_list_is_configurable(ref: ReferenceData) -> None:
    ev = evaluate("DOC-TIME", claim(line(1, "99213")), ref, time_based_codes=CodeSet(["99211-99215"]))
    assert ev.failed


def test_prior_auth_missing_for_a_code_the_payer_lists_fails(store: Store, tmp_path: Path) -> None:
    payers = tmp_path / "payers"
    payers.mkdir()
    (payers / "testpayer.toml").write_text('display_name = "Test"\nprior_auth_codes = ["72148"]\n')
    ref = load_reference(store, tmp_path, payers_dir=payers)
    (f,) = evaluate("DOC-PRIOR-AUTH", claim(line(1, "72148")), ref).findings
    assert "requires prior authorization for 72148" in f.reason
    assert not evaluate("DOC-PRIOR-AUTH", claim(line(1, "72148"), prior_auth_number="PA-1"), ref).failed
    assert not evaluate("DOC-PRIOR-AUTH", claim(line(1, "72148"), payer_id="otherpayer"), ref).failed


# ---- coding -------------------------------------------------------------------------------------------

def test_icd10_fails_without_codes_and_for_malformed_codes(ref: ReferenceData) -> None:
    (none,) = evaluate("CODE-ICD10", claim(diagnosis_codes=[]), ref).findings
    assert "no ICD-10-CM diagnosis code" in none.reason
    (bad,) = evaluate("CODE-ICD10", claim(diagnosis_codes=["E11.9", "1234", "E11."]), ref).findings
    assert "1234, E11." in bad.reason


def test_icd10_passes_well_formed_codes(ref: ReferenceData) -> None:
    assert not evaluate("CODE-ICD10", claim(diagnosis_codes=["E11.9", "M1A.0110", "S52.501A", "Z3A.10"]), ref).failed
    assert icd10cm_wellformed("I10") and icd10cm_wellformed("E119") and not icd10cm_wellformed("E11.12345")


def test_diagnosis_pointer_to_a_missing_code_fails(ref: ReferenceData) -> None:
    c = claim(line(1, diagnosis_pointers=[1, 3]), line(2, "36415", diagnosis_pointers=[]))
    findings = evaluate("CODE-DX-POINTER", c, ref).findings
    assert [f.line_no for f in findings] == [1, 2]
    assert "points to diagnosis 3 but the claim has 2" in findings[0].reason
    assert "has no diagnosis pointer" in findings[1].reason


def test_diagnosis_pointers_within_range_pass(ref: ReferenceData) -> None:
    assert not evaluate("CODE-DX-POINTER", claim(line(1, diagnosis_pointers=[2, 1])), ref).failed


def test_npi_with_a_bad_check_digit_fails(ref: ReferenceData) -> None:
    (f,) = evaluate("CODE-NPI", claim(provider_npi="1234567890"), ref).findings
    assert "fails the NPI check digit" in f.reason
    assert evaluate("CODE-NPI", claim(provider_npi=""), ref).failed


def test_npi_with_a_good_check_digit_passes(ref: ReferenceData) -> None:
    assert npi_valid("1234567893") and npi_valid("1245319599") and not npi_valid("12345678")
    assert not evaluate("CODE-NPI", claim(), ref).failed


def test_em_with_a_same_day_procedure_needs_modifier_25(ref: ReferenceData) -> None:
    (f,) = evaluate("CODE-MOD25", claim(line(1, "99214"), line(2, "20610")), ref).findings
    assert f.line_no == 1 and "without modifier 25" in f.reason and "20610 (line 2)" in f.reason


def test_em_with_25_or_only_excluded_codes_passes(ref: ReferenceData) -> None:
    assert not evaluate("CODE-MOD25", claim(line(1, "99214", modifiers=["25"]), line(2, "20610")), ref).failed
    assert not evaluate("CODE-MOD25", claim(line(1, "99214"), line(2, "36415")), ref).failed
    other_day = line(2, "20610", date_of_service="2026-10-15", note_date="2026-10-15")
    assert not evaluate("CODE-MOD25", claim(line(1, "99214"), other_day), ref).failed


# ---- NCCI PTP -------------------------------------------------------------------------------------------

def test_ptp_indicator_0_is_an_edit_whatever_the_modifiers(ref: ReferenceData) -> None:
    c = claim(line(1, "20611"), line(2, "20610", modifiers=["59"]))
    (f,) = evaluate("NCCI-PTP", c, ref).findings
    assert f.review_level is None and f.line_no == 2 and f.detail == f"20611|20610|{DOS}"
    assert "Modifier indicator 0" in f.reason and "Remove line 2 (20610)" in f.reason


def test_ptp_indicator_1_without_a_bypass_modifier_is_an_edit(ref: ReferenceData) -> None:
    (f,) = evaluate("NCCI-PTP", claim(line(1, "97110"), line(2, "97140")), ref).findings
    assert f.review_level is None and "no NCCI-associated modifier" in f.reason and "59 or XE/XS/XP/XU" in f.reason


def test_ptp_indicator_1_on_an_em_suggests_modifier_25(ref: ReferenceData) -> None:
    (f,) = evaluate("NCCI-PTP", claim(line(1, "20610"), line(2, "99214")), ref).findings
    assert "add modifier 25 to line 2" in f.reason


def test_ptp_indicator_1_with_a_bypass_modifier_goes_to_senior_review(ref: ReferenceData) -> None:
    (f,) = evaluate("NCCI-PTP", claim(line(1, "97110"), line(2, "97140", modifiers=["XS"])), ref).findings
    assert f.review_level == "Senior" and "bypassed with XS on line 2" in f.reason


def test_ptp_anatomic_modifiers_bypass_only_when_the_sites_differ(ref: ReferenceData) -> None:
    same = claim(line(1, "97110", modifiers=["RT"]), line(2, "97140", modifiers=["RT"]))
    assert evaluate("NCCI-PTP", same, ref).findings[0].review_level is None
    differ = claim(line(1, "97110", modifiers=["RT"]), line(2, "97140", modifiers=["LT"]))
    assert evaluate("NCCI-PTP", differ, ref).findings[0].review_level == "Senior"


def test_ptp_indicator_9_and_unrelated_codes_pass(ref: ReferenceData) -> None:
    assert not evaluate("NCCI-PTP", claim(line(1, "93000"), line(2, "93010")), ref).failed
    ev = evaluate("NCCI-PTP", claim(line(1, "99213"), line(2, "36415")), ref)
    assert not ev.failed and ev.detail == {"table": ref.ptp.label}


def test_ptp_edits_apply_only_between_effective_and_deletion_dates(ref: ReferenceData) -> None:
    def pair(dos: str) -> bool:
        lines = [line(1, "97530", date_of_service=dos, note_date=dos), line(2, "97140", date_of_service=dos,
                                                                             note_date=dos)]
        return evaluate("NCCI-PTP", claim(*lines, date_of_service=dos), ref).failed

    assert not pair("2019-12-31"), "before the effective date"
    assert pair("2020-01-01") and pair("2020-03-31"), "in force from the effective date"
    assert not pair("2020-04-01"), "the deletion date is the first day it no longer applies"
    future = claim(line(1, "11042"), line(2, "97597"))
    assert not evaluate("NCCI-PTP", future, ref).failed, "an edit effective in 2027 does not apply in 2026"


def test_ptp_pairs_on_different_dates_of_service_are_not_edits(ref: ReferenceData) -> None:
    c = claim(line(1, "97110"), line(2, "97140", date_of_service="2026-10-15", note_date="2026-10-15"))
    assert not evaluate("NCCI-PTP", c, ref).failed


# ---- MUE ------------------------------------------------------------------------------------------------

def test_mue_line_edit_counts_units_per_line(ref: ReferenceData) -> None:
    (f,) = evaluate("MUE", claim(line(1, "20610", units=2)), ref).findings
    assert "allows 1 per line (MAI 1)" in f.reason and f.review_level is None
    both_knees = claim(line(1, "20610", modifiers=["RT"]), line(2, "20610", modifiers=["LT"]))
    assert not evaluate("MUE", both_knees, ref).failed


def test_mue_date_of_service_edit_sums_units_across_lines(ref: ReferenceData) -> None:
    (f,) = evaluate("MUE", claim(line(1, "36415"), line(2, "36415")), ref).findings
    assert f.line_no is None and "Lines 1, 2 bill 2 unit(s) of 36415" in f.reason and "MAI 2" in f.reason
    assert f.review_level is None


def test_mue_clinical_edit_goes_to_senior_review(ref: ReferenceData) -> None:
    (f,) = evaluate("MUE", claim(line(1, "97110", units=3, time_minutes=45), line(2, "97110", units=2,
                                                                                  time_minutes=30)), ref).findings
    assert f.review_level == "Senior" and "MAI 3" in f.reason


def test_mue_units_within_the_value_pass(ref: ReferenceData) -> None:
    ev = evaluate("MUE", claim(line(1, "97110", units=4, time_minutes=60), line(2, "36415")), ref)
    assert not ev.failed and ev.detail == {"table": ref.mue.label}


# ---- senior review thresholds -------------------------------------------------------------------------

def test_high_dollar_claim_is_held_and_raises_its_other_findings_to_senior(ref: ReferenceData) -> None:
    rule = repo_rule("REVIEW-HIGH-DOLLAR")
    big = claim(line(1, "99213", charge=rule.params.amount), line(2, "36415", note_id="", charge=10.0))
    ev = evaluate("REVIEW-HIGH-DOLLAR", big, ref)
    assert ev.failed and ev.findings[0].detail == "high-dollar"
    verdict = RuleEngine([rule, repo_rule("DOC-NOTE-PRESENT")], ref).evaluate(big)
    levels = {r.rule_id: (r.review_level, r.priority) for r in verdict.exceptions}
    assert levels == {"REVIEW-HIGH-DOLLAR": ("Senior", "High"), "DOC-NOTE-PRESENT": ("Senior", "High")}


def test_claim_below_the_amount_passes(ref: ReferenceData) -> None:
    assert not evaluate("REVIEW-HIGH-DOLLAR", claim(line(1, charge=9999.99)), ref).failed


def _denied(store: Store, n: int, days_ago: int, code: str = "99214") -> None:
    checked = (utcnow() - timedelta(days=days_ago)).isoformat(timespec="seconds")
    denied = [(claim(line(1, code), claim_id=f"DEN-{days_ago}-{i}"), "d") for i in range(n)]
    with store.begin() as conn:
        store.save_claims(conn, denied, checked)
    for c, _ in denied:
        set_columns(store, "claims", {"claim_id": c.claim_id}, status_category="F2", status_checked_at=checked)


def test_code_the_payer_denied_repeatedly_goes_to_senior_review(store: Store, tmp_path: Path) -> None:
    _denied(store, 3, days_ago=10)
    ref = load_reference(store, tmp_path, denials=(90, 3))
    (f,) = evaluate("REVIEW-DENIAL-PATTERN", claim(line(1, "99214")), ref).findings
    assert "denied 99214 on 3 claims in the last 90 days" in f.reason
    assert repo_rule("REVIEW-DENIAL-PATTERN").review_level == "Senior"


def test_old_or_too_few_denials_pass(store: Store, tmp_path: Path) -> None:
    _denied(store, 2, days_ago=10)
    _denied(store, 5, days_ago=200)
    ref = load_reference(store, tmp_path, denials=(90, 3))
    assert not evaluate("REVIEW-DENIAL-PATTERN", claim(line(1, "99214")), ref).failed
