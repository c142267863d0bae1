"""Every write to a report: open the draft, autosave, sign, add an addendum.

Rules that must hold whatever the timing:
- only the radiologist holding the case's claim writes its draft;
- an autosave names the revision it started from, and one made from a stale copy (another
  tab, another device) is refused with 409 instead of overwriting newer text;
- signing asks for the password again, freezes the row (the database refuses changes to a
  signed row), stores the content hash, and in the same transaction defers what is owed to
  the hospital (deliveries, critical-result notifications): they exist exactly when the
  signature does.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from readingcenter import hooks
from readingcenter.audit.models import Outcome
from readingcenter.audit.services import audit_record
from readingcenter.errors import Conflict, DomainError, NotFound
from readingcenter.reports import critical_rules
from readingcenter.reports.models import (
    SECTIONS,
    CriticalCategory,
    Macro,
    Report,
    ReportKind,
    ReportState,
    ReportTemplate,
)
from readingcenter.reports.selectors import macros_for
from readingcenter.studies import hints
from readingcenter.worklist.models import Case, CaseState

EDITABLE = (*SECTIONS, "addendum_text", "critical_findings", "ai_review", "language")
TEMPLATE_FIELDS = (*SECTIONS, "required_sections", "critical_terms")
AI_REVIEW_STATES = ("pending", "accepted", "edited", "rejected")
# Body parts as hospitals write them (BodyPartExamined or the description) -> our templates'.
_BODY_PART_WORDS = {
    "HEAD": ("HEAD", "BRAIN", "SKULL", "CRANI"),
    "CHEST": ("CHEST", "THORAX", "LUNG"),
    "ABDOMEN": ("ABDOMEN", "ABD", "PELVIS", "LIVER"),
}


# -- helpers ---------------------------------------------------------------------------------
def _announce(report: Report, event: str) -> None:
    """Readers of the case refetch it; on signing, the hospital's board too. Never state."""
    from readingcenter.worklist.services import announce_case

    announce_case(report.case, event)
    if report.is_signed:
        message = {"type": "study.hint", "study_id": report.study_id, "status": "reported"}
        hints.on_commit_send(
            ("report", report.id),
            [
                (hints.hospital_group(report.hospital_id), message),
                (hints.ALL_STUDIES_GROUP, message),
            ],
        )


