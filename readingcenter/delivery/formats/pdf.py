"""The signed report as the PDF a hospital prints, files and forwards.

fpdf2 embeds a subset of a TrueType font, so the patient's name prints in Hangul and Han as
well as Latin; WenQuanYi Zen Hei (Debian's fonts-wqy-zenhei) has all three. The output is a
function of the document alone: the PDF's dates are the signing time and fpdf2 derives the
file identifier from the content, so a resend is the same file (and the same hash in FHIR).
Its headings and labels are in the report's language (``doc.language``), whoever renders it.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import TextMode, XPos, YPos
from fpdf.fonts import SubsetMap, TTFFont

from readingcenter.delivery.document import ReportDocument
from readingcenter.delivery.formats.common import (
    ai_verdict,
    check_document,
    critical_text,
    in_report_language,
    local_text,
    meaning_words,
    person_name,
    report_sections,
    status_sentence,
    status_word,
)

# fontTools names every table it drops while subsetting (the TTC's bitmap strikes): noise.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

# The first that exists wins; REPORT_PDF_FONT names another (a TTF, or a TTC's first face).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
)
FONT = "report"

INK = (20, 20, 20)
MUTED = (95, 95, 95)
RULE = (170, 170, 170)
BANNERS = {
    # status: (fill, text)
    "preliminary": ((255, 236, 179), (120, 70, 0)),
    "amended": ((255, 214, 214), (140, 0, 0)),
}
CRITICAL_FILL = (255, 226, 226)


class PdfFontMissing(RuntimeError):
    pass


def font_path() -> Path:
    configured = os.environ.get("REPORT_PDF_FONT")
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise PdfFontMissing(
        "No font with Hangul and Han glyphs for report PDFs: install the Debian package "
        "fonts-wqy-zenhei (scripts/setup.sh does) or set REPORT_PDF_FONT to a TTF/TTC file "
        f"(looked for {', '.join(FONT_CANDIDATES)})"
    )


# -- the font, read once per process -------------------------------------------------------------
# fpdf2's add_font parses the 16 MB collection (45,000 glyphs) for every document, and its
# output subsets that parsed font in place: three quarters of a rendering. Here the face is
# parsed once per process (per file) and each document gets its own copy of what fpdf2 changes:
# its subset map and a font whose tables are shallow copies of the parsed ones, the glyphs it
# keeps copied when the subsetter takes them. The bytes are those of a fresh add_font
# (tests/delivery/test_the_pdf_is_the_same_for_the_same_report.py compares them).
_fonts: dict[tuple[str, int, int], TTFFont] = {}
_fonts_lock = threading.Lock()


class _GlyphsCopiedOnRead(dict):
    """A document's view of the parsed glyphs: a glyph read is the document's own copy (the
    subsetter renumbers its components and trims it in place), the parsed one stays as read."""

    def __init__(self, parsed: dict):
        super().__init__(parsed)
        self._copies: dict = {}

    def __getitem__(self, name):
        glyph = self._copies.get(name)
        if glyph is None:
            glyph = self._copies[name] = copy.deepcopy(dict.__getitem__(self, name))
        return glyph

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def values(self):
        return [self[name] for name in self]

    def items(self):
        return [(name, self[name]) for name in self]


def _parsed_font(path: Path) -> TTFFont:
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _fonts_lock:
        font = _fonts.get(key)
        if font is None:
            font = TTFFont(FPDF(), path, FONT, "", collection_font_number=0)
            tags = font.ttfont.keys()
            for tag in tags:  # every table read now, never lazily by two threads at once
                font.ttfont[tag]
            _fonts[key] = font
        return font


def _document_ttfont(parsed: TTFont) -> TTFont:
    """A font the subsetter may cut down for one document, sharing what it only reads."""
    font = TTFont(recalcTimestamp=False)
    font.sfntVersion = parsed.sfntVersion
    font.setGlyphOrder(list(parsed.getGlyphOrder()))
    tags = parsed.keys()
    for tag in tags:
        if tag == "GlyphOrder":
            continue
        table = copy.copy(parsed[tag])
        if tag == "cmap":  # the subsetter replaces each subtable's mapping
            table.tables = [copy.copy(subtable) for subtable in table.tables]
        elif tag == "glyf":
            table.glyphs = _GlyphsCopiedOnRead(table.glyphs)
        font[tag] = table
    return font


def _add_report_font(pdf: FPDF) -> None:
    """``pdf.add_font(FONT, fname=font_path(), collection_font_number=0)``, without parsing."""
    parsed = _parsed_font(font_path())
    font = copy.copy(parsed)
    font.i = len(pdf.fonts) + 1
    font.ttfont = _document_ttfont(parsed.ttfont)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.subset = SubsetMap(font)
    pdf.fonts[FONT] = font


class _ReportPDF(FPDF):
    def __init__(self, doc: ReportDocument):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.doc = doc

    def header(self) -> None:
        self.set_text_color(*INK)
        self.set_draw_color(*INK)
        with _bold(self):
            self.set_font(FONT, size=13)
            self.cell(0, 7, self.doc.reading_center_name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, size=9)
        self.set_text_color(*MUTED)
        self.cell(
            0,
            5,
            _("Diagnostic imaging report for %(hospital)s") % {"hospital": self.doc.hospital_name},
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.set_draw_color(*RULE)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(4)
        self.set_text_color(*INK)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, size=8)
        self.set_text_color(*MUTED)
        doc = self.doc
        # Every page names the patient and the report: pages get separated in a hospital.
        parts = [
            person_name(doc.patient_name),
            _("ID %(id)s") % {"id": doc.patient_id},
            _("Accession %(accession)s") % {"accession": doc.accession_number},
            _("Report %(report)s version %(version)s (%(status)s)")
            % {
                "report": doc.report_id,
                "version": doc.version_number,
                "status": status_word(doc.status).lower(),
            },
        ]
        self.cell(0, 5, " · ".join(p for p in parts if p), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        # {nb}: fpdf2's alias, replaced by the page count.
        page = _("Page %(page)s of %(pages)s") % {"page": self.page_no(), "pages": "{nb}"}
        self.cell(0, 4, page, align="R")


@contextmanager
def _bold(pdf: FPDF) -> Iterator[None]:
    # The CJK font has no bold face; stroking the glyph outlines as well as filling them is
    # the usual stand-in, and it keeps every script in one embedded font.
    previous = pdf.text_mode
    pdf.text_mode = TextMode.FILL_STROKE
    pdf.set_line_width(0.3)
    try:
        yield
    finally:
        pdf.text_mode = previous
        pdf.set_line_width(0.2)


def _heading(pdf: FPDF, text: str, size: float = 11) -> None:
    pdf.ln(2)
    pdf.set_text_color(*INK)
    pdf.set_draw_color(*INK)
    with _bold(pdf):
        pdf.set_font(FONT, size=size)
        pdf.cell(0, 6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _paragraph(pdf: FPDF, text: str, size: float = 10, bold: bool = False) -> None:
    pdf.set_font(FONT, size=size)
    pdf.set_text_color(*INK)
    if bold:
        pdf.set_draw_color(*INK)
        with _bold(pdf):
            pdf.multi_cell(0, 5, text.strip(), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    else:
        pdf.multi_cell(0, 5, text.strip(), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _box(pdf: FPDF, text: str, fill: tuple, ink: tuple, size: float = 11) -> None:
    pdf.set_fill_color(*fill)
    pdf.set_text_color(*ink)
    pdf.set_draw_color(*ink)
    pdf.set_font(FONT, size=size)
    with _bold(pdf):
        pdf.multi_cell(
            0,
            7,
            text,
            border=1,
            fill=True,
            padding=2,
            align="L",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.set_text_color(*INK)
    pdf.set_fill_color(255, 255, 255)
    pdf.ln(2)


def _facts(pdf: FPDF, rows: list[tuple[str, str, str, str]]) -> None:
    pdf.set_font(FONT, size=9.5)
    with pdf.table(
        col_widths=(28, 62, 30, 60),
        borders_layout="NONE",
        first_row_as_headings=False,
        line_height=5,
        padding=(0.6, 1, 0.6, 0),
        text_align="LEFT",
        cell_fill_mode="NONE",
    ) as table:
        for label_a, value_a, label_b, value_b in rows:
            row = table.row()
            for text, muted in (
                (label_a, True),
                (value_a, False),
                (label_b, True),
                (value_b, False),
            ):
                pdf.set_text_color(*(MUTED if muted else INK))
                row.cell(text)
    pdf.set_text_color(*INK)


SEX = {"M": gettext_lazy("Male"), "F": gettext_lazy("Female"), "O": gettext_lazy("Other")}


def _date(value) -> str:
    return value.isoformat() if value else "-"


@in_report_language
def render_pdf(doc: ReportDocument) -> bytes:
    """The report as PDF bytes (A4), the same bytes for the same document; its headings and
    labels in the report's language."""
    check_document(doc)
    pdf = _new_pdf(doc)
    _title(pdf, doc)
    _patient_and_study(pdf, doc)
    if doc.clinical_history.strip():
        _heading(pdf, _("Clinical history"))
        _paragraph(pdf, doc.clinical_history)

    if doc.is_amended and doc.addendum_text.strip():
        _heading(pdf, _("ADDENDUM"), size=13)
        _box(pdf, doc.addendum_text.strip(), BANNERS["amended"][0], INK, size=11)
        _heading(pdf, _("Original report"), size=12)

    for section in report_sections(doc):
        _heading(pdf, section.title)
        _paragraph(pdf, section.text, bold=section.key == "impression")

    if doc.critical_findings:
        _critical_findings(pdf, doc)
    if doc.ai_findings:
        _ai_findings(pdf, doc)
    _signature(pdf, doc)
    return bytes(pdf.output())


