"""The figures as files: CSV tables (each with a header row) and the monthly SLA report PDF.

The CSV column names are identifiers for spreadsheets and scripts, the same in every language;
the PDF is for people and is written in the language active when it is made (the requesting
user's)."""

from __future__ import annotations

import csv
import io
import zoneinfo

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from readingcenter.analytics.selectors import (
    AiPerformance,
    Overview,
    ProductivityRow,
    SlaReport,
    TatRow,
)
from readingcenter.delivery.formats.pdf import FONT, font_path
from readingcenter.studies.models import Priority


def _num(value) -> str:
    return "" if value is None else f"{value}"


def _pct(value) -> str:
    return "" if value is None else f"{100 * value:.1f}"


TAT_HEADER = ["count", "met_sla", "compliance_pct", "final_p50_min", "final_p90_min",
              "final_p95_min", "preliminary_count", "preliminary_p50_min",
              "preliminary_p90_min", "preliminary_p95_min"]  # fmt: skip


def tat_table(dimension: str, rows: list[TatRow]) -> list[list[str]]:
    out = [[dimension, "label", *TAT_HEADER]]
    for r in rows:
        out.append([r.key, r.label, str(r.count), str(r.met), _pct(r.compliance),
                    _num(r.final_p50), _num(r.final_p90), _num(r.final_p95),
                    str(r.preliminary_count), _num(r.preliminary_p50),
                    _num(r.preliminary_p90), _num(r.preliminary_p95)])  # fmt: skip
    return out


def overview_table(ov: Overview, zone: zoneinfo.ZoneInfo) -> list[list[str]]:
    out = [["priority", "open", "oldest_arrived_at", "at_risk", "breached"]]
    for q in ov.queue:
        oldest = q.oldest_arrived_at.astimezone(zone).isoformat() if q.oldest_arrived_at else ""
        out.append([q.priority, str(q.open), oldest, str(q.at_risk), str(q.breached)])
    return out


def productivity_table(rows: list[ProductivityRow]) -> list[list[str]]:
    out = [["radiologist_id", "username", "name", "reads", "reads_with_rvu_weight", "rvu",
            "met_sla"]]  # fmt: skip
    for r in rows:
        out.append([str(r.radiologist_id), r.username, r.name, str(r.reads),
                    str(r.weighted_reads), f"{r.rvu:.2f}", str(r.met)])  # fmt: skip
    return out


def ai_table(perf: AiPerformance) -> list[list[str]]:
    out = [["model_name", "model_version", "reports", "ai_sentences", "kept", "edited",
            "removed", "confirmed_pct", "mean_similarity", "critical_studies",
            "critical_studies_unflagged", "critical_unflagged_pct"]]  # fmt: skip
    for r in perf.rows:
        out.append([r.model_name, r.model_version, str(r.reports), str(r.sentences),
                    str(r.kept), str(r.edited), str(r.removed), _pct(r.confirmed_rate),
                    _num(r.mean_similarity), str(r.critical_studies),
                    str(r.critical_unflagged), _pct(r.critical_missed_rate)])  # fmt: skip
    return out


def sla_report_tables(report: SlaReport) -> tuple[list[list[str]], list[list[str]]]:
    """Promised vs delivered per priority, and the breaches; times in the hospital's zone."""
    zone = zoneinfo.ZoneInfo(report.hospital.time_zone)
    summary = [["priority", "count", "target_min", "clock_stops_at", "counting", "p50_min",
                "p90_min", "met", "compliance_pct"]]  # fmt: skip
    for r in report.rows:
        summary.append([r.priority, str(r.count), str(r.target_minutes), r.clock_end,
                        r.counting, _num(r.p50), _num(r.p90), str(r.met),
                        _pct(r.compliance)])  # fmt: skip
    breaches = [["accession_number", "priority", "arrived_at", "due_at", "signed_at",
                 "minutes_late"]]  # fmt: skip
    for b in report.breaches:
        local = [t.astimezone(zone).isoformat() for t in (b.arrived_at, b.due_at, b.signed_at)]
        breaches.append([b.accession_number, b.priority, *local, f"{b.minutes_late:.1f}"])
    return summary, breaches


def to_csv(*tables: list[list[str]]) -> str:
    """One table, or several separated by a blank line (the SLA report: summary, breaches)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for i, table in enumerate(tables):
        if i:
            writer.writerow([])
        writer.writerows(table)
    return buffer.getvalue()


def sla_report_csv(report: SlaReport) -> str:
    summary, breaches = sla_report_tables(report)
    return to_csv(summary, breaches)


# -- the PDF ---------------------------------------------------------------------------------

# What stops the clock and how it counts, as the selectors name them (the CSV's values).
CLOCK_ENDS = {
    "final": pgettext_lazy("what stops the SLA clock", "final"),
    "preliminary": pgettext_lazy("what stops the SLA clock", "preliminary"),
}
COUNTING = {"24/7": "24/7", "business hours": pgettext_lazy("SLA counting", "business hours")}


def _priority(code: str) -> str:
    """ "STAT", "URGENT", "ROUTINE" in English; the priority's name in the active language."""
    try:
        return str(Priority(code).label).upper()
    except ValueError:
        return code.upper()


