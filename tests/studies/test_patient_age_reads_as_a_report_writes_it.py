"""A study's patient age, as the identity banner and reports write it."""

from __future__ import annotations

import datetime as dt

from readingcenter.studies.models import Study


def _age(born, on=None) -> str:
    return Study(patient_birth_date=born, study_date=on).patient_age


def test_it_counts_years_on_the_study_date():
    assert _age(dt.date(1949, 3, 1), dt.date(2006, 12, 1)) == "57 y"
    assert _age(dt.date(1949, 12, 2), dt.date(2006, 12, 1)) == "56 y"


def test_it_counts_months_then_days_for_the_youngest():
    assert _age(dt.date(2025, 1, 15), dt.date(2026, 3, 14)) == "13 mo"
    assert _age(dt.date(2026, 3, 1), dt.date(2026, 3, 12)) == "11 d"


def test_it_says_nothing_without_a_birth_date_or_with_one_after_the_study():
    assert _age(None, dt.date(2026, 3, 1)) == ""
    assert _age(dt.date(2027, 1, 1), dt.date(2026, 3, 1)) == ""
