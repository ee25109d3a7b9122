"""The PDF report: real photographs screened by the real engine, the PDF read back as text."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import errno
import io
import logging
import os
import re
import stat
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader
from reportlab.pdfbase.ttfonts import TTFont

from retina_screen import atomic, report
from retina_screen.errors import OutputError
from retina_screen.quality import Rule, Thresholds
from retina_screen.results import ICDR_LABELS, Eye, ImageStatus, Outcome, PatientInfo, PatientResult

ROOT = Path(__file__).resolve().parents[1]
CID_FONTS = {"/STSong-Light", "/HeiseiMin-W3", "/HYSMyeongJo-Medium"}
INTENDED_USE_PHRASES = ("for diabetic retinopathy only", "does not detect other eye disease",
                        "research use", "not cleared for clinical diagnosis")


# ---------------------------------------------------------------------------------------------
# helpers


def squash(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def pdf_pages(data: bytes) -> list[str]:
    return [squash(page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages]


def pdf_images(data: bytes) -> list[dict]:
    """Every image XObject: filters, pixel size and stored stream length."""
    found = []
    for page in PdfReader(io.BytesIO(data)).pages:
        xobjects = page["/Resources"].get("/XObject") or {}
        for ref in xobjects.values():
            obj = ref.get_object()
            if obj.get("/Subtype") != "/Image":
                continue
            filters = obj.get("/Filter")
            filters = [str(f) for f in filters] if isinstance(filters, list) else [str(filters)]
            found.append({"filters": filters, "width": int(obj["/Width"]),
                          "bytes": len(obj._data), "smask": "/SMask" in obj})
    return found


def pdf_fonts(data: bytes) -> dict[str, dict]:
    fonts: dict[str, dict] = {}
    for page in PdfReader(io.BytesIO(data)).pages:
        for ref in (page["/Resources"].get("/Font") or {}).values():
            font = ref.get_object()
            descriptor = font.get("/FontDescriptor")
            descriptor = descriptor.get_object() if descriptor is not None else {}
            fonts[str(font["/BaseFont"])] = {"subtype": str(font["/Subtype"]),
                                             "embedded": "/FontFile2" in descriptor}
    return fonts


def percent(p: float) -> str:
    return f"{p:.0%}"


def check_report(data: bytes, result: PatientResult, settings, report_id: str) -> list[str]:
    """Every field the issue asks for, as the engine decided it. Returns the page texts."""
    pages = pdf_pages(data)
    page1, text = pages[0], " ".join(pages)
    referral = result.referral
    # clinic header
    assert settings.clinic_name in page1
    for line in settings.clinic_address.splitlines():
        assert line in page1
    assert f"Operator: {settings.operator}" in page1
    assert f"Report ID: {report_id}" in page1
    today = dt.date.today()
    assert any(f"Date and time: {d.isoformat()}" in page1
               for d in (today, today - dt.timedelta(days=1)))
    # the outcome, at the top of page 1 (before the patient and the findings)
    assert referral.headline in page1
    assert page1.index(referral.headline) < page1.index("Findings for each eye")
    assert page1.index(referral.headline) < page1.index(f"Name {result.patient.name or 'not'}")
    assert f"Action: {referral.action}" in page1
    assert f"Time frame: {referral.interval}" in page1
    if result.outcome.is_referral:
        assert f"Urgency: {referral.urgency.upper()}" in page1
    # patient (unknown fields say so)
    patient = result.patient
    assert f"Name {patient.name or 'not recorded'}" in page1
    assert f"Patient ID {patient.patient_id or 'not recorded'}" in page1
    assert f"Date of birth {patient.birth_date or 'not recorded'}" in page1
    diabetes = patient.diabetes_type[:1].upper() + patient.diabetes_type[1:]
    assert f"Diabetes type {diabetes or 'not recorded'}" in page1
    assert f"Screening date {patient.screening_date}" in page1
    for note in result.notes:
        assert squash(note) in text
    # each eye
    for which in (Eye.RIGHT, Eye.LEFT, Eye.UNKNOWN):
        eye = result.eye(which)
        if eye is None:
            if which is not Eye.UNKNOWN:
                assert which.label in text
                assert "No photograph of this eye." in text
            continue
        assert which.label in text
        if eye.grade is None:
            assert "DR grade: not graded (no gradable photograph)" in text
        else:
            assert f"DR grade: {ICDR_LABELS[eye.grade]} (ICDR grade {eye.grade})" in text
            assert f"Probability of referable DR: {percent(eye.p_referable)}" in text
        for image in eye.images:
            assert Path(image.source).name in text
            if image.status is ImageStatus.OK and len(eye.images) > 1:
                grading = image.grading
                assert (f"This photograph: {ICDR_LABELS[grading.grade]} (ICDR {grading.grade}), "
                        f"probability of referable DR {percent(grading.p_referable)}") in text
            elif image.status is ImageStatus.OK:  # one photograph: its grade is the eye's,
                grading = image.grading            # printed once
                assert f"(ICDR {grading.grade})" not in text
                assert text.count(f"DR grade: {ICDR_LABELS[grading.grade]} (ICDR grade "
                                  f"{grading.grade})") >= 1
            elif image.status is ImageStatus.UNGRADABLE:
                assert "Quality: ungradable" in text
                for reason in image.reasons:
                    assert squash(reason) in text
            else:
                assert f"Quality: could not be read \u2013 {squash(image.error)}" in text
    n_ok = sum(i.status is ImageStatus.OK for i in result.images)
    assert text.count("Quality: gradable") == n_ok
    # model, thresholds, intended use
    model = result.model
    assert f"{model.name}, version {model.version}, sha256 {model.sha256[:12]}" in text
    assert f"Quality thresholds: version {result.thresholds_version}" in text
    for phrase in INTENDED_USE_PHRASES:
        assert phrase in text
    # a referral letter only for a referral; "insufficient" gets a retake / human-grading note
    if result.outcome is Outcome.NO_REFERABLE:
        assert "No referral needed." in text and "Referral letter" not in text
    elif result.outcome is Outcome.INSUFFICIENT:
        assert "Referral letter" not in text and "To The eye service" not in text
        assert "Retake or human grading needed" in text and "This is not a referral." in text
        assert f"Next step: {referral.action}" in text
        assert "Human grader (name)" in text and "Grade / decision" in text
    else:
        letter = text[text.index("Referral letter"):]
        assert "To The eye service" in letter
        assert referral.headline in letter
        assert "Referring clinician (name)" in letter and "Signature" in letter
        assert "Date" in letter and "Received by the eye service on" in letter
        assert (patient.name or "not recorded") in letter
    return pages


def render(result: PatientResult, settings, tmp_path: Path, name: str = "report.pdf",
           report_id: str | None = None) -> tuple[bytes, str]:
    report_id = report_id or report.new_report_id()
    path = report.build_report(result, tmp_path / name, settings, report_id=report_id)
    assert path == tmp_path / name
    return path.read_bytes(), report_id


# ---------------------------------------------------------------------------------------------
# fixtures: each test patient is screened once


@pytest.fixture(scope="module")
def settings():
    from retina_screen.settings import load_settings

    return load_settings(
        overrides={"clinic_name": "Harbour Diabetes Centre",
                   "clinic_address": "12 Harbour Road\nPort Elizabeth 6001",
                   "operator": "Nomsa Dlamini", "language": "en"},  # whatever the locale
        use_environment=False, use_file=False,
    )


def both_eyes(srahim: Path, patient: str) -> list[tuple[Path, Eye]]:
    return [(srahim / "images" / f"{patient}_R.jpg", Eye.RIGHT),
            (srahim / "images" / f"{patient}_L.jpg", Eye.LEFT)]


@pytest.fixture(scope="module")
def referable(screener, srahim) -> PatientResult:
    # Patient036: ophthalmologists graded both eyes ICDR 2 with maculopathy (labels.csv).
    return screener.screen_patient(both_eyes(srahim, "Patient036"), PatientInfo(
        patient_id="SR-036", name="Zoë Ångström-Núñez", birth_date="1958-03-14",
        diabetes_type="type 2"))


@pytest.fixture(scope="module")
def negative(screener, srahim) -> PatientResult:
    # Patient006: both eyes ICDR 0, no maculopathy.
    return screener.screen_patient(both_eyes(srahim, "Patient006"), PatientInfo(
        patient_id="SR-006", name="Анна Кузнецова", diabetes_type="type 1"))


@pytest.fixture(scope="module")
def one_eye(screener, srahim) -> PatientResult:
    # Patient008 (ICDR 0): only the right eye photographed.
    return screener.screen_patient(both_eyes(srahim, "Patient008")[:1], PatientInfo(
        patient_id="SR-008", name="Ελένη Παπαδοπούλου", birth_date="1949-11-30"))


@pytest.fixture(scope="module")
def bad_photos(screener, data_dir) -> PatientResult:
    # Obviously bad: a DRIMDB outlier (not a fundus photograph), an almost white (overexposed)
    # and an almost black DRIMDB "bad" photograph.
    drimdb = data_dir / "drimdb" / "images"
    return screener.screen_patient([(drimdb / "outlier" / "drimdb_outlier (1).jpg", Eye.RIGHT),
                                    (drimdb / "bad" / "drimdb_bad (1).jpg", Eye.RIGHT),
                                    (drimdb / "bad" / "drimdb_bad (49).jpg", Eye.LEFT)],
                                   PatientInfo())


@pytest.fixture(scope="module")
def rejected(screener, srahim, tmp_path_factory) -> PatientResult:
    """A gate rejection and an unreadable file, independent of the thresholds being calibrated.

    The right eye's real photograph goes through the real quality gate with one deliberately
    impossible rule; the left eye's file is a real JPEG cut short.
    """
    strict = copy.copy(screener)
    strict.thresholds = Thresholds("test-strict", (Rule(
        "fundus", "redness", "min", 1e9, "impossible test rule"),), ())
    truncated = tmp_path_factory.mktemp("photos") / "Patient013_L.jpg"
    truncated.write_bytes((srahim / "images" / "Patient013_L.jpg").read_bytes()[:3000])
    return strict.screen_patient([(srahim / "images" / "Patient013_R.jpg", Eye.RIGHT),
                                  (truncated, Eye.LEFT)], PatientInfo(patient_id="SR-013"))


# ---------------------------------------------------------------------------------------------
# content


def test_referable_patient(referable, settings, tmp_path):
    assert referable.outcome.is_referral, "engine no longer refers Patient036: pick another"
    data, report_id = render(referable, settings, tmp_path)
    pages = check_report(data, referable, settings, report_id)
    assert len(pages) == 2  # the patient's page, then the referral letter on its own page
    assert "Referral letter" in pages[1] and "Referral letter" not in pages[0]
    # thumbnails: photograph per image, heatmap where the model found something; small JPEGs
    images = [i for i in pdf_images(data) if "/DCTDecode" in i["filters"]]
    with_heatmap = sum(report.heatmap_worth_showing(i.grading) for i in referable.images)
    assert with_heatmap >= 1
    assert len(images) == len(referable.images) + with_heatmap
    assert all(i["width"] <= report.THUMB_PX and i["bytes"] < 80_000 for i in images)
    assert pages[0].count("Photograph Heatmap") == with_heatmap  # thumbnail captions


def test_negative_patient(negative, settings, tmp_path):
    assert negative.outcome is Outcome.NO_REFERABLE, "engine now refers Patient006: pick another"
    data, report_id = render(negative, settings, tmp_path)
    pages = check_report(data, negative, settings, report_id)
    assert len(pages) == 1
    assert "No referral letter is produced for this result." in pages[0]
    # grade 0 in both eyes: no grey, empty heatmap; the reason is given instead
    assert not any(report.heatmap_worth_showing(i.grading) for i in negative.images)
    assert len([i for i in pdf_images(data) if "/DCTDecode" in i["filters"]]) == \
        len(negative.images)
    assert pages[0].count(report.NOTHING_STOOD_OUT) == len(negative.images)


def test_patient_with_one_eye_missing(one_eye, settings, tmp_path):
    assert one_eye.eye(Eye.LEFT) is None
    assert any("Left eye (OS)" in note for note in one_eye.notes)
    data, report_id = render(one_eye, settings, tmp_path)
    pages = check_report(data, one_eye, settings, report_id)
    assert "Please note:" in pages[0]
    if one_eye.outcome is Outcome.INSUFFICIENT:  # the engine's rule when the other eye is fine
        assert "Left eye (OS): no photograph \u2013 photograph this eye" in " ".join(pages)


def test_ungradable_images_by_quality_gate_and_unreadable_file(rejected, settings, tmp_path):
    right, left = rejected.eye(Eye.RIGHT), rejected.eye(Eye.LEFT)
    assert right.images[0].status is ImageStatus.UNGRADABLE
    assert left.images[0].status is ImageStatus.ERROR
    assert rejected.outcome is Outcome.INSUFFICIENT
    data, report_id = render(rejected, settings, tmp_path)
    pages = check_report(data, rejected, settings, report_id)
    text = " ".join(pages)
    reasons = squash("; ".join(right.images[0].reasons))
    assert reasons and f"Quality: ungradable \u2013 {reasons}" in text
    assert "Not graded" in pages[0] and "Photograph Heatmap" not in pages[0]
    assert len([i for i in pdf_images(data) if "/DCTDecode" in i["filters"]]) == 1
    assert "Photograph could not be read" in pages[0]
    note = text[text.index("Retake or human grading needed"):]
    assert f"Right eye (OD): {reasons}" in note  # what to fix, per eye
    assert "Left eye (OS):" in note


def test_obviously_bad_drimdb_photographs(bad_photos, screener, settings, tmp_path):
    data, report_id = render(bad_photos, settings, tmp_path)
    check_report(data, bad_photos, settings, report_id)  # each image shown as the engine judged
    rejected_any = any(i.status is ImageStatus.UNGRADABLE for i in bad_photos.images)
    thresholds = screener.thresholds
    gate = (thresholds.fundus_rules or thresholds.quality_rules
            or getattr(screener.model.manifest, "gate", None))
    if not rejected_any and not gate:
        pytest.skip(f"quality gate {thresholds.version} has no rules and no fundus model yet")
    assert rejected_any, "the quality gate passed a non-fundus, a white and a black photograph"


def test_missing_heatmap_is_said_not_left_blank(negative, settings):
    image = negative.images[0]
    plain = dataclasses.replace(image, grading=dataclasses.replace(image.grading, heatmap=None))
    eye = dataclasses.replace(negative.eyes[0], images=(plain,))
    result = dataclasses.replace(negative, eyes=(eye, *negative.eyes[1:]))
    text = " ".join(pdf_pages(report.report_bytes(result, settings)))
    assert "No heatmap from this model" in text


# ---------------------------------------------------------------------------------------------
# fonts and names


@pytest.mark.parametrize("name", [
    "Zoë Ångström-Núñez",
    "Łukasz Żółkiewski-Čapek",
    "Дмитрий Шостакович",
    "Νικόλαος Παπαδόπουλος",
    "Nguyễn Thị Minh Khai",
])
def test_latin_cyrillic_greek_names_render_exactly(negative, settings, name):
    result = dataclasses.replace(negative, patient=dataclasses.replace(
        negative.patient, name=name, patient_id="ΑΒΓ-Жж-ñ"))
    data = report.report_bytes(result, settings)
    page1 = pdf_pages(data)[0]
    assert f"Name {name}" in page1
    assert "Patient ID ΑΒΓ-Жж-ñ" in page1
    assert "cannot print" not in page1
    assert not any(f in CID_FONTS for f in pdf_fonts(data))


@pytest.mark.parametrize("name", ["王小明", "李 Li Ming", "山田 はなこ", "김민준"])
def test_cjk_names_use_an_embedded_cjk_font(negative, settings, name):
    result = dataclasses.replace(negative, patient=dataclasses.replace(negative.patient,
                                                                       name=name))
    data = report.report_bytes(result, settings)
    assert f"Name {name}" in pdf_pages(data)[0]
    fonts = pdf_fonts(data)
    assert not CID_FONTS & set(fonts)  # nothing left for the viewer to supply
    cjk = [f for name_, f in fonts.items() if report.CJK in name_]
    assert cjk and all(f["embedded"] for f in cjk)
    assert report.cjk_embedded(name)
    # a subset: the name costs a few KB, not the 5 MB font
    assert len(data) - len(report.report_bytes(negative, settings)) < 60_000


def test_cjk_without_the_font_file_falls_back_and_says_so(negative, settings, monkeypatch):
    monkeypatch.setattr(report, "_cjk_coverage", frozenset())
    assert not report.cjk_embedded("王小明") and report.cjk_embedded("Zoë")
    result = dataclasses.replace(negative, patient=dataclasses.replace(negative.patient,
                                                                       name="王小明"))
    data = report.report_bytes(result, settings)
    assert "Name 王小明" in pdf_pages(data)[0]
    assert CID_FONTS & set(pdf_fonts(data))


def test_arabic_name_is_never_printed_as_boxes(negative, settings):
    name = "محمد عبد الله"
    result = dataclasses.replace(negative, patient=dataclasses.replace(negative.patient,
                                                                       name=name))
    data = report.report_bytes(result, settings)
    page1 = pdf_pages(data)[0]
    shown = re.sub(r"\S", "?", name)  # "???? ??? ????"
    assert f"Name {shown}" in page1
    assert "The name contains characters this report cannot print" in page1
    assert not any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in page1)


def test_text_too_long_for_a_page_is_shortened_not_fatal(referable, settings):
    """A name of thousands of characters (a hostile DICOM or worklist entry) or a clinic
    address of many long lines made reportlab raise LayoutError (a table cell cannot split
    across pages): no report, and a batch stopped at that patient on every run. Each value is
    now shortened with an ellipsis, and a shortened name or patient ID is said so."""
    name = "Wolfeschlegelsteinhausen " * 200  # 5,000 characters
    result = dataclasses.replace(referable, patient=dataclasses.replace(
        referable.patient, name=name, patient_id="P" * 600))
    long_settings = dataclasses.replace(
        settings, clinic_name="Clinic " * 500, operator="Operator " * 400,
        clinic_address="\n".join(f"Line{i} " + "Street " * 40 for i in range(30)))
    data = report.report_bytes(result, long_settings)
    text = " ".join(pdf_pages(data))
    assert "The name and patient ID are too long to print in full, shortened to end in" in text
    assert "Name " + name[:150] in text  # the start of the name is printed as it is
    assert "Line6" in text and "Line7" in text and "Line8" not in text  # 8 address lines
    # the footer keeps to one line: the ID shortened there, the full 200 characters on the page
    short_id = "P" * (report.FOOTER_ID_MAX_CHARS - 1) + report.SHORTENED
    assert f"patient ID {short_id} Page 1 of" in text
    assert "too long to print" not in pdf_pages(report.report_bytes(referable, settings))[0]


def test_printable_text_only_uses_glyphs_the_fonts_have():
    fonts = [TTFont(f"check{i}", str(ROOT / "assets" / "fonts" / name))
             for i, name in enumerate(("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"))]
    for name in ("Zoë Ñúñez", "Иван Петров", "Γιώργος", "王小明", "محمد", "שרה לוי",
                 "देवनागरी", "Ōsaka ĳ", "Tab\tand\nnewline", "e\u0301 decomposed"):
        text, lost = report.printable(name)
        for ch in text:
            cjk = any(lo <= ord(ch) <= hi for lo, hi in ((0x3040, 0x30FF), (0x4E00, 0x9FFF),
                                                         (0xAC00, 0xD7AF)))
            assert cjk or all(ord(ch) in f.face.charToGlyph for f in fonts), (name, ch)
        assert lost == (report.UNPRINTABLE in text and report.UNPRINTABLE not in name)
    assert report.printable("e\u0301 decomposed") == ("\u00e9 decomposed", False)
    assert report.printable("Tab\tand\nnewline") == ("Tab and newline", False)


def test_embeds_every_truetype_font_it_uses(referable, settings):
    fonts = pdf_fonts(report.report_bytes(referable, settings))
    assert any("DejaVuSans" in f for f in fonts) and any("DejaVuSans-Bold" in f for f in fonts)
    for name, font in fonts.items():
        assert font["subtype"] == "/TrueType" and font["embedded"], name  # no Helvetica etc.


# ---------------------------------------------------------------------------------------------
# layout, logo, ids


@pytest.mark.parametrize(("paper", "size"), [("A4", (595.28, 841.89)), ("Letter", (612, 792))])
def test_paper_sizes(referable, settings, paper, size):
    data = report.report_bytes(referable, settings.replace(paper_size=paper))
    reader = PdfReader(io.BytesIO(data))
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == pytest.approx(size,
                                                                                         abs=0.1)
    page1 = squash(reader.pages[0].extract_text())
    for must in (referable.referral.headline, "Findings for each eye", "Right eye (OD)",
                 "Left eye (OS)", "Photograph 1 of 1: Patient036_L.jpg"):
        assert must in page1


def test_default_logo_and_broken_logo(negative, settings, tmp_path, caplog):
    assert settings.clinic_logo.is_file()
    with_logo = pdf_images(report.report_bytes(negative, settings))
    assert sum("/DCTDecode" not in i["filters"] and i["smask"] for i in with_logo) == 1
    missing = tmp_path / "no-such-logo.png"
    broken = tmp_path / "broken-logo.png"
    broken.write_bytes(b"this is not a PNG file")
    for logo in (missing, broken):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="retina_screen.report"):
            data = report.report_bytes(negative, settings.replace(clinic_logo=logo))
        assert any("logo" in r.getMessage() and r.levelno == logging.WARNING
                   for r in caplog.records)
        assert all("/DCTDecode" in i["filters"] for i in pdf_images(data))
        assert negative.referral.headline in pdf_pages(data)[0]


def test_report_ids_are_unique():
    ids = {report.new_report_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"RS-\d{8}-\d{6}-[0-9A-F]{8}", i) for i in ids)


def test_logs_carry_no_patient_data(referable, settings, tmp_path, caplog):
    with caplog.at_level(logging.DEBUG):
        render(referable, settings, tmp_path)
    assert caplog.records, "the report logs that it was written"
    for secret in (referable.patient.name, referable.patient.patient_id, "Patient036"):
        assert secret not in caplog.text


def test_core_module_does_not_import_qt():
    code = ("import sys, retina_screen.report; "
            "bad = [m for m in sys.modules if m.startswith(('PySide', 'PyQt', 'shiboken'))]; "
            "assert not bad, bad")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, timeout=120)


# ---------------------------------------------------------------------------------------------
# writing


def test_file_permissions_follow_settings(negative, settings, tmp_path):
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    for mode in (0o600, 0o640):
        path = report.build_report(negative, tmp_path / f"r{mode:o}.pdf",
                                   settings.replace(file_mode=mode))
        assert stat.S_IMODE(path.stat().st_mode) == mode


class Crash(BaseException):
    """Stands for the process dying mid-write (not an OSError)."""


def _half_then(exc: BaseException):
    def write(fd: int, data: bytes) -> None:
        os.write(fd, data[: len(data) // 2])
        raise exc
    return write


@pytest.mark.parametrize("failure", ["disk full midway", "crash midway", "fsync", "replace"])
def test_failed_write_leaves_no_partial_file(negative, settings, tmp_path, monkeypatch, failure):
    folder = tmp_path / "reports"
    folder.mkdir()
    target = folder / "SR-006_report.pdf"
    previous = folder / "SR-006_previous.pdf"
    report.build_report(negative, previous, settings)
    old = previous.read_bytes()
    if failure == "disk full midway":
        monkeypatch.setattr(atomic, "_write_all",
                            _half_then(OSError(errno.ENOSPC, "No space left on device")))
    elif failure == "crash midway":
        monkeypatch.setattr(atomic, "_write_all", _half_then(Crash()))
    elif failure == "fsync":
        def fsync(fd: int) -> None:
            raise OSError(errno.EIO, "Input/output error")
        monkeypatch.setattr(os, "fsync", fsync)
    else:
        def replace(src, dst) -> None:
            raise PermissionError(errno.EACCES, "Permission denied")
        monkeypatch.setattr(os, "replace", replace)

    for path in (target, previous):  # a new report, and one replacing an older report
        expected = Crash if failure == "crash midway" else OutputError
        with pytest.raises(expected) as caught:
            report.build_report(negative, path, settings)
        if failure == "disk full midway":
            assert "the disk is full" in str(caught.value)
    assert sorted(p.name for p in folder.iterdir()) == [previous.name]  # no temp file left
    assert previous.read_bytes() == old  # the older report is untouched


def test_unwritable_destination_raises_output_error(negative, settings, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(OutputError, match="could not be saved"):
        report.build_report(negative, blocker / "report.pdf", settings)


def test_report_bytes_for_preview(referable, settings, tmp_path):
    data = report.report_bytes(referable, settings, report_id="RS-PREVIEW-1")
    assert data.startswith(b"%PDF-")
    assert "Report ID: RS-PREVIEW-1" in pdf_pages(data)[0]
    assert not any(tmp_path.iterdir())  # nothing written


def test_report_folder_is_created(negative, settings, tmp_path):
    path = report.build_report(negative, tmp_path / "new" / "deeper" / "r.pdf", settings)
    assert path.is_file() and PdfReader(str(path)).pages


# ---------------------------------------------------------------------------------------------
# language


def test_spanish_report_has_no_untranslated_text(referable, negative, one_eye, rejected,
                                                 settings, monkeypatch):
    from retina_screen import i18n

    catalogues = []
    original = i18n.Catalogue.__init__

    def remember(self, language="en"):  # noqa: ANN001
        original(self, language)
        catalogues.append(self)

    monkeypatch.setattr(i18n.Catalogue, "__init__", remember)
    spanish = settings.replace(language="es")
    english_only = ("Findings for each eye", "Probability of referable DR", "Referral letter",
                    "Date of birth", "Please note", "About this result", "Quality:", "Page 1 of",
                    "not recorded", "to be seen within", "Intended use", "Retake or human",
                    "no photograph", "Right eye", "Left eye")
    for result in (referable, negative, one_eye, rejected):
        text = " ".join(pdf_pages(report.report_bytes(result, spanish)))
        assert "Informe de cribado de retinopatía diabética" in text
        assert "Hallazgos de cada ojo" in text and "Ojo derecho (OD)" in text
        for phrase in english_only:
            assert phrase not in text, phrase
    missing = set().union(*(c.missing for c in catalogues))
    assert not missing, sorted(missing)
    assert all(c.language == "es" for c in catalogues)


def test_each_photograph_shows_its_camera_date(negative, settings):
    """A visit whose photographs were taken on different days reads "images insufficient" with
    a note naming the dates; each photograph's line says its own date, so the reader sees which
    one is from another day (English and Spanish)."""
    from retina_screen.decision import combine_patient, load_referral_table

    right, left = negative.images
    dated = combine_patient(negative.patient, (dataclasses.replace(right, taken="2026-11-29"),
                                               dataclasses.replace(left, taken="2025-11-27")),
                            load_referral_table(), negative.screened_at, negative.model,
                            negative.thresholds_version)
    assert dated.outcome is Outcome.INSUFFICIENT
    text = " ".join(pdf_pages(report.report_bytes(dated, settings)))
    assert "taken 2026-11-29" in text and "taken 2025-11-27" in text
    assert "taken on different days" in text
    spanish = " ".join(pdf_pages(report.report_bytes(dated, settings.replace(language="es"))))
    assert "tomada el 2026-11-29" in spanish and "tomada el 2025-11-27" in spanish


def test_language_setting_follows_the_system_by_default(monkeypatch):
    from retina_screen import i18n

    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "es_ES.UTF-8")
    assert i18n.resolve_language("system") == "es"
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert i18n.resolve_language("system") == "en"  # no French catalogue: English
    assert i18n.resolve_language("es") == "es" and i18n.resolve_language("en") == "en"


def test_engine_wording_has_spanish_for_every_reason_and_referral():
    """Every quality-gate reason and referral-table text the engine can show has a Spanish
    entry (a new rule or table row without one fails here, not on a clinic's printer)."""
    import json

    from retina_screen import i18n
    from retina_screen.quality import GATE_REASON

    data = ROOT / "retina_screen" / "data"
    texts = {GATE_REASON}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reason" and isinstance(value, str):
                    texts.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads((data / "quality_thresholds.json").read_text(encoding="utf-8")))
    table = json.loads((data / "referral_table.json").read_text(encoding="utf-8"))
    for row in [*table["grades"].values(), table["insufficient"]]:
        texts |= {row[key] for key in ("headline", "action", "interval", "urgency")}
    texts |= set(ICDR_LABELS) | {eye.label for eye in Eye}
    spanish = i18n.Catalogue("es")
    untranslated = sorted(t for t in texts if spanish.engine(t) == t)
    assert not untranslated, untranslated