def _new_pdf(doc: ReportDocument) -> _ReportPDF:
    """The document with its font and metadata (dated the signature: same bytes every time)."""
    pdf = _ReportPDF(doc)
    _add_report_font(pdf)
    pdf.set_creation_date(doc.signed_at)
    pdf.set_title(
        _("Diagnostic imaging report %(accession)s") % {"accession": doc.accession_number}
    )
    pdf.set_author(doc.signed_by_name)
    pdf.set_subject(
        _("%(status)s report, %(hospital)s")
        % {"status": status_word(doc.status), "hospital": doc.hospital_name}
    )
    pdf.set_creator(doc.reading_center_name)
    pdf.set_producer(doc.reading_center_name)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.alias_nb_pages()
    pdf.add_page()
    return pdf


def _title(pdf: FPDF, doc: ReportDocument) -> None:
    title = {
        "preliminary": _("Preliminary report"),
        "final": _("Final report"),
        "amended": _("Amended report (addendum)"),
    }[doc.status]
    heading = _("%(title)s: %(study)s") % {
        "title": title,
        "study": doc.study_description or doc.requested_procedure,
    }
    _heading(pdf, heading, size=14)
    if doc.status in BANNERS:
        fill, ink = BANNERS[doc.status]
        _box(pdf, status_sentence(doc), fill, ink, size=12)
    elif doc.replaces_version:
        _paragraph(pdf, status_sentence(doc), size=9)


