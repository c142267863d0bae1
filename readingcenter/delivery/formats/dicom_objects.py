"""The signed report as DICOM objects in the hospital's own study.

Two objects, because PACS differ in what they show: an Encapsulated PDF (every viewer opens
it; it looks exactly like the printed report) and a Comprehensive SR built with highdicom
(the text by section, the AI findings coded with the algorithm that made them, the signer as
verifying observer), which reporting systems and registries can read by machine.

Both carry the study's patient and study modules as the hospital sent them, in UTF-8
(ISO_IR 192: a Korean name in Hangul and a Chinese one in Han in the same object), and UIDs
derived from the report and version, so a resend is the same instance, never a second copy.
"""

from __future__ import annotations

import warnings

import highdicom as hd
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ComprehensiveSRStorage,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
)
from pydicom.valuerep import DA, DT, TM

from readingcenter.delivery.document import AIFinding, ReportDocument
from readingcenter.delivery.formats.common import (
    REPORT_CODE,
    STATUS_LABELS,
    UID_KIND_PDF,
    UID_KIND_SR,
    FormatError,
    ai_verdict,
    check_document,
    critical_text,
    derived_uid,
    device_uid,
    in_report_language,
    local,
    utc_offset,
)

CHARSET = "ISO_IR 192"
# Series numbers high enough not to collide with the modality's own (1, 2, 3...).
SR_SERIES_NUMBER = 9901
PDF_SERIES_NUMBER = 9902

RELATION = hd.sr.RelationshipTypeValues


def _code(value: str, scheme: str, meaning: str) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


# Section headings (CID 7001) and the text items under them (CID 7002), as TID 2000/2001 use.
TITLE = _code(REPORT_CODE[0], REPORT_CODE[1], "Diagnostic Imaging Report")
CLINICAL_INFORMATION = _code("55752-0", "LN", "Clinical Information")
HISTORY = _code("121060", "DCM", "History")
CURRENT_PROCEDURE = _code("55111-9", "LN", "Current Procedure Descriptions")
PRIOR_PROCEDURE = _code("55114-3", "LN", "Prior Procedure Descriptions")
PROCEDURE_DESCRIPTION = _code("121065", "DCM", "Procedure Description")
FINDINGS = _code("59776-5", "LN", "Findings")
FINDING = _code("121071", "DCM", "Finding")
IMPRESSIONS = _code("19005-8", "LN", "Impressions")
IMPRESSION = _code("121073", "DCM", "Impression")
CRITICAL_RESULTS = _code("73568-8", "LN", "Communication of Critical Results")
ADDENDUM = _code("55107-7", "LN", "Addendum")
ADDENDUM_TEXT = _code("121078", "DCM", "Addendum")
PROBABILITY = _code("122157", "DCM", "Probability")
NO_UNITS = _code("1", "UCUM", "no units")
COMMENT = _code("121106", "DCM", "Comment")
PERSON = _code("121006", "DCM", "Person")
DEVICE = _code("121007", "DCM", "Device")


def _pn(value: str) -> str:
    return value or ""


def _signer_pn(doc: ReportDocument) -> str:
    # The signer's printed name ("Lee Seoyeon, MD") is not split into PN components; put
    # it whole in the family-name component rather than guess which word is the surname.
    return f"{doc.signed_by_name.replace('^', ' ').replace('=', ' ')}^"


def _uids(doc: ReportDocument, kind: int) -> tuple[str, str]:
    return derived_uid(doc, kind), derived_uid(doc, kind, version=doc.version_number)


def _patient_and_study(ds: Dataset, doc: ReportDocument) -> None:
    """The Patient and General Study modules, as the hospital's study has them."""
    ds.SpecificCharacterSet = CHARSET
    ds.PatientName = _pn(doc.patient_name)
    ds.PatientID = doc.patient_id
    ds.PatientBirthDate = DA(doc.patient_birth_date) if doc.patient_birth_date else ""
    ds.PatientSex = doc.patient_sex if doc.patient_sex in {"M", "F", "O"} else ""
    ds.StudyInstanceUID = doc.study_instance_uid
    ds.StudyDate = DA(doc.study_date) if doc.study_date else ""
    ds.StudyTime = TM(doc.study_time) if doc.study_time else ""
    ds.ReferringPhysicianName = _pn(doc.referring_physician_name)
    ds.StudyID = doc.study_id[:16]
    ds.AccessionNumber = doc.accession_number[:16]
    if doc.study_description:
        ds.StudyDescription = doc.study_description[:64]