def _locked_case_for_writer(case_id: int, user) -> Case:
    """The case row, locked, if ``user`` holds its claim; the refusal says why otherwise."""
    case = (
        Case.objects.select_for_update(of=("self",))
        .select_related("study", "hospital", "claimed_by")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise NotFound(_("No such case."))
    if case.state not in (CaseState.CLAIMED, CaseState.IN_REPORT) or case.claimed_by_id != user.id:
        if case.state == CaseState.SIGNED:
            raise Conflict("case_signed", _("The case is signed; corrections are addenda."))
        holder = case.claimed_by
        who = (holder.get_full_name() or holder.get_username()) if holder else _("nobody")
        raise DomainError(
            "not_your_case",
            _(
                "Only the radiologist who claimed the case writes its report (claimed by "
                "%(who)s); claim it first, or ask a manager to reassign it."
            )
            % {"who": who},
            status=403,
        )
    return case


def body_part_of(study) -> str:
    text = f"{study.body_part_examined} {study.study_description}".upper()
    for part, words in _BODY_PART_WORDS.items():
        if any(word in text for word in words):
            return part
    return ""


def template_for(study, modality: str, language: str = "en") -> ReportTemplate | None:
    """The best template in the report's language: this modality and body part, else this
    modality for any part; where that language has none, the English one (a start to
    translate is better than a blank page)."""
    part = body_part_of(study)
    for lang in dict.fromkeys((language, "en")):
        candidates = ReportTemplate.objects.filter(is_active=True, modality=modality, language=lang)
        found = (candidates.filter(body_part=part).first() if part else None) or (
            candidates.filter(body_part="").first()
        )
        if found:
            return found
    return None


# The findings our models name, as a report in each language names them.
FINDING_NAMES = {
    "ich": _("intracranial hemorrhage"),
    "intracranial_hemorrhage": _("intracranial hemorrhage"),
    "pneumothorax": _("pneumothorax"),
}


def ai_draft_for(study, language: str = "en") -> list[dict]:
    """One clean sentence per positive AI flag on the current version, in the report's
    language; never a negative."""
    from triage.selectors import triage_runs_succeeded

    entries = []
    runs = triage_runs_succeeded(study).order_by("model_name", "id")
    for run in runs:
        labels = run.detail.get("labels", {}) if isinstance(run.detail, dict) else {}
        for code in run.flagged:
            label = labels.get(code) or _finding_label(run, code)
            with translation.override(language):
                name = str(FINDING_NAMES.get(code, label))
                sentence = _("Findings suggestive of %(finding)s.") % {"finding": name}
            entries.append(
                {
                    "finding": f"{run.model_name}:{code}",
                    "code": code,
                    "label": label,
                    "sentence": str(sentence),
                    "probability": run.probabilities.get(code),
                    "threshold": run.thresholds.get(code),
                    "model_name": run.model_name,
                    "model_version": run.model_version,
                    "weights_sha256": run.weights_sha256,
                    "run_id": run.id,
                }
            )
    return entries


def _finding_label(run, code: str) -> str:
    # The run's own draft sentence names the finding ("... suggestive of <label> (...").
    for sentence in run.draft_findings:
        match = re.search(r"suggestive of (.+?) \(", sentence)
        if match:
            return match.group(1)
    return code


def expand_macros(text: str, *, macros: dict[str, str]) -> str:
    """Replace whole-word macro codes (``.nml``) by their text (``macros_for`` the user)."""
    if not text or "." not in text or not macros:
        return text

    def swap(match: re.Match) -> str:
        return macros.get(match.group(0), match.group(0))

    return re.sub(r"(?<!\S)\.[\w-]+(?!\S)", swap, text)


def _plain_text(value) -> str:
    """One form of the same text whatever sent it (a form posts CRLF, the editor's autosave LF):
    the signed text, and so its hash, must not depend on which save came last."""
    text = str(value or "").replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip()


def _clean_critical(value) -> list[dict]:
    if not isinstance(value, list):
        raise DomainError(
            "invalid",
            _("critical_findings must be a list"),
            field="critical_findings",
            status=400,
        )
    cleaned = []
    for item in value:
        finding = str((item or {}).get("finding", "")).strip() if isinstance(item, dict) else ""
        category = (item or {}).get("category") if isinstance(item, dict) else None
        if not finding or category not in CriticalCategory.values:
            raise DomainError(
                "invalid",
                _("each critical finding needs a 'finding' text and a 'category' of %(categories)s")
                % {"categories": ", ".join(CriticalCategory.values)},
                field="critical_findings",
                status=400,
            )
        cleaned.append({"finding": finding[:500], "category": category})
    return cleaned


def _clean_language(value) -> str:
    if value not in dict(settings.LANGUAGES):
        raise DomainError(
            "invalid_language",
            _("A report is written in one of: %(languages)s.")
            % {"languages": ", ".join(dict(settings.LANGUAGES))},
            field="language",
        )
    return value


def _clean_review(value, report: Report) -> dict:
    known = {entry["finding"] for entry in report.ai_draft}
    if not isinstance(value, dict) or not set(value) <= known:
        raise DomainError(
            "invalid",
            _("ai_review maps AI findings (%(findings)s) to one of %(states)s")
            % {
                "findings": ", ".join(sorted(known)) or _("none"),
                "states": ", ".join(AI_REVIEW_STATES),
            },
            field="ai_review",
            status=400,
        )
    if any(state not in AI_REVIEW_STATES for state in value.values()):
        raise DomainError(
            "invalid",
            _("use one of %(states)s") % {"states": ", ".join(AI_REVIEW_STATES)},
            field="ai_review",
            status=400,
        )
    return {**report.ai_review, **value}


# -- opening the draft ------------------------------------------------------------------------
def report_open_draft(*, case_id: int, user, request=None) -> Report:
    """The case's draft, created on first opening from its template and the AI's findings."""
    with transaction.atomic():
        case = _locked_case_for_writer(case_id, user)
        draft = Report.objects.filter(case=case, state=ReportState.DRAFT).exclude(
            kind=ReportKind.ADDENDUM
        )
        existing = draft.first()
        if existing is not None:
            return existing
        study = case.study
        language = case.hospital.report_language
        template = template_for(study, case.modality, language)
        ai = ai_draft_for(study, language)
        findings = template.findings if template else ""
        if ai:
            # The AI's sentences open the findings, each marked until reviewed.
            findings = "\n".join([*(entry["sentence"] for entry in ai), findings]).strip()
        report = Report.objects.create(
            study=study,
            case=case,
            hospital_id=case.hospital_id,
            kind=ReportKind.FINAL,
            template=template,
            language=language,
            technique=template.technique if template else "",
            comparison=template.comparison if template else "",
            findings=findings,
            impression=template.impression if template else "",
            ai_draft=ai,
            ai_review={entry["finding"]: "pending" for entry in ai},
            author=user,
        )
        audit_record(
            actor=user,
            action="report.open",
            target=report,
            hospital=case.hospital_id,
            patient_id=study.patient_id,
            request=request,
            detail={"template": template.name if template else None, "ai_sentences": len(ai)},
        )
    return report


# -- autosave -----------------------------------------------------------------------------------
def _cleaned_changes(changes: dict, *, report: Report, user) -> dict:
    """The columns a save writes: texts with macros expanded in the report's language (the one
    this save sets, if it sets one), the critical findings and AI review checked."""
    language = _clean_language(changes.get("language", report.language))
    texts = set(changes) - {"critical_findings", "ai_review", "language"}
    # Read once per save, not once per section.
    macros = macros_for(user=user, language=language) if texts else {}
    values = {}
    for name, value in changes.items():
        if name == "critical_findings":
            values[name] = _clean_critical(value)
        elif name == "ai_review":
            values[name] = _clean_review(value, report)
        elif name == "language":
            values[name] = language
        else:
            values[name] = expand_macros(_plain_text(value), macros=macros)
    return values


def report_save(*, report_id: int, user, revision: int, changes: dict, request=None) -> Report:
    """Save a draft from revision ``revision``; a stale revision is refused with 409."""
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise DomainError(
            "invalid",
            _("not editable: %(fields)s") % {"fields": ", ".join(sorted(unknown))},
            field=sorted(unknown)[0],
        )
    with transaction.atomic():
        report = Report.objects.select_related("case").filter(pk=report_id).first()
        if report is None:
            raise NotFound(_("No such report."))
        if report.is_signed:
            raise Conflict(
                "report_signed", _("A signed report cannot change; add an addendum instead.")
            )
        case = _locked_case_for_writer(report.case_id, user)
        values = _cleaned_changes(changes, report=report, user=user)
        now = timezone.now()
        # The guard: only a save from the current revision of a draft applies.
        saved = Report.objects.filter(
            pk=report_id, state=ReportState.DRAFT, revision=revision
        ).update(**values, revision=F("revision") + 1, author=user, updated_at=now)
        if not saved:
            current = Report.objects.get(pk=report_id)
            if current.is_signed:
                raise Conflict(
                    "report_signed", _("A signed report cannot change; add an addendum instead.")
                )
            raise Conflict(
                "stale_revision",
                _(
                    "This draft was saved elsewhere (revision %(current)s, you had "
                    "%(revision)s); reload it before saving again."
                )
                % {"current": current.revision, "revision": revision},
            )
        if case.state == CaseState.CLAIMED:
            case.state = CaseState.IN_REPORT
        case.last_activity_at = now
        case.save(update_fields=["state", "last_activity_at", "updated_at"])
        report.refresh_from_db()
        audit_record(
            actor=user,
            action="report.save",
            target=report,
            hospital=report.hospital_id,
            patient_id=case.study.patient_id,
            request=request,
            detail={"revision": report.revision, "fields": sorted(values)},
        )
        _announce(report, "report_saved")
    return report


# -- signing ---------------------------------------------------------------------------------
def _reauthenticate(user, password: str, *, report: Report, request) -> None:
    if password and user.check_password(password):
        return
    # Called before the signing transaction opens, so this line stays although nothing is signed.
    audit_record(
        actor=user,
        action="report.sign",
        target=report,
        hospital=report.hospital_id,
        outcome=Outcome.DENIED,
        request=request,
        detail={"reason": "password did not match"},
    )
    raise DomainError(
        "reauthentication_failed",
        _("Signing needs your password again, and it did not match. Nothing was signed."),
        field="password",
        status=403,
    )


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text or "") if s.strip()]


