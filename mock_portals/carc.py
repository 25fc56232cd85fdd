"""Claim Adjustment Reason Code (CARC) texts shown next to codes on the payer portals.

Real portals print the code with its description; the bots read both into the Denials
sheet so a coder sees *why* without looking the code up. The texts follow the X12 CARC
list, shortened where the official wording is long. A code missing here shows without text,
as an unfamiliar code would on a real portal.
"""

from __future__ import annotations

__all__ = ["CARC_TEXT", "GROUP_TEXT", "carc_text"]

GROUP_TEXT: dict[str, str] = {
    "CO": "Contractual Obligations",
    "PR": "Patient Responsibility",
    "OA": "Other Adjustments",
    "PI": "Payer Initiated Reductions",
}

CARC_TEXT: dict[str, str] = {
    "1": "Deductible Amount.",
    "2": "Coinsurance Amount.",
    "3": "Co-payment Amount.",
    "4": "The procedure code is inconsistent with the modifier used, or a required modifier is missing.",
    "11": "The diagnosis is inconsistent with the procedure.",
    "16": "Claim/service lacks information or has submission/billing error(s).",
    "18": "Exact duplicate claim/service.",
    "22": "This care may be covered by another payer per coordination of benefits.",
    "27": "Expenses incurred after coverage terminated.",
    "29": "The time limit for filing has expired.",
    "31": "Patient cannot be identified as our insured.",
    "45": "Charge exceeds fee schedule/maximum allowable or contracted/legislated fee arrangement.",
    "50": "These are non-covered services because this is not deemed a 'medical necessity' by the payer.",
    "96": "Non-covered charge(s).",
    "97": "The benefit for this service is included in the payment/allowance for another service/procedure that has already been adjudicated.",
    "109": "Claim/service not covered by this payer/contractor. You must send the claim/service to the correct payer/contractor.",
    "151": "Payment adjusted because the payer deems the information submitted does not support this many/frequency of services.",
    "167": "This (these) diagnosis(es) is (are) not covered.",
    "197": "Precertification/authorization/notification/pre-treatment absent.",
    "204": "This service/equipment/drug is not covered under the patient's current benefit plan.",
    "236": "This procedure or procedure/modifier combination is not compatible with another procedure or procedure/modifier combination provided on the same day according to the National Correct Coding Initiative.",
    "252": "An attachment/other documentation is required to adjudicate this claim/service.",
}


def carc_text(code: str) -> str:
    """Text for a group-prefixed code such as ``CO-45``; empty when the reason is unknown."""
    _, _, reason = code.strip().upper().rpartition("-")
    return CARC_TEXT.get(reason, "")
