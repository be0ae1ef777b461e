"""The Statement of Results as drawn, read back with pypdf (no service needed)."""

import io
from datetime import UTC, datetime

import pypdf
import pypdfium2
import zxingcpp

from crs_shared.domain.exams import EXAMS
from results.statement import Statement, render_statement, session_label


def statement(**overrides) -> Statement:
    fields = dict(candidate_id="SIR094701", given_name="Amy", family_name="Chen", exam=EXAMS["A2_KEY"], session="2026-06",
                  skills={"reading": 118, "writing": 119, "listening": 120, "speaking": 119}, overall_score=119,
                  grade=None, cefr_level="A1", verification_number="7KQ2-M9XH-4TRE",
                  verification_url="https://results.example/verify?number=7KQ2-M9XH-4TRE",
                  released_at=datetime(2026, 7, 14, 9, 0, tzinfo=UTC))
    return Statement(**(fields | overrides))


def text_of(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    return reader.pages[0].extract_text()


def test_a_four_skill_statement_without_a_grade():
    text = text_of(render_statement(statement()))
    assert "Amy Chen" in text and "A2 Key (KET)" in text and "June 2026 (2026-06)" in text and "14 July 2026" in text
    assert "Reading\n118" in text and "Speaking\n119" in text and "Use of English" not in text
    assert "Overall score\n119" in text and "Grade\n-" in text and "CEFR level\nA1" in text
    assert "7KQ2-M9XH-4TRE" in text and "https://results.example/verify?number=7KQ2-M9XH-4TRE" in text
    assert "This is not a certificate." in text


def test_the_qr_code_holds_the_verification_url():
    # Read as a phone would: the page rendered to pixels, the symbol decoded.
    url = "https://results.example/verify?number=2222-3333-4444"
    page = pypdfium2.PdfDocument(render_statement(statement(verification_url=url)))[0]
    symbols = zxingcpp.read_barcodes(page.render(scale=3).to_pil())
    assert [(s.format, s.text) for s in symbols] == [(zxingcpp.BarcodeFormat.QRCode, url)]


def test_chinese_names_are_drawn():
    text = text_of(render_statement(statement(given_name="小明", family_name="歐陽")))
    assert "小明" in "".join(text.split()) and "歐陽" in "".join(text.split())


def test_a_long_name_shrinks_to_fit_the_page():
    long_name = "Maximiliana Bartholomea Wilhelmina-Ottilie Montgomery-Fotheringham"
    pdf = render_statement(statement(given_name=long_name, family_name="Featherstonehaugh-Cholmondeley"))
    assert f"{long_name} Featherstonehaugh-Cholmondeley" in text_of(pdf)
    content = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].get_contents().get_data().decode("latin-1")
    lines = content.splitlines()
    name_at = next(index for index, line in enumerate(lines) if "Featherstonehaugh" in line)
    font_size = float(lines[name_at - 1].split()[2])  # "BT /F2 <size> Tf ..." sets the name's font
    assert 5 < font_size < 12  # smaller than the usual 12 points


def test_session_labels():
    assert session_label("2026-06") == "June 2026" and session_label("2025-12") == "December 2025"
