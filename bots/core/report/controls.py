"""The dashboard's control sections: appeals (issue 15's queue), quality sampling (issue 14's
samples) and the per-coder training view. Apart from ``figures`` because they read the optional
queues' own tables and carry the only coder names; they share its ``Context`` and helpers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from bots.core.lifecycle import BOT_FAILURES
from bots.core.report.figures import (
    APPEALS_NOT_SET_UP, NO_SAMPLING, QA_KINDS, QA_REWORK, Context, queue_order, rate_of, appeals_set_up, nearest_rank,
)
from bots.core.report.model import Chart, Section, Table
from bots.core.store.dashboard import CODER_KIND
from bots.core.store.rows import RECURRED_CHECK
from bots.core.workbook.appeals import appeal_gaps
from bots.core.workbook.layout import APPEAL_DOC_PREFIX

APPEAL_EVENTS = (("opened", "Opened", "opened_at", "appeal_opened"),
                 ("completed", "Completed", "completed_at", "appeal_complete"),
                 ("submitted", "Submitted", "submitted_at", "appeal_submitted"),
                 ("missed", "Deadlines missed", "missed_at", "appeal_deadline_missed"),
                 ("won", "Won", "outcome_at", "appeal_outcome"), ("upheld", "Upheld", "outcome_at", "appeal_outcome"))
def appeals(ctx: Context) -> Section:
    definition = (
        "Appeal Preparation rows' own facts (the appeals table), each set once with its audit record. Per period: "
        + "; ".join(f"{name.lower()}: appeals whose appeals.{col} falls in the period ({action}"
                    + (f" with result {key})" if key in ("won", "upheld") else ")")
                    for key, name, col, action in APPEAL_EVENTS)
        + ". Won = a later portal read showed the claim paid (F1); upheld = still denied (F2/F4). Open now, with "
        "documentation gaps: appeals whose Appeal Preparation row (exceptions, queue Appeal Preparation, bot appeals, "
        "rule APPEAL-PREP) is neither applied to billing (Synced) nor cleared at the report's time, by payer and "
        "denial category (appeals.payer_id, appeals.category); with gaps = a checklist document not ticked Yes "
        "(appeals.items against appeals.checklist) or Appeal Letter Ref, Submitted On or Submission Ref blank; "
        "documents and submission details missing are counted one per item.")
    title = "Appeal documentation gaps and outcomes"
    if not appeals_set_up(ctx):
        return Section("appeals", title, definition, available=False, note=APPEALS_NOT_SET_UP)
    labels = ctx.periods.labels
    keys = [k for k, *_rest in APPEAL_EVENTS]
    total: dict[str, list[int]] = {k: ctx.zeros() for k in keys}
    by_group: dict[tuple[int, str, str], Counter[str]] = defaultdict(Counter)
    for event, payer, category, outcome, day, count in ctx.store.appeal_counts(ctx.periods.start_ts,
                                                                                ctx.periods.end_ts):
        i = ctx.periods.index(day)
        key = outcome if event == "outcome" else event
        if i is None or i < 0 or key not in total:
            continue
        total[key][i] += count
        by_group[(i, payer or "-", category or "-")][key] += count
    rows = [[labels[i]] + [total[k][i] for k in keys] for i in range(len(labels))]
    detail = [[labels[i], payer, category] + [c[k] for k in keys]
              for (i, payer, category), c in sorted(by_group.items())]
    gaps: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for payer, category, items, checklist, letter_ref, submitted_on, submission_ref in ctx.store.open_appeal_evidence():
        missing = appeal_gaps({"items": items, "checklist": checklist, "letter_ref": letter_ref,
                               "submitted_on": submitted_on, "submission_ref": submission_ref})
        docs = sum(m.startswith(APPEAL_DOC_PREFIX) for m in missing)
        g = gaps[(payer or "-", category or "-")]
        g[0] += 1
        g[1] += bool(missing)
        g[2] += docs
        g[3] += len(missing) - docs
    now_rows = [[payer, category] + g for (payer, category), g in sorted(gaps.items())]
    names = [name for _k, name, *_rest in APPEAL_EVENTS]
    return Section(
        "appeals", title, definition,
        tables=[Table("Per period", ["Period"] + names, rows),
                Table("Per period, payer and denial category", ["Period", "Payer", "Denial category"] + names, detail,
                      long=True),
                Table("Open appeals with documentation gaps now, by payer and denial category",
                      ["Payer", "Denial category", "Open appeals", "With gaps", "Documents missing",
                       "Submission details missing"], now_rows)],
        charts=[Chart("Appeals per period", "line", labels, {n.lower(): [float(v) for v in total[k]]
                                                             for k, n, *_rest in APPEAL_EVENTS}, "appeals"),
                Chart("Open appeals with gaps now", "bar", [f"{r[0]} / {r[1]}" for r in now_rows[:20]],
                      {"with gaps": [float(r[3]) for r in now_rows[:20]]}, "appeals")])


@dataclass
class _Tally:
    """QA samples drawn and reviewed: what the quality section and the training view add up."""

    drawn: int = 0
    reviewed: int = 0
    passed: int = 0
    failed: int = 0

    def add(self, event: str, result: str, n: int) -> None:
        if event == "drawn":
            self.drawn += n
        elif event == "reviewed":
            self.reviewed += n
            self.passed += n if result == "Pass" else 0
            self.failed += n if result == "Fail" else 0

    @property
    def pass_rate(self) -> float | None:
        return rate_of(self.passed, self.reviewed)


QA_DEF = (
    "Quality samples (table qa_samples: the Quality Review sheet's rows; bots.core.quality). Drawn: samples whose "
    "Sampled At falls in the period (= the ts of their audit record qa_sampled), by decision kind (claim_clean, "
    "portal_paid, status_applied: the bots'; coder_resolution: a coder's). Reviewed: samples whose review was "
    "completed in the period: Bot Status Synced with QA Result Pass or Fail, by Synced At (= the ts of their "
    "audit record qa_reviewed for a Pass, qa_failed for a Fail). Pass rate = Pass / reviewed. A sample whose "
    "coder resolution was reopened before review (Bot Status Cleared) is drawn, never reviewed. Findings: the "
    "reviewed Fails, by Finding Category; bot decisions by the Rule ID and Rule Version the sample shows "
    "(ALL-RULES-PASSED for a clean claim, its version the set of rules passed); coder resolutions by the queue "
    "and review level of the row resolved. Awaiting review now: Bot Status Open at the report's time.")


def quality(ctx: Context) -> Section:
    if not ctx.sampling:
        return Section("quality", "Quality findings", QA_DEF, available=False, note=NO_SAMPLING)
    labels = ctx.periods.labels
    n = len(labels)
    per: dict[tuple[int, str], _Tally] = defaultdict(_Tally)
    per_period: list[_Tally] = [_Tally() for _ in range(n)]
    categories: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # category -> [bot fails, coder fails]
    cat_period: Counter[tuple[int, str]] = Counter()
    rules: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
    coder_queues: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    waiting: Counter[str] = Counter()
    for event, kind, result, category, rule, version, queue, level, _coder, day, count in ctx.qa:
        if event == "open":
            waiting[kind] += count
            continue
        i = ctx.periods.index(day)
        if i is None or i < 0:
            continue
        per[(i, kind)].add(event, result, count)
        per_period[i].add(event, result, count)
        if event != "reviewed":
            continue
        if kind == CODER_KIND:
            coder_queues[(queue, level)].add(event, result, count)
        else:
            rules[(kind, rule or "-", version or "-")].add(event, result, count)
        if result == "Fail":
            categories[category or "(blank)"][kind == CODER_KIND] += count
            cat_period[(i, category or "(blank)")] += count
    kinds = list(QA_KINDS) + sorted(({k for _i, k in per} | set(waiting)) - set(QA_KINDS))  # the same columns every time
    rows = [[labels[i], t.drawn] + [per[(i, k)].drawn if (i, k) in per else 0 for k in kinds]
            + [t.reviewed, t.passed, t.failed, t.pass_rate] for i, t in enumerate(per_period)]
    by_kind = [[labels[i], k, t.drawn, t.reviewed, t.passed, t.failed, t.pass_rate]
               for (i, k), t in sorted(per.items(), key=lambda kv: (kv[0][0], _kind_order(kv[0][1])))]
    cats = sorted(categories, key=lambda c: (-sum(categories[c]), c))
    cat_rows = [[c, categories[c][0], categories[c][1], sum(categories[c])] for c in cats]
    cat_per = [[labels[i], c, m] for (i, c), m in sorted(cat_period.items(), key=lambda kv: (kv[0][0], cats.index(kv[0][1])))]
    rule_rows = [[kind, rule, version, t.reviewed, t.failed, rate_of(t.failed, t.reviewed)]
                 for (kind, rule, version), t in sorted(rules.items(), key=lambda kv: (-kv[1].failed, kv[0]))]
    coder_rows = [[queue, level, t.reviewed, t.failed, rate_of(t.failed, t.reviewed)]
                  for (queue, level), t in sorted(coder_queues.items(),
                                                  key=lambda kv: (queue_order([kv[0][0]]), kv[0][1]))]
    note = ("Findings by coder: in the training view, the only section that names coders."
            if ctx.coder_names else "Findings by coder: not shown, coder names are turned off for this report.")
    if not ctx.qa_total:
        note = "Quality sampling is set up (config/quality.toml) but has drawn no sample yet. " + note
    return Section(
        "quality", "Quality findings", QA_DEF, note=note,
        tables=[Table("Per period", ["Period", "Drawn"] + [f"Drawn: {k}" for k in kinds]
                      + ["Reviewed", "Pass", "Fail", "Pass rate (%)"], rows),
                Table("Findings by category over the range",
                      ["Finding category", "Bot decisions", "Coder resolutions", "Fails"], cat_rows),
                Table("Bot decisions by rule and version over the range",
                      ["Decision kind", "Rule", "Version", "Reviewed", "Fail", "Fail rate (%)"], rule_rows),
                Table("Coder resolutions by queue and review level over the range",
                      ["Queue", "Review level", "Reviewed", "Fail", "Fail rate (%)"], coder_rows),
                Table("Awaiting review now", ["Decision kind", "Samples"],
                      [[k, waiting[k]] for k in sorted(waiting, key=_kind_order)]),
                Table("Per period and decision kind",
                      ["Period", "Decision kind", "Drawn", "Reviewed", "Pass", "Fail", "Pass rate (%)"], by_kind,
                      long=True),
                Table("Findings per period and category", ["Period", "Finding category", "Fails"], cat_per, long=True)],
        charts=[Chart("QA pass rate (%)", "line", labels, {"pass rate": [t.pass_rate for t in per_period]}, "%"),
                Chart("QA findings by category", "bar", [r[0] for r in cat_rows[:20]],
                      {"fails": [float(r[3]) for r in cat_rows[:20]]}, "fails")])


def _kind_order(kind: str) -> tuple[int, str]:
    return (QA_KINDS.index(kind) if kind in QA_KINDS else len(QA_KINDS), kind)


def training(ctx: Context) -> Section:
    definition = (
        "Per coder (Resolved By) over the whole range: rows they resolved (Status Resolved, Coder Updated in the "
        "range, every sheet but Bot Failures), turnaround (Coder Updated − First Seen, hours, nearest-rank median "
        "and 90th percentile); of those rows, recurred = the row now carries the Bot Check \"" + RECURRED_CHECK
        + "\", failed QA = a reviewed quality sample of the row's resolution by the same coder failed (qa_samples: "
        "kind coder_resolution, Item Ref = the Exception ID, Decided By = Resolved By, Bot Status Synced, QA Result "
        "Fail; it opened a " + QA_REWORK + " row), reworked = recurred or failed QA, rework rate = reworked / rows "
        "resolved; the rules their resolved rows came from (most frequent first). QA: their coder_resolution "
        "samples (Decided By) drawn in the range (Sampled At), reviewed in the range (Synced At, QA Result Pass or "
        "Fail), the Fails among them and pass rate = Pass / reviewed; QA findings = those Fails by Finding Category.")
    if not ctx.coder_names:
        return Section("training", "Training view (per coder)", definition, available=False,
                       note="coder names are turned off for this report (--no-coder-names)")
    per: dict[str, list[tuple[float, str, int, int]]] = defaultdict(list)
    for queue, _level, rule, coder, day, hours, recurred, failed_qa in ctx.resolutions:
        i = ctx.periods.index(day)
        if queue == BOT_FAILURES or i is None or i < 0 or hours is None:
            continue
        per[(coder or "").strip() or "(blank)"].append((hours, rule, recurred, failed_qa))
    qa: dict[str, _Tally] = defaultdict(_Tally)
    findings: Counter[tuple[str, str]] = Counter()
    for event, kind, result, category, _rule, _version, _queue, _level, coder, day, count in ctx.qa:
        i = ctx.periods.index(day)
        if kind != CODER_KIND or event == "open" or i is None or i < 0:
            continue
        qa[coder or "(blank)"].add(event, result, count)
        if event == "reviewed" and result == "Fail":
            findings[(coder or "(blank)", category or "(blank)")] += count
    rows = []
    patterns = []
    for coder in sorted(set(per) | set(qa), key=lambda c: (-len(per.get(c, ())), c)):
        items = per.get(coder, [])
        hours = [h for h, _r, _x, _q in items]
        rules = sorted(Counter(r for _h, r, _x, _q in items).items(), key=lambda kv: (-kv[1], kv[0]))  # ties: by name
        recurred = sum(x for _h, _r, x, _q in items)
        failed_qa = sum(q for _h, _r, _x, q in items)
        reworked = sum(1 for _h, _r, x, q in items if x or q)
        t = qa.get(coder, _Tally())
        rows.append([coder, len(items), nearest_rank(hours, 0.5), nearest_rank(hours, 0.9), recurred, failed_qa,
                     reworked, rate_of(reworked, len(items)), t.drawn, t.reviewed, t.failed, t.pass_rate,
                     ", ".join(f"{r} ({n})" for r, n in rules[:3])])
        patterns.extend([coder, r, n, sum(1 for _h, rr, x, q in items if rr == r and (x or q))] for r, n in rules)
    finding_rows = [[coder, category, n] for (coder, category), n in sorted(findings.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))]
    return Section(
        "training", "Training view (per coder)", definition,
        note="" if ctx.sampling else "QA findings per coder: " + NO_SAMPLING + ".",
        tables=[Table("Per coder", ["Coder", "Rows resolved", "Median (h)", "P90 (h)", "Recurred", "Failed QA",
                                    "Reworked", "Rework rate (%)", "QA sampled", "QA reviewed", "QA fails",
                                    "QA pass rate (%)", "Top rules"], rows),
                Table("QA findings per coder and category", ["Coder", "Finding category", "Fails"], finding_rows),
                Table("Per coder and rule", ["Coder", "Rule", "Rows resolved", "Reworked"], patterns, long=True)],
        charts=[Chart("Rows resolved per coder", "bar", [r[0] for r in rows[:20]],
                      {"rows resolved": [float(r[1]) for r in rows[:20]]}, "rows"),
                Chart("Rework rate per coder (%)", "bar", [r[0] for r in rows[:20]],
                      {"rework rate": [r[7] for r in rows[:20]]}, "%")])