def ai_acceptance(report: Report) -> list[dict]:
    """How much of each AI sentence survived into the text being signed."""
    signed = _sentences(f"{report.findings}\n{report.impression}")
    outcome = []
    for entry in report.ai_draft:
        sentence = entry["sentence"]
        best = max(
            (difflib.SequenceMatcher(None, sentence.lower(), s.lower()).ratio() for s in signed),
            default=0.0,
        )
        review = report.ai_review.get(entry["finding"], "pending")
        if review == "rejected" or best < 0.5:
            verdict = "removed"
        elif sentence in signed:
            verdict = "kept"
        else:
            verdict = "edited"
        outcome.append(
            {
                "finding": entry["finding"],
                "model_name": entry["model_name"],
                "model_version": entry["model_version"],
                "review": review,
                "outcome": verdict,
                "similarity": round(best, 3),
            }
        )
    return outcome


def _next_version(study_id: int) -> int:
    top = Report.objects.filter(study_id=study_id).aggregate(top=Max("version_number"))["top"]
    return (top or 0) + 1


def _signature_name(user) -> str:
    name = user.get_full_name() or user.get_username()
    return f"{name}, MD" if user.is_radiologist and not name.endswith("MD") else name


def _freeze(report: Report, *, user, kind: str, now) -> None:
    """Turn the (locked) draft into its signed version: the only UPDATE it ever gets."""
    report.kind = kind
    report.state = ReportState.SIGNED
    report.version_number = _next_version(report.study_id)
    report.signed_by = user
    report.signed_at = now
    report.signature_name = _signature_name(user)
    report.signature_meaning = {
        ReportKind.PRELIMINARY: "preliminary report",
        ReportKind.FINAL: "final report",
        ReportKind.ADDENDUM: "addendum",
    }[ReportKind(kind)]
    report.ai_acceptance = ai_acceptance(report)
    report.content_sha256 = report.compute_sha256()
    report.save()