def _signed_moments(doc: ReportDocument) -> dict:
    """Dates and times in the hospital's zone, with the offset stated (DICOM dates are local)."""
    moment = local(doc, doc.signed_at).replace(microsecond=0)
    return {
        "date": DA(moment.date()),
        "time": TM(moment.time().replace(tzinfo=None)),
        "datetime": DT(moment.strftime("%Y%m%d%H%M%S") + utc_offset(moment)),
        "offset": utc_offset(moment),
    }


def _title_item() -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = REPORT_CODE
    return item


def _document_title(doc: ReportDocument) -> str:
    return f"Diagnostic imaging report ({STATUS_LABELS[doc.status].lower()})"


# -- Encapsulated PDF ---------------------------------------------------------------------------
@in_report_language
def encapsulated_pdf(doc: ReportDocument, pdf: bytes) -> Dataset:
    """Encapsulated PDF Storage in the report's study (Modality DOC)."""
    check_document(doc)
    if not pdf.startswith(b"%PDF-"):
        raise FormatError("encapsulated_pdf needs the PDF's bytes (render_pdf's output)")
    series_instance_uid, sop_instance_uid = _uids(doc, UID_KIND_PDF)
    when = _signed_moments(doc)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    _patient_and_study(ds, doc)
    # Encapsulated Document Series
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_instance_uid
    ds.SeriesNumber = PDF_SERIES_NUMBER
    ds.SeriesDescription = f"Report PDF ({doc.reading_center_name})"[:64]
    # General Equipment and SC Equipment: a workstation made it, not an acquisition device.
    ds.Manufacturer = doc.reading_center_name[:64]
    ds.InstitutionName = doc.reading_center_name[:64]
    ds.ConversionType = "WSD"
    # Encapsulated Document
    ds.InstanceNumber = doc.version_number
    ds.ContentDate = when["date"]
    ds.ContentTime = when["time"]
    ds.AcquisitionDateTime = when["datetime"]
    ds.TimezoneOffsetFromUTC = when["offset"]
    # The PDF prints the patient's name and ID on every page.
    ds.BurnedInAnnotation = "YES"
    ds.RecognizableVisualFeatures = "NO"
    ds.DocumentTitle = _document_title(doc)
    ds.ConceptNameCodeSequence = [_title_item()]
    ds.VerificationFlag = "UNVERIFIED" if doc.status == "preliminary" else "VERIFIED"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    # OB values have even length; the length attribute tells readers where the PDF ends.
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    # SOP Common
    ds.SOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceCreationDate = when["date"]
    ds.InstanceCreationTime = when["time"]
    return ds


# -- Comprehensive SR ---------------------------------------------------------------------------
def _text(name: hd.sr.CodedConcept, value: str, relation=RELATION.CONTAINS):
    return hd.sr.TextContentItem(name=name, value=value.strip(), relationship_type=relation)


def _section(heading: hd.sr.CodedConcept, items: list) -> hd.sr.ContainerContentItem:
    container = hd.sr.ContainerContentItem(name=heading, relationship_type=RELATION.CONTAINS)
    container.ContentSequence = hd.sr.ContentSequence(items)
    return container


def _ai_item(finding: AIFinding) -> hd.sr.CodeContentItem:
    """One AI flag: the finding coded, the model that made it, its probability, the verdict."""
    item = hd.sr.CodeContentItem(
        name=FINDING,
        value=_code(finding.code.value, finding.code.scheme, finding.code.meaning),
        relationship_type=RELATION.CONTAINS,
    )
    device = hd.sr.ObserverContext(
        observer_type=DEVICE,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=device_uid(finding),
            name=finding.model_name[:64],
            model_name=f"{finding.model_name} {finding.model_version}"[:64],
        ),
    )
    algorithm = hd.sr.AlgorithmIdentification(
        name=finding.model_name[:64],
        version=finding.model_version[:64],
        parameters=[
            f"threshold={finding.threshold:g}",
            f"weights_sha256={finding.weights_sha256}",
        ],
    )
    probability = hd.sr.NumContentItem(
        name=PROBABILITY,
        value=round(float(finding.probability), 6),
        unit=NO_UNITS,
        relationship_type=RELATION.HAS_PROPERTIES,
    )
    verdict = _text(COMMENT, ai_verdict(finding), RELATION.HAS_PROPERTIES)
    item.ContentSequence = hd.sr.ContentSequence([*device, *algorithm, probability, verdict])
    return item


