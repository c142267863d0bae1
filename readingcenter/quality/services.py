"""Recording where a signed final read and the AI disagree. The quality app's only writer."""

from __future__ import annotations

from readingcenter.audit.services import audit_record
from readingcenter.quality.models import AIDisagreement
from readingcenter.reports import critical_rules
from triage.selectors import triage_runs_succeeded

SYSTEM_QUALITY = "system:quality"


def disagreements_record(*, report) -> list[AIDisagreement]:
    """At signing (final and amended reports): each AI flag the signer removed or rejected,
    and each finding a model stayed silent on that the signer called critical."""
    if report.kind not in ("final", "amended"):
        return []
    made = []
    for entry in report.ai_acceptance or []:
        if entry.get("outcome") != "removed":
            continue
        draft = next((d for d in report.ai_draft if d["finding"] == entry["finding"]), {})
        made.append(_record(report, entry["model_name"], entry["model_version"],
                            draft.get("code") or entry["finding"].split(":")[-1],
                            AIDisagreement.Kind.FLAG_NOT_CONFIRMED, draft.get("probability"),
                            draft.get("threshold"), ""))  # fmt: skip
    called = [f.get("finding", "") for f in report.critical_findings or []]
    for run in triage_runs_succeeded(report.study):
        labels = run.detail.get("labels", {}) if isinstance(run.detail, dict) else {}
        for code in run.thresholds:
            if code in run.flagged:
                continue
            term = critical_rules.term_for_ai(code, labels.get(code, ""))
            words = next((t for t in called if term and critical_rules.names(t, term)), None)
            if words is None:
                continue
            kind = AIDisagreement.Kind.FINDING_NOT_FLAGGED
            scores = (run.probabilities.get(code), run.thresholds.get(code))
            made.append(
                _record(report, run.model_name, run.model_version, code, kind, *scores, words)
            )
    return [m for m in made if m is not None]


def _record(report, model_name, model_version, code, kind, probability, threshold, words):
    row, created = AIDisagreement.objects.get_or_create(
        report=report, model_name=model_name, model_version=model_version, finding=code,
        defaults={"study": report.study, "hospital_id": report.hospital_id, "kind": kind,
                  "probability": probability, "threshold": threshold,
                  "reader_words": words[:2000], "signed_at": report.signed_at},
    )  # fmt: skip
    if not created:
        return None
    audit_record(actor=SYSTEM_QUALITY, action="ai.disagreement", target=row,
                 hospital=report.hospital_id, patient_id=report.study.patient_id,
                 detail={"model": f"{model_name} {model_version}", "finding": code,
                         "kind": kind, "probability": probability})  # fmt: skip
    return row