def _owed_to_hospital(report: Report, *, user, request) -> None:
    """In the signing transaction: what the hospital is owed (deliveries, critical results).

    Hook "reports.report_signed": publish(report=, user=, request=): the signed version (a
    final, preliminary or addendum), who signed it and his request. Subscribers run in this
    transaction, in INSTALLED_APPS order (delivery queues its deliveries, then critical opens
    the results of the report's critical findings): what they write and defer exists only if
    the signature commits, and their failure rolls the signature back.
    """
    hooks.publish("reports.report_signed", report=report, user=user, request=request)


# -- what signing checks ----------------------------------------------------------------------
SECTION_LABELS = {
    "technique": _("Technique"),
    "comparison": _("Comparison"),
    "findings": _("Findings"),
    "impression": _("Impression"),
}
# A heading of a structured template: "Lungs: " (text after the colon, if any, is its content).
_HEADING = re.compile(r"^\s*([^:\n]{1,60}):[ \t]*(.*)$")


def _check_before_signing(report: Report, *, revision: int | None) -> None:
    """What must hold before anything is signed: the text the reader saw, the AI's sentences
    reviewed, an impression, and every section the template requires."""
    if revision is not None and revision != report.revision:
        raise Conflict(
            "stale_revision",
            _(
                "You are signing revision %(revision)s but revision %(current)s was saved "
                "since; reload and check the text before signing."
            )
            % {"revision": revision, "current": report.revision},
        )
    pending = [
        e["label"] for e in report.ai_draft if report.ai_review.get(e["finding"]) == "pending"
    ]
    if pending:
        raise Conflict(
            "ai_draft_unreviewed",
            _("Accept, edit or reject the AI-drafted text first (%(findings)s).")
            % {"findings": ", ".join(pending)},
        )
    if not report.impression.strip():
        raise DomainError(
            "impression_required", _("A report needs an impression."), field="impression"
        )
    required = set(report.template.required_sections) if report.template_id else set()
    for name in SECTIONS:
        if name in required and not getattr(report, name).strip():
            raise DomainError(
                "section_required",
                _("%(section)s is required by the template “%(template)s”: fill it in before "
                  "signing.") % {"section": SECTION_LABELS[name], "template": report.template.name},
                field=name,
            )  # fmt: skip


def template_headings(template: ReportTemplate | None) -> list[str]:
    """The headings of a template's findings ("Lungs", "Pleura"), in order."""
    if template is None:
        return []
    found = (_HEADING.match(line) for line in template.findings.split("\n"))
    return [m.group(1).strip() for m in found if m]


def _heading_of(line: str, headings: set[str]) -> tuple[str, str] | None:
    match = _HEADING.match(line)
    if match and match.group(1).strip() in headings:
        return match.group(1).strip(), match.group(2).strip()
    return None


