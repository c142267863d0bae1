"""The DICOM objects belong to the hospital's study and carry the signed report as signed."""

from __future__ import annotations

import datetime as dt

import pytest
from pydicom import dcmread
from pydicom.uid import ComprehensiveSRStorage, EncapsulatedPDFStorage

from readingcenter.delivery.formats.dicom_objects import encapsulated_pdf, structured_report
from readingcenter.delivery.formats.pdf import render_pdf


def _roundtrip(ds, tmp_path, name):
    path = tmp_path / f"{name}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return dcmread(path)


def test_the_encapsulated_pdf_is_in_the_study_with_the_patient_in_both_scripts(
    report_document, tmp_path
):
    doc = report_document("final")
    pdf = render_pdf(doc)
    ds = _roundtrip(encapsulated_pdf(doc, pdf), tmp_path, "pdf")
    assert ds.SOPClassUID == EncapsulatedPDFStorage
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Kim^Jisoo=김^지수"
    assert ds.PatientName.ideographic == "김^지수"
    assert str(ds.ReferringPhysicianName) == "Park^Minho=朴^敏浩"
    assert (ds.PatientID, ds.PatientBirthDate, ds.PatientSex) == ("SN00012345", "19610502", "F")
    assert ds.StudyInstanceUID == doc.study_instance_uid
    assert (ds.AccessionNumber, ds.StudyID, ds.StudyDate) == ("SN-2025-0001", "7731", "20250314")
    assert ds.Modality == "DOC"
    assert ds.BurnedInAnnotation == "YES"
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    code = ds.ConceptNameCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator) == ("18748-4", "LN")
    assert ds.DocumentTitle == "Diagnostic imaging report (final)"
    assert ds.VerificationFlag == "VERIFIED"
    assert ds.EncapsulatedDocument[: ds.EncapsulatedDocumentLength] == pdf
    # DICOM dates are local: the hospital's, with the offset stated.
    assert (ds.ContentDate, ds.ContentTime, ds.TimezoneOffsetFromUTC) == (
        "20250314",
        "184653",
        "+0900",
    )


def test_a_preliminary_pdf_object_is_unverified(report_document):
    doc = report_document("preliminary")
    assert encapsulated_pdf(doc, render_pdf(doc)).VerificationFlag == "UNVERIFIED"


@pytest.mark.parametrize("status", ["preliminary", "final", "amended"])
def test_the_sr_is_signed_by_the_radiologist_at_the_signing_time(report_document, status, tmp_path):
    doc = report_document(status)
    ds = _roundtrip(structured_report(doc), tmp_path, "sr")
    assert ds.SOPClassUID == ComprehensiveSRStorage
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert str(ds.PatientName) == "Kim^Jisoo=김^지수"
    assert ds.StudyInstanceUID == doc.study_instance_uid
    assert ds.AccessionNumber == doc.accession_number
    assert ds.Modality == "SR"
    assert ds.CompletionFlag == "COMPLETE"
    assert ds.InstanceNumber == doc.version_number
    assert "CurrentRequestedProcedureEvidenceSequence" not in ds
    if status == "preliminary":
        assert (ds.PreliminaryFlag, ds.VerificationFlag) == ("PRELIMINARY", "UNVERIFIED")
        assert "VerifyingObserverSequence" not in ds
        assert "PredecessorDocumentsSequence" not in ds
        return
    assert (ds.PreliminaryFlag, ds.VerificationFlag) == ("FINAL", "VERIFIED")
    observer = ds.VerifyingObserverSequence[0]
    assert str(observer.VerifyingObserverName) == "Lee Seoyeon, MD^"
    assert observer.VerifyingOrganization == doc.reading_center_name
    local_signing = doc.signed_at.astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert observer.VerificationDateTime == local_signing.strftime("%Y%m%d%H%M%S+0900")
    # The version it replaces is named by the UID it was (or will be) delivered under.
    previous = structured_report(
        report_document({"final": "preliminary", "amended": "final"}[status])
    )
    reference = ds.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0]
    assert reference.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == previous.SOPInstanceUID


def test_the_sr_holds_every_section_as_text_and_the_ai_finding_coded(report_document):
    doc = report_document("final")
    ds = structured_report(doc)
    sections = {item.ConceptNameCodeSequence[0].CodeMeaning: item for item in ds.ContentSequence}
    texts = {
        meaning: [child.TextValue for child in item.ContentSequence if child.ValueType == "TEXT"]
        for meaning, item in sections.items()
        if item.ValueType == "CONTAINER"
    }
    assert texts["Clinical Information"] == [doc.clinical_history]
    assert texts["Current Procedure Descriptions"] == [doc.technique]
    assert texts["Prior Procedure Descriptions"] == [doc.comparison]
    assert texts["Findings"] == [doc.findings]
    assert texts["Impressions"] == [doc.impression]
    assert texts["Communication of Critical Results"] == [
        "Acute subdural hemorrhage with midline shift (ACR category 1: communicate within minutes)"
    ]
    ai = next(c for c in sections["Findings"].ContentSequence if c.ValueType == "CODE")
    assert ai.ConceptCodeSequence[0].CodeValue == "1386000"
    children = {c.ConceptNameCodeSequence[0].CodeMeaning: c for c in ai.ContentSequence}
    assert children["Algorithm Name"].TextValue == "head-ct-ich"
    assert children["Algorithm Version"].TextValue == "1.0.0"
    assert float(children["Probability"].MeasuredValueSequence[0].NumericValue) == 0.934
    assert children["Comment"].TextValue == "AI-detected, confirmed by the radiologist"
    assert children["Observer Type"].ConceptCodeSequence[0].CodeMeaning == "Device"
