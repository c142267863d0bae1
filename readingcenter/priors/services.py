"""Fetching a new study's priors from its hospital's PACS. The only writer of the priors app.

On arrival (hook ``studies.study_received``) a lookup is recorded and its job deferred in the
ingest transaction. The job C-FINDs the patient's studies at the hospital's PACS, keeps those
the hospital's rules call relevant, records each as a fetch (committed before the move, so
that ingest knows what arrives for a prior) and C-MOVEs (or C-GETs) them into our Orthanc. A
PACS that is down or refuses leaves the case readable and says "priors unavailable: <why>";
the job is retried with backoff.
"""

from __future__ import annotations

import datetime as dt
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from readingcenter.audit.services import audit_record
from readingcenter.hospitals.models import HospitalPACS
from readingcenter.priors import qr
from readingcenter.priors.models import PriorFetch, PriorLookup
from readingcenter.studies.models import Study

SYSTEM_PRIORS = "system:priors"
MAX_ATTEMPTS = 6

# Words for a body part in study descriptions, in the hospitals' languages.
BODY_PART_WORDS = {
    "HEAD": ("head", "brain", "skull", "cranial", "두부", "뇌", "头颅", "颅脑", "头部"),
    "CHEST": ("chest", "thorax", "lung", "흉부", "폐", "胸部", "胸"),
    "ABDOMEN": ("abdomen", "abdominal", "liver", "복부", "腹部"),
    "SPINE": ("spine", "cervical", "lumbar", "thoracic spine", "척추", "脊柱"),
    "PELVIS": ("pelvis", "hip", "골반", "盆腔"),
}


class PriorsUnavailable(RuntimeError):
    """The PACS could not give the priors this time; the job is retried."""


def _pacs(study: Study) -> HospitalPACS | None:
    pacs = HospitalPACS.objects.filter(hospital_id=study.hospital_id, enabled=True).first()
    return pacs if pacs is not None and study.patient_id else None


def priors_lookup_open(study: Study) -> PriorLookup | None:
    """In the ingest transaction: record that the study's priors are to be looked for."""
    if study.is_prior or _pacs(study) is None:
        return None
    # The hook is published only where the study's row is created, in this transaction: it has
    # no lookup yet, so a plain INSERT (get_or_create costs a read and a savepoint more).
    return PriorLookup.objects.create(study=study)


def arrival_is_prior(*, hospital, study_instance_uid: str) -> bool:
    return PriorFetch.objects.filter(
        hospital=hospital, study_instance_uid=study_instance_uid
    ).exists()


def _body_words(study: Study) -> set[str]:
    part = (study.body_part_examined or "").upper()
    words = set(BODY_PART_WORDS.get(part, ()))
    if part:
        words.add(part.lower())
    description = f"{study.study_description} {study.requested_procedure_description}".lower()
    for key, synonyms in BODY_PART_WORDS.items():
        if any(w in description for w in synonyms):
            words |= set(synonyms) | {key.lower()}
    return words


def choose_priors(study: Study, found: list, pacs: HospitalPACS, *, today=None) -> list:
    """The relevant earlier studies by the hospital's rules, newest first, at most N."""
    today = today or timezone.now().date()
    cutoff = (today - dt.timedelta(days=365 * pacs.max_years)).strftime("%Y%m%d")
    mine = set(study.modalities or [])
    body = _body_words(study)
    keywords = [k.strip().lower() for k in pacs.keywords.split(",") if k.strip()]
    chosen = []
    for candidate in found:
        if candidate.study_instance_uid in ("", study.study_instance_uid):
            continue
        if candidate.study_date and candidate.study_date < cutoff:
            continue
        description = candidate.study_description.lower()
        same_modality = bool(mine & set(candidate.modalities))
        same_body = any(w in description for w in body)
        keyword = any(k in description for k in keywords)
        relevant = (
            keyword
            or {
                HospitalPACS.Match.MODALITY: same_modality,
                HospitalPACS.Match.BODY_PART: same_body,
                HospitalPACS.Match.EITHER: same_modality or same_body,
            }[pacs.match]
        )
        if relevant:
            chosen.append(candidate)
    return chosen[: pacs.max_studies]


def _orthanc_peer() -> qr.Peer:
    host = urlsplit(settings.ORTHANC_URL).hostname or "127.0.0.1"
    return qr.Peer(settings.ORTHANC_AET, host, settings.ORTHANC_DICOM_PORT)


