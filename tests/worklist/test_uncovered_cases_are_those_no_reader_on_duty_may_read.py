"""A case is uncovered when no radiologist on duty may read it: privileged at its hospital
today, reading its modality and its subspecialty (the eligibility of "next case")."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from readingcenter.accounts.models import RadiologistProfile, Role, Shift, User
from readingcenter.worklist.selectors import uncovered_cases, uncovered_groups
from readingcenter.worklist.services import case_claim
from tests.conftest import grant
from tests.factories import make_case

pytestmark = pytest.mark.django_db


def _reader(username, hospital, *, on_duty=True, **profile):
    user = User.objects.create_user(username=username, password="x", role=Role.RADIOLOGIST)
    grant(user, hospital)
    if profile:
        RadiologistProfile.objects.create(user=user, **profile)
    if on_duty:
        now = timezone.now()
        Shift.objects.create(radiologist=user, starts_at=now - dt.timedelta(hours=1),
                             ends_at=now + dt.timedelta(hours=7))  # fmt: skip
    return user


def _head_ct(hospital, **fields):
    return make_case(hospital, modalities=["CT"], body_part_examined="HEAD", **fields)


def test_a_hospital_nobody_is_credentialed_at_is_uncovered(hospital_a, hospital_b):
    _reader("dr.alpha", hospital_a)
    covered = _head_ct(hospital_a)
    stranded = [_head_ct(hospital_b, priority="stat") for _ in range(2)]
    assert set(uncovered_cases().values_list("pk", flat=True)) == {c.pk for c in stranded}
    (group,) = uncovered_groups()
    assert (group["hospital__code"], group["priority"], group["count"]) == ("beta", "stat", 2)
    assert covered.pk not in uncovered_cases().values_list("pk", flat=True)


def test_a_credentialed_reader_off_duty_does_not_cover_it(hospital_a):
    _reader("dr.asleep", hospital_a, on_duty=False)
    case = _head_ct(hospital_a)
    assert list(uncovered_cases()) == [case]


def test_a_reader_of_another_subspecialty_or_modality_does_not_cover_it(hospital_a):
    _reader("dr.chest", hospital_a, subspecialties=["chest"], modalities=["CR", "CT"])
    _reader("dr.mr", hospital_a, subspecialties=["neuro"], modalities=["MR"])
    neuro_ct = _head_ct(hospital_a)
    chest = make_case(hospital_a, modalities=["CR"], body_part_examined="CHEST")
    assert list(uncovered_cases()) == [neuro_ct]
    _reader("dr.neuro", hospital_a, subspecialties=["neuro"], modalities=["CT", "MR"])
    assert list(uncovered_cases()) == []
    assert chest.subspecialty == "chest"


def test_a_claimed_case_has_its_reader(hospital_a, radiologist):
    case = _head_ct(hospital_a)
    assert list(uncovered_cases()) == [case]  # dr.who has no shift
    case_claim(case_id=case.pk, user=radiologist)
    assert list(uncovered_cases()) == []