class _SlaPDF(FPDF):
    def __init__(self, report: SlaReport):
        super().__init__(format="A4")
        self.report = report

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, size=8)
        self.set_text_color(95, 95, 95)
        center = getattr(settings, "READING_CENTER_NAME", "") or _("Reading center")
        footer = _("%(center)s · SLA report %(hospital)s %(month)s · page %(page)s/%(pages)s") % {
            "center": center,
            "hospital": self.report.hospital.code,
            "month": self.report.month,
            "page": self.page_no(),
            "pages": "{nb}",  # fpdf2's alias, replaced by the page count
        }
        self.cell(0, 6, footer, align="C")


def _table(pdf: FPDF, rows: list[list[str]], widths: list[float], size: float = 9) -> None:
    pdf.set_font(FONT, size=size)
    for i, row in enumerate(rows):
        if pdf.will_page_break(6):
            pdf.add_page()
        pdf.set_fill_color(230, 230, 230)
        for cell, width in zip(row, widths, strict=True):
            pdf.cell(width, 6, cell, border=1, fill=i == 0, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.ln(6)


def sla_report_pdf(report: SlaReport) -> bytes:
    """A4, one embedded CJK-capable font (hospital names in Hangul or Han print as written)."""
    zone = zoneinfo.ZoneInfo(report.hospital.time_zone)
    pdf = _SlaPDF(report)
    pdf.add_font(FONT, fname=str(font_path()), collection_font_number=0)
    pdf.set_title(
        _("SLA report %(hospital)s %(month)s")
        % {"hospital": report.hospital.name, "month": report.month}
    )
    pdf.set_creation_date(report.period.end)  # same figures, same file
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font(FONT, size=15)
    title = _("Monthly SLA report · %(hospital)s") % {"hospital": report.hospital.name}
    pdf.cell(0, 9, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, size=10)
    explanation = _(
        "%(month)s, %(zone)s time: final reports signed from %(start)s to %(end)s. A case "
        "meets its SLA when the report that stops its clock (the final, or for a "
        "to-preliminary promise the first report) is signed by the due time set when it "
        "arrived; turnaround is measured from the study's arrival to that report (minutes)."
    ) % {
        "month": report.month,
        "zone": report.hospital.time_zone,
        "start": f"{report.period.start:%Y-%m-%d %H:%M}",
        "end": f"{report.period.end:%Y-%m-%d %H:%M}",
    }
    pdf.multi_cell(0, 5, explanation, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    compliance = f"{100 * report.met / report.count:.1f} %" if report.count else "-"
    totals = _(
        "Studies: %(count)s · within SLA: %(met)s · compliance: %(compliance)s · "
        "breaches: %(breaches)s"
    ) % {
        "count": report.count,
        "met": report.met,
        "compliance": compliance,
        "breaches": len(report.breaches),
    }
    pdf.cell(0, 7, totals, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font(FONT, size=12)
    pdf.cell(0, 8, _("Promised and delivered, per priority"), new_x=XPos.LMARGIN,
             new_y=YPos.NEXT)  # fmt: skip
    heads = [_("Priority"), _("Studies"), _("Target (min)"), _("Clock stops at"), _("Counting"),
             _("p50 (min)"), _("p90 (min)"), _("Met"), _("Compl. %")]  # fmt: skip
    rows = [[_priority(r.priority), str(r.count), str(r.target_minutes),
             str(CLOCK_ENDS.get(r.clock_end, r.clock_end)),
             str(COUNTING.get(r.counting, r.counting)), _num(r.p50), _num(r.p90), str(r.met),
             _pct(r.compliance)] for r in report.rows]  # fmt: skip
    _table(pdf, [heads, *rows], [19, 16, 22, 25, 28, 20, 20, 16, 19])
    pdf.ln(4)
    pdf.set_font(FONT, size=12)
    breaches = _("Breaches (%(count)s)") % {"count": len(report.breaches)}
    pdf.cell(0, 8, breaches, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if not report.breaches:
        pdf.set_font(FONT, size=10)
        pdf.cell(0, 6, _("None: every study was reported within its SLA."))
    else:
        rows = [[_("Accession"), _("Priority"), _("Due"), _("Reported"), _("Minutes late")]]
        for b in report.breaches:
            case = _("case %(id)s") % {"id": b.case_id}
            rows.append([b.accession_number or case, _priority(b.priority),
                         f"{b.due_at.astimezone(zone):%Y-%m-%d %H:%M}",
                         f"{b.signed_at.astimezone(zone):%Y-%m-%d %H:%M}",
                         f"{b.minutes_late:,.1f}"])  # fmt: skip
        _table(pdf, rows, [40, 24, 38, 38, 30])
    return bytes(pdf.output())