def _content(doc: ReportDocument) -> hd.sr.ContainerContentItem:
    root = hd.sr.ContainerContentItem(name=TITLE, template_id="2000")
    observer = hd.sr.ObserverContext(
        observer_type=PERSON,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=_signer_pn(doc)
        ),
    )
    sections: list = []
    if doc.clinical_history.strip():
        sections.append(_section(CLINICAL_INFORMATION, [_text(HISTORY, doc.clinical_history)]))
    if doc.is_amended and doc.addendum_text.strip():
        sections.append(_section(ADDENDUM, [_text(ADDENDUM_TEXT, doc.addendum_text)]))
    if doc.technique.strip():
        sections.append(_section(CURRENT_PROCEDURE, [_text(PROCEDURE_DESCRIPTION, doc.technique)]))
    if doc.comparison.strip():
        sections.append(_section(PRIOR_PROCEDURE, [_text(PROCEDURE_DESCRIPTION, doc.comparison)]))
    findings = [_text(FINDING, doc.findings)] if doc.findings.strip() else []
    findings += [_ai_item(f) for f in doc.ai_findings]
    if findings:
        sections.append(_section(FINDINGS, findings))
    if doc.impression.strip():
        sections.append(_section(IMPRESSIONS, [_text(IMPRESSION, doc.impression)]))
    if doc.critical_findings:
        sections.append(
            _section(
                CRITICAL_RESULTS,
                [
                    _text(FINDING, f"{c.finding} ({critical_text(c.category)})")
                    for c in doc.critical_findings
                ],
            )
        )
    root.ContentSequence = hd.sr.ContentSequence([*observer, *sections])
    return root


def _study_stand_in(doc: ReportDocument) -> Dataset:
    """What highdicom copies the patient and study modules from.

    highdicom takes them from "evidence" instances; the report cites no image, so this stand
    in carries the study's attributes and the SR's own UIDs, and the evidence list it leads
    to is dropped again (it would claim an instance that does not exist).
    """
    ds = Dataset()
    _patient_and_study(ds, doc)
    ds.SOPClassUID = ComprehensiveSRStorage
    ds.SeriesInstanceUID, ds.SOPInstanceUID = _uids(doc, UID_KIND_SR)
    return ds


def _predecessor(doc: ReportDocument) -> Dataset | None:
    if not doc.replaces_version:
        return None
    ds = Dataset()
    ds.SOPClassUID = ComprehensiveSRStorage
    ds.StudyInstanceUID = doc.study_instance_uid
    ds.SeriesInstanceUID = derived_uid(doc, UID_KIND_SR)
    ds.SOPInstanceUID = derived_uid(doc, UID_KIND_SR, version=doc.replaces_version)
    return ds


def _comprehensive_sr(doc, series_instance_uid, sop_instance_uid, when, verified):
    predecessor = _predecessor(doc)
    return hd.sr.ComprehensiveSR(
        evidence=[_study_stand_in(doc)],
        content=_content(doc),
        series_instance_uid=series_instance_uid,
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=sop_instance_uid,
        instance_number=doc.version_number,
        manufacturer=doc.reading_center_name[:64],
        institution_name=doc.reading_center_name[:64],
        is_complete=True,
        is_final=doc.status != "preliminary",
        is_verified=verified,
        verifying_observer_name=_signer_pn(doc) if verified else None,
        verifying_organization=doc.reading_center_name[:64] if verified else None,
        previous_versions=[predecessor] if predecessor is not None else None,
        record_evidence=False,
        series_description=f"Report SR ({doc.reading_center_name})"[:64],
        content_date=when["date"],
        content_time=when["time"],
        specific_character_set=CHARSET,
    )


@in_report_language
def structured_report(doc: ReportDocument) -> Dataset:
    """A Comprehensive SR (TID 2000 Basic Diagnostic Imaging Report) of the signed report.

    Its free-text items (the AI verdicts, the critical categories) are in the report's
    language; coded concepts keep their standard meanings, and the titles stay English."""
    check_document(doc)
    series_instance_uid, sop_instance_uid = _uids(doc, UID_KIND_SR)
    when = _signed_moments(doc)
    verified = doc.status != "preliminary"
    with warnings.catch_warnings():
        # highdicom doubts one-component names ("BRAINIX"); the name is the hospital's, as
        # received, and stays as it is.
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        sr = _comprehensive_sr(doc, series_instance_uid, sop_instance_uid, when, verified)
    if "CurrentRequestedProcedureEvidenceSequence" in sr:
        del sr.CurrentRequestedProcedureEvidenceSequence
    # highdicom stamps "now"; the signature's moment keeps the object a function of the report.
    sr.InstanceCreationDate = when["date"]
    sr.InstanceCreationTime = when["time"]
    sr.TimezoneOffsetFromUTC = when["offset"]
    for equipment in sr.get("ContributingEquipmentSequence", []):
        equipment.ContributionDateTime = when["datetime"]
    if verified:
        observer = sr.VerifyingObserverSequence[0]
        observer.VerificationDateTime = when["datetime"]
    return sr