def _patient_and_study(pdf: FPDF, doc: ReportDocument) -> None:
    study_when = _date(doc.study_date)
    if doc.study_date and doc.study_time:
        study_when += f" {doc.study_time:%H:%M}"
    _facts(
        pdf,
        [
            (_("Patient"), person_name(doc.patient_name) or "-", _("Hospital"), doc.hospital_name),
            (_("Patient ID"), doc.patient_id, _("Accession"), doc.accession_number),
            (_("Birth date"), _date(doc.patient_birth_date), _("Study date"), study_when),
            (_("Sex"), str(SEX.get(doc.patient_sex, "-")), _("Modality"), doc.modality or "-"),
            (
                _("Referring"),
                person_name(doc.referring_physician_name) or "-",
                _("Study"),
                doc.study_description or doc.requested_procedure or "-",
            ),
        ],
    )


def _critical_findings(pdf: FPDF, doc: ReportDocument) -> None:
    _heading(pdf, _("Critical findings"))
    for critical in doc.critical_findings:
        _box(
            pdf,
            _("CRITICAL: %(finding)s (%(category)s)")
            % {"finding": critical.finding, "category": critical_text(critical.category)},
            CRITICAL_FILL,
            BANNERS["amended"][1],
            size=10,
        )


def _ai_findings(pdf: FPDF, doc: ReportDocument) -> None:
    _heading(pdf, _("AI findings (computer-aided triage)"))
    for finding in doc.ai_findings:
        verdict = _("%(label)s: %(verdict)s") % {
            "label": finding.label,
            "verdict": ai_verdict(finding),
        }
        _paragraph(pdf, verdict, size=10, bold=True)
        pdf.set_text_color(*MUTED)
        _paragraph(
            pdf,
            _(
                "Model %(model)s %(version)s (weights sha256 %(weights)s...), probability "
                "%(probability)s, threshold %(threshold)s."
            )
            % {
                "model": finding.model_name,
                "version": finding.model_version,
                "weights": finding.weights_sha256[:16],
                "probability": f"{finding.probability:.2f}",
                "threshold": f"{finding.threshold:.2f}",
            },
            size=8.5,
        )
    pdf.set_text_color(*MUTED)
    _paragraph(
        pdf,
        _(
            "AI flags only prioritise reading; the radiologist's report above is the "
            "diagnosis. Findings the radiologist did not confirm are not part of it."
        ),
        size=8.5,
    )


def _signature(pdf: FPDF, doc: ReportDocument) -> None:
    _heading(pdf, _("Electronic signature"))
    signed = _("Signed electronically by %(name)s (%(username)s) on %(when)s.") % {
        "name": doc.signed_by_name,
        "username": doc.signed_by_username,
        "when": local_text(doc, doc.signed_at),
    }
    meaning = _("Meaning of the signature: %(meaning)s.") % {
        "meaning": meaning_words(doc.signature_meaning)
    }
    _paragraph(pdf, f"{signed}\n{meaning}")
    # Courier has Latin only: the machine lines stay in English, whatever the language.
    pdf.set_font("Courier", size=7.5)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(
        0,
        4,
        f"Content SHA-256: {doc.content_sha256}\nReport {doc.report_id} version "
        f"{doc.version_number}, version key {doc.idempotency_key}",
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