def _without_empty_headings(text: str, headings: set[str]) -> tuple[str, list[str]]:
    """The text less the template's headings left empty (nothing after the colon and no text
    of their own on the lines below), and which those were."""
    lines = text.split("\n")
    kept, empty = [], []
    for index, line in enumerate(lines):
        heading = _heading_of(line, headings)
        if heading is None or heading[1]:
            kept.append(line)
            continue
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following.strip() and _heading_of(following, headings) is None:
            kept.append(line)  # its text is on the next line
            continue
        empty.append(heading[0])
    return "\n".join(kept).strip(), empty


def findings_at_signing(report: Report) -> str:
    """The findings as they are signed: the template's headings left empty are dropped (the
    hospital reads no "Pleura:" with nothing after it); a required one left empty refuses the
    signature, naming it."""
    headings = set(template_headings(report.template))
    if not headings:
        return report.findings
    findings, empty = _without_empty_headings(report.findings, headings)
    required = set(report.template.required_sections)
    missing = [name for name in empty if name in required]
    if missing:
        raise DomainError(
            "section_required",
            ngettext(
                "Fill in %(headings)s in the findings: the template “%(template)s” requires it. "
                "Nothing was signed.",
                "Fill in %(headings)s in the findings: the template “%(template)s” requires "
                "them. Nothing was signed.",
                len(missing),
            )
            % {
                "headings": ", ".join(f"“{name}”" for name in missing),
                "template": report.template.name,
            },
            field="findings",
        )
    return findings


# -- the critical-finding check ---------------------------------------------------------------
CRITICAL_DECISIONS = ("critical", "not_critical")


def _ai_source(entry: dict) -> dict:
    probability = entry.get("probability")
    p = f", p={probability:.2f}" if isinstance(probability, int | float) else ""
    text = f"{entry['model_name']} {entry['model_version']} flagged {entry['label']}{p}"
    return {"kind": "ai", "text": text}


def critical_prompts(report: Report) -> list[dict]:
    """What signing asks about: each finding the AI flagged that the report's template lists
    as critical (unless the reader rejected the AI's sentence: that is his answer), and each
    critical finding the impression names (reports.critical_rules), with where it came from
    and whether one of the report's critical findings already names it (``marked``)."""
    prompts: dict[str, dict] = {}

    def prompt_for(term):
        return prompts.setdefault(
            term.key,
            {"key": term.key, "label": term.label, "category": term.category, "sources": []},
        )

    listed = set(report.template.critical_terms) if report.template_id else set()
    for entry in report.ai_draft:
        term = critical_rules.term_for_ai(entry.get("code", ""), entry.get("label", ""))
        rejected = report.ai_review.get(entry.get("finding")) == "rejected"
        if term is not None and term.key in listed and not rejected:
            prompt_for(term)["sources"].append(_ai_source(entry))
    for mention in critical_rules.mentions(report.impression):
        prompt_for(mention.term)["sources"].append({"kind": "impression", "text": mention.sentence})
    for prompt in prompts.values():
        term = critical_rules.BY_KEY[prompt["key"]]
        prompt["marked"] = any(
            critical_rules.names(c.get("finding", ""), term) for c in report.critical_findings
        )
    return list(prompts.values())


def _clean_answers(answers) -> dict[str, dict]:
    if not answers:
        return {}
    valid = isinstance(answers, list) and all(
        isinstance(a, dict)
        and a.get("key") in critical_rules.KEYS
        and a.get("decision") in CRITICAL_DECISIONS
        and a.get("category", "") in ("", None, *CriticalCategory.values)
        for a in answers
    )
    if not valid:
        raise DomainError(
            "invalid",
            _(
                "critical_answers is a list of {key, decision: critical|not_critical, "
                "category, reason}; keys: %(keys)s"
            )
            % {"keys": ", ".join(critical_rules.KEYS)},
            field="critical_answers",
        )
    return {a["key"]: a for a in answers}


def _marked_finding(prompt: dict) -> str:
    """The words of a finding marked critical at the prompt: the impression's sentence that
    names it, else the finding's name."""
    for source in prompt["sources"]:
        if source["kind"] == "impression":
            return source["text"][:500]
    return prompt["label"][:1].upper() + prompt["label"][1:]


