"""The figures as files: CSV tables (each with a header row) and the monthly SLA report PDF."""

from __future__ import annotations

import csv
import io
import zoneinfo

from django.conf import settings
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


class _SlaPDF(FPDF):
    def __init__(self, report: SlaReport):
        super().__init__(format="A4")
        self.report = report

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font(FONT, size=8)
        self.set_text_color(95, 95, 95)
        center = getattr(settings, "READING_CENTER_NAME", "Reading center")
        self.cell(0, 6, f"{center} · SLA report {self.report.hospital.code} "
                        f"{self.report.month} · page {self.page_no()}/{{nb}}",
                  align="C")  # fmt: skip


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
    pdf.set_title(f"SLA report {report.hospital.name} {report.month}")
    pdf.set_creation_date(report.period.end)  # same figures, same file
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font(FONT, size=15)
    pdf.cell(0, 9, f"Monthly SLA report · {report.hospital.name}", new_x=XPos.LMARGIN,
             new_y=YPos.NEXT)  # fmt: skip
    pdf.set_font(FONT, size=10)
    pdf.multi_cell(0, 5, (
        f"{report.month}, {report.hospital.time_zone} time: final reports signed from "
        f"{report.period.start:%Y-%m-%d %H:%M} to {report.period.end:%Y-%m-%d %H:%M}. "
        "A case meets its SLA when the report that stops its clock (the final, or for a "
        "to-preliminary promise the first report) is signed by the due time set when it "
        "arrived; turnaround is measured from the study's arrival to that report (minutes)."
    ), new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
    compliance = f"{100 * report.met / report.count:.1f} %" if report.count else "-"
    pdf.cell(0, 7, f"Studies: {report.count} · within SLA: {report.met} · compliance: "
                   f"{compliance} · breaches: {len(report.breaches)}",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
    pdf.ln(2)
    summary, _ = sla_report_tables(report)
    pdf.set_font(FONT, size=12)
    pdf.cell(0, 8, "Promised and delivered, per priority", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    heads = ["Priority", "Studies", "Target (min)", "Clock stops at", "Counting", "p50 (min)",
             "p90 (min)", "Met", "Compl. %"]  # fmt: skip
    _table(pdf, [heads, *[[r[0].upper(), *r[1:]] for r in summary[1:]]],
           [19, 16, 22, 25, 28, 20, 20, 16, 19])  # fmt: skip
    pdf.ln(4)
    pdf.set_font(FONT, size=12)
    pdf.cell(0, 8, f"Breaches ({len(report.breaches)})", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if not report.breaches:
        pdf.set_font(FONT, size=10)
        pdf.cell(0, 6, "None: every study was reported within its SLA.")
    else:
        rows = [["Accession", "Priority", "Due", "Reported", "Minutes late"]]
        for b in report.breaches:
            rows.append([b.accession_number or f"case {b.case_id}", b.priority.upper(),
                         f"{b.due_at.astimezone(zone):%Y-%m-%d %H:%M}",
                         f"{b.signed_at.astimezone(zone):%Y-%m-%d %H:%M}",
                         f"{b.minutes_late:,.1f}"])  # fmt: skip
        _table(pdf, rows, [40, 24, 38, 38, 30])
    return bytes(pdf.output())
