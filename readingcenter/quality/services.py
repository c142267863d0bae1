"""Reading quality: where a signed final read and the AI disagree, and peer review of signed
reports by a second radiologist. The quality app's only writer."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from readingcenter.accounts.selectors import language_of
from readingcenter.audit.services import audit_record
from readingcenter.errors import Conflict, DomainError, NotFound
from readingcenter.notifications.services import email_send
from readingcenter.quality.models import AIDisagreement, PeerReview, PeerReviewPolicy
from readingcenter.quality.selectors import peer_review_scorable
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


# -- peer review ------------------------------------------------------------------------------


def _modality(report) -> str:
    """The study's first modality: what the hospital's review share and the rates go by."""
    return ((report.study.modalities or [""])[0] or "")[:16]


def _drawn(report, share: float) -> bool:
    """Reproducible and unbiased: the signed content's hash, not a process's random state."""
    return int(report.content_sha256[:8] or "0", 16) / 0xFFFFFFFF < share


def peer_review_draw(*, report) -> PeerReview | None:
    """At signing (final reports): the hospital's share for the modality decides."""
    if report.kind != "final":
        return None
    modality = _modality(report)
    policies = PeerReviewPolicy.objects.filter(hospital_id=report.hospital_id)
    policy = policies.filter(modality=modality).first() or policies.filter(modality="").first()
    if policy is None or not _drawn(report, policy.share):
        return None
    return _open_review(report, PeerReview.Reason.RANDOM, actor=SYSTEM_QUALITY)


def peer_review_request(*, report_id: int, user, request=None) -> PeerReview:
    """The reader asks a colleague to score one of his signed reports."""
    from readingcenter.reports.models import Report

    report = Report.objects.select_related("study").filter(pk=report_id, state="signed").first()
    if report is None or report.signed_by_id != user.pk:
        raise NotFound(_("No signed report of yours with this id."))
    existing = PeerReview.objects.filter(report=report).first()
    return existing or _open_review(report, PeerReview.Reason.REQUESTED, actor=user,
                                    request=request)  # fmt: skip


def _open_review(report, reason, *, actor, request=None) -> PeerReview:
    review, created = PeerReview.objects.get_or_create(
        report=report,
        defaults={"hospital_id": report.hospital_id, "first_reader_id": report.signed_by_id,
                  "modality": _modality(report),
                  "reason": reason},
    )  # fmt: skip
    if created:
        audit_record(actor=actor, action="peer_review.open", target=review,
                     hospital=report.hospital_id, request=request,
                     detail={"report": report.pk, "reason": reason})  # fmt: skip
    return review


def peer_review_score(*, review_id: int, user, score: str, comment: str = "",
                      request=None) -> PeerReview:  # fmt: skip
    """A second radiologist, privileged at the hospital and not the signer, scores once."""
    if score not in PeerReview.Score.values:
        raise DomainError("invalid_score", _("Score 1, 2a, 2b, 3a or 3b."), field="score")
    if score != "1" and not comment.strip():
        raise DomainError("comment_required", _("Say what was missed or misread."),
                          field="comment")  # fmt: skip
    peer_review_scorable(user=user, review_id=review_id)
    with transaction.atomic():
        review = PeerReview.objects.select_for_update().get(pk=review_id)
        if review.score:
            raise Conflict("peer_review_scored", _("This report has already been scored."))
        review.reviewer, review.score, review.comment = user, score, comment.strip()
        review.scored_at = timezone.now()
        review.save(update_fields=["reviewer", "score", "comment", "scored_at"])
        audit_record(actor=user, action="peer_review.score", target=review,
                     hospital=review.hospital_id, request=request,
                     detail={"score": score, "report": review.report_id})  # fmt: skip
        if review.is_discrepancy:
            transaction.on_commit(lambda: _tell_first_reader(review))
    return review


def _tell_first_reader(review: PeerReview) -> None:
    """A discrepancy: the first reader learns the score and comment (e-mail), and may add an
    addendum to the report, which the hospital receives by the normal delivery."""
    reader = review.first_reader
    result = None
    if reader.email:
        with translation.override(language_of(reader)):
            values = {"score": review.score, "report": review.report_id,
                      "display": review.get_score_display()}  # fmt: skip
            subject = _("Peer review: score %(score)s on your report %(report)s") % values
            body = "\n\n".join((
                _("A colleague scored your report %(report)s %(display)s.") % values,
                review.comment,
                _("You may add an addendum to the report; the hospital receives it as it "
                  "received the report."),
            ))  # fmt: skip
        result = email_send(to=reader.email, subject=subject, body=body)
    audit_record(actor=SYSTEM_QUALITY, action="peer_review.discrepancy", target=review,
                 hospital=review.hospital_id,
                 detail={"first_reader": reader.pk, "score": review.score,
                         "emailed": bool(result and result.sent),
                         "error": result.error if result else "no e-mail address"})  # fmt: skip
