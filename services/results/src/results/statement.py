"""The Statement of Results: one A4 page drawn with reportlab, with a QR code (segno) of the
verification URL. Names outside Latin-1 (Chinese, say) are set in reportlab's built-in CID font
for Traditional Chinese, which needs no font file."""

import calendar
import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache

import segno
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import cidfonts, pdfmetrics
from reportlab.pdfgen import canvas

from crs_shared.domain.exams import Exam

LATIN, LATIN_BOLD, CJK = "Helvetica", "Helvetica-Bold", "MSung-Light"
NOT_A_CERTIFICATE = "This is not a certificate."
SKILL_LABELS = {"reading": "Reading", "writing": "Writing", "listening": "Listening", "speaking": "Speaking",
                "use_of_english": "Use of English"}
INK = colors.HexColor("#1b2a41")
RULE = colors.HexColor("#9aa5b1")


@dataclass(frozen=True)
class Statement:
    candidate_id: str
    given_name: str
    family_name: str
    exam: Exam
    session: str  # YYYY-MM
    skills: dict[str, int]
    overall_score: int
    grade: str | None
    cefr_level: str | None
    verification_number: str
    verification_url: str
    released_at: datetime


@cache
def _cjk_font() -> str:
    # reportlab pairs MSung-Light with UniGB-UCS2-H, a Simplified Chinese CMap that does not fit the
    # font's Adobe-CNS1 glyph collection; strict viewers (poppler) then draw nothing. UniCNS-UCS2-H fits.
    cidfonts.defaultUnicodeEncodings[CJK] = ("cht", "UniCNS-UCS2-H")
    pdfmetrics.registerFont(cidfonts.UnicodeCIDFont(CJK))
    return CJK


def _runs(value: str, latin: str) -> list[tuple[str, str]]:
    """The text cut into (font, text) runs: Latin-1 text in the standard font, the rest in the CID
    font, since a CID font's Latin glyphs are missing from many viewers' substitutes."""
    runs: list[tuple[str, str]] = []
    for ch in value:
        font = latin if _standard_font_can_show(ch) else _cjk_font()
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + ch)
        else:
            runs.append((font, ch))
    return runs


def _standard_font_can_show(ch: str) -> bool:
    try:
        ch.encode("cp1252")
        return True
    except UnicodeEncodeError:
        return False


def session_label(session: str) -> str:
    year, month = session.split("-")
    return f"{calendar.month_name[int(month)]} {year}"


def render_statement(statement: Statement) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    page.setTitle(f"Statement of Results - {statement.exam.name} {statement.session}")
    page.setAuthor("Candidate Results Service")
    width, height = A4
    left, right = 25 * mm, width - 25 * mm

    def text(x: float, y: float, value: str, size: float = 11, bold: bool = False, align: str = "left",
             max_width: float | None = None) -> None:
        runs = _runs(value, LATIN_BOLD if bold else LATIN)
        total = sum(pdfmetrics.stringWidth(run, font, size) for font, run in runs)
        if max_width is not None and total > max_width:  # a long name shrinks to fit rather than run off the page
            size, total = size * max_width / total, max_width
        x -= {"left": 0, "right": total, "centre": total / 2}[align]
        for font, run in runs:
            page.setFont(font, size)
            page.drawString(x, y, run)
            x += pdfmetrics.stringWidth(run, font, size)

    def rule(y: float) -> None:
        page.setStrokeColor(RULE)
        page.setLineWidth(0.6)
        page.line(left, y, right, y)

    page.setFillColor(INK)
    y = height - 30 * mm
    text(left, y, "Statement of Results", 22, bold=True)
    text(right, y, statement.exam.name, 12, align="right")
    y -= 8 * mm
    text(left, y, "Cambridge English Scale", 10)
    rule(y - 4 * mm)

    y -= 16 * mm
    name = " ".join(part for part in (statement.given_name, statement.family_name) if part)
    for label, value in (
        ("Candidate name", name),
        ("ID Number", statement.candidate_id),
        ("Exam", statement.exam.name),
        ("Session", f"{session_label(statement.session)} ({statement.session})"),
        ("Date of issue", statement.released_at.strftime("%d %B %Y")),
    ):
        text(left, y, label, 10)
        text(left + 45 * mm, y, value, 12, bold=True, max_width=right - left - 45 * mm)
        y -= 8 * mm

    y -= 6 * mm
    text(left, y, "Skill", 10, bold=True)
    text(left + 110 * mm, y, "Score", 10, bold=True, align="right")
    rule(y - 2.5 * mm)
    y -= 9 * mm
    for skill in statement.exam.skills:
        text(left, y, SKILL_LABELS[skill], 11)
        text(left + 110 * mm, y, str(statement.skills[skill]), 11, align="right")
        y -= 7 * mm
    rule(y + 4 * mm)
    y -= 4 * mm
    for label, value in (("Overall score", str(statement.overall_score)),
                         ("Grade", statement.grade or "-"),
                         ("CEFR level", statement.cefr_level or "-")):
        text(left, y, label, 12, bold=True)
        text(left + 110 * mm, y, value, 12, bold=True, align="right")
        y -= 8 * mm

    # Verification: the number, the URL and its QR code.
    y -= 10 * mm
    qr_size = 32 * mm
    _draw_qr(page, statement.verification_url, right - qr_size, y - qr_size + 6 * mm, qr_size)
    text(left, y, "Verification number", 10)
    text(left, y - 8 * mm, statement.verification_number, 16, bold=True)
    text(left, y - 16 * mm, "Institutions can check this result at", 9)
    text(left, y - 21 * mm, statement.verification_url, 9, max_width=right - qr_size - left - 5 * mm)
    text(left, y - 26 * mm, "with the verification number and the candidate's family name.", 9)

    y = 30 * mm
    rule(y + 8 * mm)
    text(width / 2, y, NOT_A_CERTIFICATE, 14, bold=True, align="centre")
    text(width / 2, y - 6 * mm, "The certificate is issued separately by the exam board.", 9, align="centre")

    page.showPage()
    page.save()
    return buffer.getvalue()


def _draw_qr(page: canvas.Canvas, data: str, x: float, y: float, size: float) -> None:
    """The QR code as vector squares, with its quiet zone, bottom-left corner at (x, y)."""
    qr = segno.make(data, error="m", micro=False)
    border = 4
    modules = qr.symbol_size(border=border)[0]
    cell = size / modules
    page.setFillColor(colors.white)
    page.rect(x, y, size, size, stroke=0, fill=1)
    page.setFillColor(colors.black)
    for row_index, row in enumerate(qr.matrix):
        top = y + size - (row_index + border + 1) * cell
        col = 0
        while col < len(row):  # one rectangle per run of dark modules: fewer seams, smaller file
            if row[col]:
                run = col
                while run < len(row) and row[run]:
                    run += 1
                page.rect(x + (col + border) * cell, top, (run - col) * cell, cell, stroke=0, fill=1)
                col = run
            else:
                col += 1
    page.setFillColor(INK)
