from __future__ import annotations

import pytest

from readingcenter.studies.templatetags.dicom import person_name


@pytest.mark.parametrize(
    ("pn", "shown"),
    [
        ("GARCIA^GRACE", "GARCIA, GRACE"),
        ("Hong^Gildong=洪^吉洞=홍^길동", "Hong, Gildong (洪吉洞 · 홍길동)"),
        ("Wang^XiaoDong=王^小东", "Wang, XiaoDong (王小东)"),
        ("=山田^太郎", "山田太郎"),
        ("Smith^John^Q^Dr^Jr", "Smith, Dr John Q, Jr"),
        ("BRAINIX", "BRAINIX"),
        ("", ""),
    ],
)
def test_a_dicom_person_name_reads_as_people_write_it(pn, shown):
    assert person_name(pn) == shown
