"""'Next case' gives the reader his own open claims first, the nearest deadline first, and
otherwise only unread cases of his modalities and subspecialties."""

from __future__ import annotations

import pytest

from readingcenter.accounts.models import RadiologistProfile
from readingcenter.worklist import services
from readingcenter.worklist.models import Case
from tests.factories import make_case

pytestmark = pytest.mark.django_db


@pytest.fixture
def chest_reader(radiologist):
    RadiologistProfile.objects.create(
        user=radiologist, subspecialties=["chest"], modalities=["CR", "DX", "CT"]
    )
    return radiologist


def _chest(hospital, **fields):
    return make_case(hospital, modalities=["CR"], body_part_examined="CHEST", **fields)


def test_my_stat_claims_come_back_before_any_new_case(hospital_a, chest_reader):
    near_breach = _chest(hospital_a, priority="stat", completed_minutes_ago=25)
    later = _chest(hospital_a, priority="stat", completed_minutes_ago=5)
    for case in (later, near_breach):
        services.case_claim(case_id=case.pk, user=chest_reader)
    _chest(hospital_a, priority="stat", completed_minutes_ago=28)  # unread, older still
    assert services.case_next(user=chest_reader).pk == near_breach.pk
    # Leaving that one, the other claim; nothing new is claimed while he holds cases.
    assert services.case_next(user=chest_reader, after=near_breach.pk).pk == later.pk
    assert Case.objects.filter(claimed_by=chest_reader).count() == 2


def test_a_chest_reader_is_not_handed_a_neuro_ct(hospital_a, chest_reader):
    make_case(hospital_a, priority="stat", modalities=["CT"], body_part_examined="HEAD",
              study_description="CT HEAD", completed_minutes_ago=20)  # fmt: skip
    chest = _chest(hospital_a, priority="routine", completed_minutes_ago=1)
    assert services.case_next(user=chest_reader).pk == chest.pk


def test_a_modality_he_does_not_read_is_not_handed_to_him(hospital_a, chest_reader):
    make_case(hospital_a, priority="stat", modalities=["MR"], body_part_examined="CHEST")
    assert services.case_next(user=chest_reader) is None
