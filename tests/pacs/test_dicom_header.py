from __future__ import annotations

import datetime as dt

import pytest
from pydicom.dataset import Dataset

from readingcenter.pacs.dicom_header import study_fields


def _ds(**values) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_dates_and_times_in_the_forms_hospitals_send_are_read():
    with pytest.warns(UserWarning):  # the ACR-NEMA dotted date: pydicom warns, we still read it
        ds = _ds(StudyDate="20261121", StudyTime="093015.123", PatientBirthDate="1950.03.04")
    fields = study_fields(ds)
    assert fields["study_date"] == dt.date(2026, 11, 21)
    assert fields["study_time"] == dt.time(9, 30, 15)
    assert fields["patient_birth_date"] == dt.date(1950, 3, 4)


def test_an_implausible_or_broken_date_is_missing_rather_than_wrong():
    with pytest.warns(UserWarning):  # pydicom itself warns about such values, and keeps them
        ds = _ds(StudyDate="00950724", PatientBirthDate="2026-13-45", StudyTime="9x")
    fields = study_fields(ds)
    assert fields["study_date"] is None
    assert fields["patient_birth_date"] is None
    assert fields["study_time"] is None


def test_control_characters_in_a_damaged_header_are_dropped_not_stored():
    # PostgreSQL refuses NUL in text: kept, it would lose the whole study at the database.
    ds = Dataset()
    ds.StudyInstanceUID = "1.2.3"
    ds.StudyDescription = "CT\x00 head\x07 non\x1bcontrast"
    ds.InstitutionName = "Seoul\tNorth"
    fields = study_fields(ds)
    assert fields["study_description"] == "CT head noncontrast"
    assert fields["institution_name"] == "Seoul\tNorth"  # a tab is text