def _answered(prompt: dict, answer: dict) -> tuple[dict, dict | None] | None:
    """(the review line, a critical finding to add) for one prompt, or None: unanswered."""
    entry = {k: prompt[k] for k in ("key", "label", "sources")}
    if prompt["marked"]:
        return {**entry, "decision": "marked"}, None
    if answer.get("decision") == "critical":
        category = answer.get("category") or prompt["category"]
        marked = {"finding": _marked_finding(prompt), "category": category}
        return {**entry, "decision": "critical", "category": category}, marked
    reason = str(answer.get("reason") or "").strip()
    if answer.get("decision") == "not_critical" and reason:
        return {**entry, "decision": "not_critical", "reason": reason[:500]}, None
    return None


def critical_review(report: Report, answers=None) -> tuple[list[dict], list[dict]]:
    """The answer to each critical-finding prompt, and the critical findings it adds; refused
    (409 critical_unanswered, nothing signed) while one is unanswered."""
    by_key = _clean_answers(answers)
    review, marked, unanswered = [], [], []
    for prompt in critical_prompts(report):
        result = _answered(prompt, by_key.get(prompt["key"], {}))
        if result is None:
            unanswered.append(prompt)
            continue
        review.append(result[0])
        if result[1] is not None:
            marked.append(result[1])
    if unanswered:
        source_words = {"ai": _("AI flag"), "impression": _("impression")}
        named = "; ".join(
            f"{p['label']} ({', '.join(str(source_words[s['kind']]) for s in p['sources'])})"
            for p in unanswered
        )
        raise DomainError(
            "critical_unanswered",
            _(
                "Critical finding check: %(findings)s. Mark each one critical, or say why it is "
                "not. Nothing was signed."
            )
            % {"findings": named},
            field="critical_answers",
            status=409,
        )
    return review, marked


def report_sign(
    *,
    report_id: int,
    user,
    password: str,
    kind: str,
    revision: int | None = None,
    critical_answers: list[dict] | None = None,
    request=None,
) -> Report:
    """Sign the case's draft as a preliminary or the final report.

    ``critical_answers`` answer the critical-finding check (``critical_prompts``): for each
    finding the AI flagged or the impression named, ``{"key", "decision": "critical",
    "category"}`` (it becomes one of the report's critical findings) or ``{"key", "decision":
    "not_critical", "reason"}``. Unanswered, signing is refused (409 critical_unanswered).
    """
    if kind not in (ReportKind.PRELIMINARY, ReportKind.FINAL):
        raise DomainError(
            "invalid", _("kind is 'preliminary' or 'final'"), field="kind", status=400
        )
    report = Report.objects.select_related("case").filter(pk=report_id).first()
    if report is None:
        raise NotFound(_("No such report."))
    _reauthenticate(user, password, report=report, request=request)
    with transaction.atomic():
        # The case lock serialises everything that writes this study's reports.
        case = _locked_case_for_writer(report.case_id, user)
        report = Report.objects.select_for_update().get(pk=report_id)
        if report.is_signed or report.kind == ReportKind.ADDENDUM:
            raise Conflict("report_signed", _("This report is already signed."))
        _check_before_signing(report, revision=revision)
        report.findings = findings_at_signing(report)
        review, marked = critical_review(report, critical_answers)
        report.critical_findings = [*report.critical_findings, *marked]
        report.critical_review = review
        now = timezone.now()
        _freeze(report, user=user, kind=kind, now=now)
        if kind == ReportKind.PRELIMINARY:
            # The reader goes on to the final from what he signed.
            Report.objects.create(
                study_id=report.study_id,
                case=case,
                hospital_id=report.hospital_id,
                kind=ReportKind.FINAL,
                parent=report,
                template=report.template,
                language=report.language,
                **{name: getattr(report, name) for name in SECTIONS},
                critical_findings=[],
                ai_draft=report.ai_draft,
                ai_review=report.ai_review,
                author=user,
            )
            case.state = CaseState.IN_REPORT
            case.preliminary_at = case.preliminary_at or now
        else:
            case.state = CaseState.SIGNED
            case.signed_at = now
        case.last_activity_at = now
        case.save(
            update_fields=["state", "preliminary_at", "signed_at", "last_activity_at", "updated_at"]
        )
        _owed_to_hospital(report, user=user, request=request)
        audit_record(
            actor=user,
            action="report.sign",
            target=report,
            hospital=report.hospital_id,
            patient_id=case.study.patient_id,
            request=request,
            detail={
                "kind": kind,
                "version_number": report.version_number,
                "content_sha256": report.content_sha256,
                "critical_findings": len(report.critical_findings),
                "critical_review": [
                    {k: r.get(k) for k in ("key", "decision", "category", "reason") if r.get(k)}
                    for r in report.critical_review
                ],
            },
        )
        report.case = case
        _announce(report, "signed" if kind == ReportKind.FINAL else "preliminary")
    return report