def priors_lookup_run(*, study_id: int) -> PriorLookup | None:
    """Query, choose, record and retrieve; raises PriorsUnavailable when it is worth retrying."""
    lookup = PriorLookup.objects.select_related("study").filter(study_id=study_id).first()
    if lookup is None or lookup.state == PriorLookup.State.DONE:
        return lookup
    study = lookup.study
    pacs = _pacs(study)
    if pacs is None:
        return _finish(lookup, error="the hospital's PACS is not configured or is switched off")
    peer = qr.Peer(pacs.ae_title, pacs.host, pacs.port)
    PriorLookup.objects.filter(pk=lookup.pk).update(attempts=lookup.attempts + 1)
    lookup.attempts += 1
    try:
        found = qr.find_studies(peer, calling_aet=settings.ORTHANC_AET,
                                patient_id=study.patient_id,
                                issuer=study.issuer_of_patient_id)  # fmt: skip
    except qr.QRError as exc:
        _finish(lookup, error=str(exc))
        raise PriorsUnavailable(str(exc)) from exc
    chosen = choose_priors(study, found, pacs)
    have = set(
        Study.objects.filter(
            hospital_id=study.hospital_id,
            study_instance_uid__in=[c.study_instance_uid for c in chosen],
        ).values_list("study_instance_uid", flat=True)
    )
    with transaction.atomic():  # committed before any move: ingest must know them as priors
        fetches = [
            PriorFetch.objects.get_or_create(
                lookup=lookup, study_instance_uid=c.study_instance_uid,
                defaults={"hospital_id": study.hospital_id, "study_date": c.study_date,
                          "study_description": c.study_description[:200],
                          "modalities": ",".join(c.modalities)[:64], "instances": c.instances},
            )[0]
            for c in chosen if c.study_instance_uid not in have
        ]  # fmt: skip
    errors = [e for e in (_retrieve(fetch, pacs, peer) for fetch in fetches) if e]
    lookup.found, lookup.chosen = len(found), len(chosen)
    _finish(lookup, error="; ".join(errors))
    audit_record(
        actor=SYSTEM_PRIORS, action="priors.lookup", target=study, hospital=study.hospital_id,
        patient_id=study.patient_id,
        detail={"pacs": str(peer), "found": len(found), "relevant": len(chosen),
                "retrieved": [f.study_instance_uid for f in fetches if f.state == "retrieved"],
                "already_here": sorted(have), "errors": errors},
    )  # fmt: skip
    if errors:
        raise PriorsUnavailable("; ".join(errors))
    return lookup


def _retrieve(fetch: PriorFetch, pacs: HospitalPACS, peer: qr.Peer) -> str:
    """One prior into our Orthanc; returns "" or what went wrong."""
    if fetch.state == PriorFetch.State.RETRIEVED:
        return ""
    started = time.monotonic()
    try:
        if pacs.retrieve == HospitalPACS.Retrieve.GET:
            kept = []
            qr.get_study(peer, calling_aet=settings.ORTHANC_AET,
                         study_uid=fetch.study_instance_uid, keep=kept.append)  # fmt: skip
            qr.store(_orthanc_peer(), kept, calling_aet=pacs.ae_title)
        else:
            qr.move_study(peer, calling_aet=settings.ORTHANC_AET,
                          destination=settings.ORTHANC_AET,
                          study_uid=fetch.study_instance_uid)  # fmt: skip
    except qr.QRError as exc:
        fetch.state, fetch.error = PriorFetch.State.FAILED, str(exc)
        fetch.save(update_fields=["state", "error"])
        return str(exc)
    fetch.state, fetch.error = PriorFetch.State.RETRIEVED, ""
    fetch.retrieved_at = timezone.now()
    fetch.seconds = time.monotonic() - started
    fetch.save(update_fields=["state", "error", "retrieved_at", "seconds"])
    return ""


def _finish(lookup: PriorLookup, *, error: str) -> PriorLookup:
    failed = bool(error)
    lookup.state = PriorLookup.State.FAILED if failed else PriorLookup.State.DONE
    lookup.error = error[:2000]
    lookup.finished_at = timezone.now()
    lookup.next_try_at = (
        timezone.now() + dt.timedelta(seconds=retry_wait(lookup.attempts))
        if failed and lookup.attempts < MAX_ATTEMPTS
        else None
    )
    lookup.save()
    return lookup


def retry_wait(attempt: int) -> int:
    """Seconds before the next try after ``attempt`` failed ones: 10 s, 20 s, 40 s... 5 min."""
    return min(300, 10 * 2 ** max(0, attempt - 1))


def lookup_attempts(study_id: int) -> int:
    return (
        PriorLookup.objects.filter(study_id=study_id).values_list("attempts", flat=True).first()
        or 0
    )
