"""The language a user reads in: chosen from the menu and saved on him (every device follows),
the browser's when he has chosen none; API messages follow too, with their codes unchanged."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from readingcenter.audit.models import AuditEvent
from tests.conftest import api_as

pytestmark = pytest.mark.django_db


def _korean(message: str) -> str:
    with translation.override("ko"):
        text = translation.gettext(message)
    assert text != message, "compile the catalogues (make setup)"
    return text


def test_the_menu_saves_the_choice_on_the_user_audits_it_and_the_pages_follow(radiologist):
    browser = Client()
    browser.force_login(radiologist)
    chosen = browser.post("/language/", {"language": "ko", "next": "/worklist/"})
    assert chosen.status_code == 302 and chosen["Location"] == "/worklist/"
    assert chosen.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ko"
    radiologist.refresh_from_db()
    assert radiologist.language == "ko"
    event = AuditEvent.objects.get(action="user.language")
    assert event.detail == {"from": "", "to": "ko"}

    # Another device, a browser asking for English: the saved choice wins.
    other = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    other.force_login(radiologist)
    page = other.get("/worklist/")
    assert page["Content-Language"] == "ko"
    html = page.content.decode()
    assert '<html lang="ko">' in html and _korean("Worklist") in html


def test_without_a_choice_the_browser_decides_and_an_unknown_language_is_refused(radiologist):
    anonymous = Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    login = anonymous.get("/login/")
    assert login["Content-Language"] == "zh-hans"
    assert anonymous.post("/language/", {"language": "ko"}).cookies["django_language"].value == "ko"
    assert anonymous.get("/login/")["Content-Language"] == "ko"

    browser = Client()
    browser.force_login(radiologist)
    assert browser.post("/language/", {"language": "tlh"}).status_code == 400
    radiologist.refresh_from_db()
    assert radiologist.language == "" and not AuditEvent.objects.filter(action="user.language")


def test_api_messages_are_in_the_callers_language_and_codes_stay(radiologist):
    radiologist.language = "ko"
    radiologist.save(update_fields=["language"])
    refused = api_as(radiologist).get("/api/v1/macros/?language=xx")
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "invalid_language"
    with translation.override("ko"):
        expected = translation.gettext("Use one of: %(languages)s.") % {
            "languages": "en, ko, zh-hans"
        }
    assert body["detail"] == expected != "Use one of: en, ko, zh-hans."

    # A caller with no saved choice gets what Accept-Language asks for.
    radiologist.language = ""
    radiologist.save(update_fields=["language"])
    chinese = api_as(radiologist).get("/api/v1/macros/?language=xx", HTTP_ACCEPT_LANGUAGE="zh-Hans")
    assert chinese.json()["code"] == "invalid_language"
    assert chinese.json()["detail"] != "Use one of: en, ko, zh-hans."
    assert chinese["Content-Language"] == "zh-hans"


def test_the_viewer_opens_in_the_users_language(radiologist):
    """OHIF's i18next reads i18nextLng from localStorage; our config script sets it first."""
    from django.urls import reverse

    browser = Client()
    browser.force_login(radiologist)
    for chosen, ohif in (("zh-hans", "zh"), ("en", "en-US"), ("ko", "ko")):
        radiologist.language = chosen
        radiologist.save(update_fields=["language"])
        script = browser.get(reverse("ohif-app-config")).content.decode()
        assert f"localStorage.setItem('i18nextLng', \"{ohif}\")" in script