def report_addendum(
    *,
    report_id: int,
    user,
    password: str,
    text: str,
    critical_findings=None,
    request=None,
) -> Report:
    """A signed correction to a final report; the original stays exactly as it was."""
    from readingcenter.accounts.selectors import privileged_hospital_ids

    text = _plain_text(text).strip()
    original = Report.objects.select_related("case", "study").filter(pk=report_id).first()
    if original is None or not (
        user.is_radiologist and original.hospital_id in privileged_hospital_ids(user)
    ):
        raise NotFound(_("No such report."))
    if not (original.is_signed and original.kind in (ReportKind.FINAL, ReportKind.ADDENDUM)):
        raise Conflict(
            "not_final",
            _("Addenda amend a signed final report; finish and sign the report first."),
        )
    if not text:
        raise DomainError("invalid", _("An addendum needs its text."), field="text")
    critical = _clean_critical(critical_findings or [])
    _reauthenticate(user, password, report=original, request=request)
    with transaction.atomic():
        case = (
            Case.objects.select_for_update(of=("self",))
            .select_related("study")
            .get(pk=original.case_id)
        )
        # Context for the reader: the latest signed text, which the addendum amends.
        latest = (
            Report.objects.filter(study_id=original.study_id, state=ReportState.SIGNED)
            .order_by("-version_number")
            .first()
        )
        final = original if original.kind == ReportKind.FINAL else original.parent
        addendum = Report.objects.create(
            study_id=original.study_id,
            case=case,
            hospital_id=original.hospital_id,
            kind=ReportKind.ADDENDUM,
            parent=final,
            language=latest.language,
            **{name: getattr(latest, name) for name in SECTIONS},
            addendum_text=text,
            critical_findings=critical,
            author=user,
        )
        _freeze(addendum, user=user, kind=ReportKind.ADDENDUM, now=timezone.now())
        _owed_to_hospital(addendum, user=user, request=request)
        audit_record(
            actor=user,
            action="report.addendum",
            target=addendum,
            hospital=addendum.hospital_id,
            patient_id=case.study.patient_id,
            request=request,
            detail={
                "amends": final.version_number,
                "version_number": addendum.version_number,
                "content_sha256": addendum.content_sha256,
            },
        )
        addendum.case = case
        _announce(addendum, "addendum")
    return addendum


# -- managers --------------------------------------------------------------------------------
def macro_save(*, user, code: str, text: str, shared: bool = False, language: str = "en") -> Macro:
    code = (code or "").strip()
    if not re.fullmatch(r"\.[\w-]{1,30}", code):
        raise DomainError(
            "invalid", _("A macro code starts with a dot, e.g. .nml"), field="code", status=400
        )
    if shared and not user.is_manager:
        raise DomainError("forbidden", _("Only managers add shared macros."), status=403)
    macro, _created = Macro.objects.update_or_create(
        owner=None if shared else user,
        code=code,
        language=_clean_language(language),
        defaults={"text": text},
    )
    audit_record(
        actor=user, action="macro.save", target=macro, detail={"code": code, "language": language}
    )
    return macro


def report_templates_load(path: Path | None = None) -> int:
    """The shipped templates and shared macros (fixtures/report_templates.json).

    Idempotent: a template or macro that exists is left as the managers made it.
    """
    path = path or Path(settings.BASE_DIR) / "fixtures" / "report_templates.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    created = 0
    with transaction.atomic():
        for values in data["templates"]:
            _template, made = ReportTemplate.objects.get_or_create(
                modality=values["modality"],
                body_part=values.get("body_part", ""),
                language=values.get("language", "en"),
                name=values["name"],
                defaults={k: v for k, v in values.items() if k in TEMPLATE_FIELDS},
            )
            created += made
        for values in data["macros"]:
            _macro, made = Macro.objects.get_or_create(
                owner=None,
                code=values["code"],
                language=values.get("language", "en"),
                defaults={"text": values["text"]},
            )
            created += made
    return created
