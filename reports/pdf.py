"""The PDF (fpdf2): title, period, summary paragraph, KPI table, charts, then tables (such as
the experiments that ran in the period), each on a page of its own.

The creation date is the period's end (not the wall clock) and the charts carry no time
stamps, so re-running a report on the same data writes the same bytes.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, time
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace


def _latin1(text: str) -> str:
    """The core PDF fonts are Latin-1: replace what they cannot show (e.g. CJK titles)."""
    return (
        text.replace("\u2013", "-")
        .replace("\u2014", "-")
        .replace("\u2019", "'")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def write_pdf(
    path: Path,
    *,
    title: str,
    period,
    summary: str,
    kpis: Sequence[tuple[str, str, str, str]],
    charts: Sequence[tuple[str, bytes]],
    base_currency: str,
    tables: Sequence[tuple[str, str, Sequence[str], Sequence[Sequence[str]]]] = (),
) -> int:
    """Write the report PDF to ``path``; returns the page count."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_creation_date(datetime.combine(period.end, time(23, 59, 59), tzinfo=UTC))
    pdf.set_creator("ChannelHouse reports")
    pdf.set_producer("ChannelHouse (fpdf2)")
    pdf.set_title(_latin1(f"{title} {period.label}"))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 11)
    pdf.cell(0, 7, _latin1(f"Period: {period.description}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 8)
    pdf.cell(
        0,
        5,
        f"Amounts in {base_currency}. Source: the ChannelHouse warehouse marts.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    pdf.set_font("helvetica", "B", 12)
    pdf.cell(0, 7, "Summary", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    pdf.multi_cell(0, 5, _latin1(summary), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("helvetica", "B", 12)
    pdf.cell(0, 7, "Key figures", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 9)
    with pdf.table(
        col_widths=(70, 40, 40, 40),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD", fill_color=(225, 230, 240)),
        line_height=5,
    ) as table:
        table.row(["Metric", "This period", "Previous period", "Change"])
        for row in kpis:
            table.row([_latin1(c) for c in row])
    for caption, png in charts:
        width, height = struct.unpack(">II", png[16:24])  # the PNG header (IHDR)
        # caption and chart stay on one page; a chart taller than a page is shrunk to fit
        h = min(pdf.epw * height / width, pdf.page_break_trigger - pdf.t_margin - 12)
        w = h * width / height
        pdf.add_page() if pdf.get_y() + 10 + h > pdf.page_break_trigger else pdf.ln(4)
        pdf.set_font("helvetica", "B", 11)
        pdf.cell(0, 6, _latin1(caption), new_x="LMARGIN", new_y="NEXT")
        pdf.image(io.BytesIO(png), x=pdf.l_margin + (pdf.epw - w) / 2, w=w, h=h)
    for caption, note, header, rows in tables:  # (caption, a line under it, header, rows)
        pdf.add_page()
        pdf.set_font("helvetica", "B", 12)
        pdf.cell(0, 7, _latin1(caption), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("helvetica", "", 8)
        pdf.multi_cell(0, 4, _latin1(note), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        with pdf.table(
            text_align="LEFT",
            headings_style=FontFace(emphasis="BOLD", fill_color=(225, 230, 240)),
            line_height=4,
        ) as table:
            table.row([_latin1(h) for h in header])
            for row in rows:
                table.row([_latin1(c) for c in row])
    pdf.output(str(path))
    return pdf.pages_count
