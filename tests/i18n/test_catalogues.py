"""The interface is complete in every language it offers.

Two checks, both against the tree as it stands, so a new page or message fails here until it is
translated:
- every text a template shows is marked for translation (scripts/untranslated.py);
- every marked message has a Korean and a Chinese entry that is neither empty nor fuzzy, and
  every entry keeps its placeholders (msgfmt --check). The messages are extracted by Django's
  own makemessages, run in a copy of the source so the repository's catalogues stay as they are.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
SOURCES = ("readingcenter", "triage", "templates", "locale", "manage.py")
LOCALES = ("ko", "zh_Hans")

sys.path.insert(0, str(ROOT / "scripts"))
import untranslated  # noqa: E402


def test_every_text_in_the_templates_is_marked_for_translation():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for line, text in untranslated.findings(path)
    ]
    assert not found, "not marked for translation:\n" + "\n".join(found)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> Path:
    """A copy of the source with its catalogues brought up to date by makemessages."""
    if not shutil.which("xgettext"):
        pytest.fail("xgettext is missing: `make setup` installs Debian's gettext")
    copy = tmp_path_factory.mktemp("i18n")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, copy / name, ignore=shutil.ignore_patterns("*.mo", "__pycache__")
            )
        else:
            shutil.copy2(source, copy / name)
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", *(f"--locale={loc}" for loc in LOCALES),
         "--no-obsolete", "--add-location=file", "-v", "0"],
        cwd=copy, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return copy / "locale"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_marked_message_has_a_translation(extracted, locale):
    po = extracted / locale / "LC_MESSAGES" / "django.po"
    missing = []
    for only in ("--untranslated", "--only-fuzzy"):
        out = subprocess.run(
            ["msgattrib", only, "--no-obsolete", "--no-location", str(po)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        missing += [
            line for line in out.splitlines() if line.startswith("msgid ") and line != 'msgid ""'
        ]
    assert not missing, (
        f"{len(missing)} message(s) without a {locale} translation (or fuzzy); run `make "
        f"messages` and translate them in locale/{locale}/LC_MESSAGES/django.po:\n"
        + "\n".join(missing[:50])
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_every_translation_keeps_its_placeholders(locale):
    po = ROOT / "locale" / locale / "LC_MESSAGES" / "django.po"
    result = subprocess.run(
        ["msgfmt", "--check", "--output-file=/dev/null", str(po)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
