"""A screened patient's results as DICOM: the PDF report as an Encapsulated PDF instance and a
Comprehensive SR with the findings in coded entries.

Built from the batch journal's records (the patient's visit record and its image records), so a
finished batch can be sent later without screening again. The instances join the study of the
source photographs when they came as DICOM (Study Instance UID, accession number and patient
module copied from the photograph's header); otherwise they form a new study of their own.

UIDs are derived from content (``2.25.<n>`` from a hash of the patient, the visit and what was
found), so building the same result again, e.g. after a resumed batch, gives the same UIDs and
the PACS stores it once. A visit screened again with a different result gets new instances.

Codes: SNOMED CT (``SCT``) for diabetic retinopathy severity, the eye, laterality and yes/no;
DICOM (``DCM``) for findings, conclusions, recommendations and the algorithm's identification;
LOINC for the document title. Where no standard code exists (the ICDR grade number, the
probability of referable DR, the image quality verdict, the model's sha256), the concept is coded
in this application's local scheme ``99RTSCR`` (declared in the Coding Scheme Identification
Sequence) and the value is given as text or a number.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..loading import is_dicom_file
from ..results import sex_code
from ..settings import Settings

log = logging.getLogger(__name__)

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
LOCAL_SCHEME = "99RTSCR"
MANUFACTURER = "retina-screen"
#: Namespace of the content-derived UIDs (a fixed random UUID of this application).
UID_NAMESPACE = uuid.UUID("6f1d3c0e-8a57-4c39-9d0b-6c2b1f7e5a41")

Code = tuple[str, str, str]  # (value, scheme designator, meaning)

# Where the codes come from (checked against public references, not from memory):
# - DCM, LN and the SNOMED CT structure/qualifier codes are DICOM PS3.16 concepts, with the
#   code meanings PS3.16 gives them, as in pydicom's PS3.16 code dictionary
#   (pydicom.sr._concepts_dict / _cid_dict): 121070 Findings, 121071 Finding, 121076
#   Conclusions, 121077 Conclusion, 121074 Recommendations, 121075 Recommendation (CID 6053,
#   7002), 111001 Algorithm Name, 111003 Algorithm Version; SCT 363698007 Finding Site,
#   81745001 Eye (CID 4209), 272741003 Laterality, 24028007 Right / 7771000 Left (CID 244
#   Laterality), 373066001 Yes / 373067005 No (CID 230); UCUM "1" no units (CID 7181); LN
#   18748-4 Diagnostic Imaging Report (CID 7000 Diagnostic Imaging Report Document Titles).
# - DICOM PS3.16 has no context group for diabetic retinopathy severity (CID 4220 and 4221 are
#   visual fixation quality, not DR): the SNOMED CT disorders used instead are those of the
#   eCQM value set "Level of Severity of Retinopathy Findings" (VSAC OID
#   2.16.840.1.113883.3.526.3.1283): 312903003, 312904009, 312905005 mild / moderate / severe
#   nonproliferative and 59276001 proliferative retinopathy due to diabetes mellitus.
# - "{grade}" is a UCUM annotation (a unit of 1 with a label, UCUM section 6.4), not a code from
#   a DICOM context group; not checked against a DICOM list.
DOCUMENT_TITLE: Code = ("18748-4", "LN", "Diagnostic Imaging Report")
FINDINGS: Code = ("121070", "DCM", "Findings")
FINDING: Code = ("121071", "DCM", "Finding")
CONCLUSIONS: Code = ("121076", "DCM", "Conclusions")
CONCLUSION: Code = ("121077", "DCM", "Conclusion")
RECOMMENDATIONS: Code = ("121074", "DCM", "Recommendations")
RECOMMENDATION: Code = ("121075", "DCM", "Recommendation")
ALGORITHM_NAME: Code = ("111001", "DCM", "Algorithm Name")
ALGORITHM_VERSION: Code = ("111003", "DCM", "Algorithm Version")
FINDING_SITE: Code = ("363698007", "SCT", "Finding Site")
EYE: Code = ("81745001", "SCT", "Eye")
LATERALITY: Code = ("272741003", "SCT", "Laterality")
SIDES: dict[str, Code] = {"right": ("24028007", "SCT", "Right"),
                          "left": ("7771000", "SCT", "Left")}
YES: Code = ("373066001", "SCT", "Yes")
NO: Code = ("373067005", "SCT", "No")
NO_UNITS: Code = ("1", "UCUM", "no units")
GRADE_UNITS: Code = ("{grade}", "UCUM", "grade")
#: ICDR grade -> SNOMED CT severity (grade 0 has no SNOMED CT finding code in that value set:
#: a local code; the FHIR export adds LOINC's answer LA18643-9 "No apparent retinopathy").
SEVERITY: dict[int, Code] = {
    0: ("ICDR-0", LOCAL_SCHEME, "No apparent diabetic retinopathy"),
    1: ("312903003", "SCT", "Mild nonproliferative diabetic retinopathy"),
    2: ("312904009", "SCT", "Moderate nonproliferative diabetic retinopathy"),
    3: ("312905005", "SCT", "Severe nonproliferative diabetic retinopathy"),
    4: ("59276001", "SCT", "Proliferative diabetic retinopathy"),
}
ICDR_GRADE: Code = ("ICDR-GRADE", LOCAL_SCHEME, "ICDR diabetic retinopathy grade")
P_REFERABLE: Code = ("P-REFERABLE", LOCAL_SCHEME, "Probability of referable diabetic retinopathy")
REFERABLE: Code = ("REFERABLE-DR", LOCAL_SCHEME, "Referable diabetic retinopathy")
EYE_OUTCOME: Code = ("EYE-OUTCOME", LOCAL_SCHEME, "Eye screening outcome")
IMAGE_QUALITY: Code = ("IMAGE-QUALITY", LOCAL_SCHEME, "Image quality verdict")
OUTCOME: Code = ("OUTCOME", LOCAL_SCHEME, "Screening outcome")
INTERVAL: Code = ("INTERVAL", LOCAL_SCHEME, "Referral or rescreening interval")
URGENCY: Code = ("URGENCY", LOCAL_SCHEME, "Urgency")
ALGORITHM: Code = ("ALGORITHM", LOCAL_SCHEME, "Screening algorithm")
MODEL_SHA256: Code = ("MODEL-SHA256", LOCAL_SCHEME, "Model sha256")
MODEL_VERIFIED: Code = ("MODEL-VERIFIED", LOCAL_SCHEME, "Model verified")


@dataclass(frozen=True)
class SourceStudy:
    """The study of the source photographs, from a DICOM photograph's header."""

    study_uid: str
    accession: str = ""
    patient_id: str = ""
    patient_name: str = ""  # DICOM PN as stored (Family^Given)
    birth_date: str = ""  # DA
    sex: str = ""
    study_date: str = ""
    study_time: str = ""
    study_id: str = ""
    referring: str = ""
    description: str = ""
    #: (SOP Class UID, SOP Instance UID, Series Instance UID) of the DICOM photographs.
    evidence: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class ResultInstances:
    """What is sent for one patient visit."""

    study_uid: str
    sr: object  # pydicom Dataset
    pdf: object | None  # pydicom Dataset, None without a report


def _text(dataset, keyword: str) -> str:  # noqa: ANN001 - pydicom Dataset
    value = dataset.get(keyword)
    return "" if value is None else str(value).strip()


def source_study(paths: list[Path]) -> SourceStudy | None:
    """The study of the DICOM photographs among ``paths`` (the first readable one decides),
    with every DICOM photograph of that study as evidence; None when none came as DICOM."""
    import pydicom

    study: SourceStudy | None = None
    evidence: list[tuple[str, str, str]] = []
    for path in paths:
        if not is_dicom_file(path):
            continue
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except Exception:  # damaged header: that photograph was an error anyway  # noqa: BLE001
            continue
        uid = _text(ds, "StudyInstanceUID")
        if not uid:
            continue
        if study is None:
            study = SourceStudy(
                study_uid=uid, accession=_text(ds, "AccessionNumber"),
                patient_id=_text(ds, "PatientID"), patient_name=_text(ds, "PatientName"),
                birth_date=_text(ds, "PatientBirthDate"), sex=_text(ds, "PatientSex"),
                study_date=_text(ds, "StudyDate"), study_time=_text(ds, "StudyTime"),
                study_id=_text(ds, "StudyID"), referring=_text(ds, "ReferringPhysicianName"),
                description=_text(ds, "StudyDescription"))
        if uid == study.study_uid and _text(ds, "SOPInstanceUID"):
            evidence.append((_text(ds, "SOPClassUID"), _text(ds, "SOPInstanceUID"),
                             _text(ds, "SeriesInstanceUID")))
    if study is None:
        return None
    return SourceStudy(**{**study.__dict__, "evidence": tuple(evidence)})


def result_digest(patient: dict, images: list[dict]) -> str:
    """sha256 of what was found for a visit (not when): equal results give equal UIDs."""
    content = {
        "patient_id": patient["patient_id"], "visit": patient.get("visit") or "",
        "outcome": patient.get("outcome"), "grades": [patient.get("right_grade"),
                                                       patient.get("left_grade")],
        "model": patient.get("model_sha256", ""), "manifest": patient.get("manifest_sha256", ""),
        "images": sorted((i["path"], i.get("sha256", ""), i.get("status"),
                          i.get("icdr_grade"), i.get("p_referable")) for i in images),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def content_uid(*parts: str) -> str:
    """A UID of the form 2.25.<integer> (ISO/IEC 9834-8: a UUID's integer) from a name-based
    (SHA-1, version 5) UUID of ``parts``: stable, unique, at most 44 characters."""
    return f"2.25.{uuid.uuid5(UID_NAMESPACE, chr(31).join(parts)).int}"


def study_uid_for(patient: dict, source: SourceStudy | None) -> str:
    if source is not None:
        return source.study_uid
    return content_uid("study", patient["patient_id"], patient.get("visit") or "")


def _code(code: Code):  # noqa: ANN202 - pydicom Dataset
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = code
    return item


def _item(relationship: str, value_type: str, concept: Code):  # noqa: ANN202
    from pydicom.dataset import Dataset

    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [_code(concept)]
    return item


def _text_item(concept: Code, text: str, relationship: str = "CONTAINS"):  # noqa: ANN202
    item = _item(relationship, "TEXT", concept)
    item.TextValue = text or "not recorded"
    return item


def _code_item(concept: Code, value: Code, relationship: str = "CONTAINS"):  # noqa: ANN202
    item = _item(relationship, "CODE", concept)
    item.ConceptCodeSequence = [_code(value)]
    return item


def _num_item(concept: Code, value: float, units: Code):  # noqa: ANN202
    from pydicom.dataset import Dataset

    item = _item("CONTAINS", "NUM", concept)
    measured = Dataset()
    text = f"{value:.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    measured.NumericValue = text
    measured.MeasurementUnitsCodeSequence = [_code(units)]
    item.MeasuredValueSequence = [measured]
    return item


def _container(concept: Code, children: list, relationship: str = "CONTAINS"):  # noqa: ANN202
    item = _item(relationship, "CONTAINER", concept)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = children
    return item


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _quality_text(image: dict) -> str:
    if image.get("status") == "ok":
        verdict = "gradable"
    elif image.get("status") == "ungradable":
        verdict = "ungradable: " + "; ".join(image.get("reasons") or []) or "ungradable"
    else:
        verdict = "unreadable: " + "; ".join(image.get("reasons") or []) or "unreadable"
    return f"{_file_name(image['path'])}: {verdict}"


def _eye_findings(eye: str, grade: int | None, images: list[dict]) -> object:
    gradable = [i for i in images if i.get("status") == "ok"]
    children = [_code_item(FINDING_SITE, EYE, "HAS CONCEPT MOD"),
                _code_item(LATERALITY, SIDES[eye], "HAS CONCEPT MOD")]
    if grade is not None and gradable:
        p = max(float(i["p_referable"]) for i in gradable)
        referable = any(i.get("referable") for i in gradable)
        children += [
            _code_item(FINDING, SEVERITY[int(grade)]),
            _num_item(ICDR_GRADE, int(grade), GRADE_UNITS),
            _num_item(P_REFERABLE, round(p, 4), NO_UNITS),
            _code_item(REFERABLE, YES if referable else NO),
        ]
    else:
        children.append(_text_item(EYE_OUTCOME, "no gradable photograph of this eye"
                                   if images else "no photograph of this eye"))
    children += [_text_item(IMAGE_QUALITY, _quality_text(i)) for i in images]
    return _container(FINDINGS, children)


def _dicom_date(iso: str) -> str:
    return iso[:10].replace("-", "") if iso and iso[:4].isdigit() else ""


def _dicom_time(iso: str) -> str:
    return iso[11:19].replace(":", "") if len(iso) >= 19 else ""


def _common(ds, patient: dict, source: SourceStudy | None, study_uid: str,  # noqa: ANN001
            settings: Settings) -> None:
    """Patient, General Study, General Equipment and SOP Common attributes."""
    screened = patient.get("screened_at") or dt.datetime.now().isoformat(timespec="seconds")
    ds.SpecificCharacterSet = "ISO_IR 192"
    if source is not None:
        ds.PatientName = source.patient_name
        ds.PatientID = source.patient_id or patient["patient_id"]
        ds.PatientBirthDate = source.birth_date
        ds.PatientSex = source.sex or sex_code(patient.get("patient_sex"))
        ds.StudyDate, ds.StudyTime = source.study_date, source.study_time
        ds.AccessionNumber = source.accession or (patient.get("accession") or "")[:16]
        ds.StudyID = source.study_id
        ds.ReferringPhysicianName = source.referring
        if source.description:
            ds.StudyDescription = source.description
    else:
        ds.PatientName = (patient.get("patient_name") or "").replace(" ", "^", 1)
        ds.PatientID = patient["patient_id"]
        ds.PatientBirthDate = _dicom_date(patient.get("birth_date") or "")
        ds.PatientSex = sex_code(patient.get("patient_sex"))
        ds.StudyDate, ds.StudyTime = _dicom_date(screened), _dicom_time(screened)
        ds.AccessionNumber = (patient.get("accession") or "")[:16]  # SH: at most 16
        ds.StudyID = ("DRS" + _dicom_date(screened))[:16]
        ds.ReferringPhysicianName = ""
        ds.StudyDescription = "Diabetic retinopathy screening"
    ds.StudyInstanceUID = study_uid
    ds.ContentDate, ds.ContentTime = _dicom_date(screened), _dicom_time(screened)
    ds.InstanceCreationDate, ds.InstanceCreationTime = ds.ContentDate, ds.ContentTime
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "retina-screen"
    ds.SoftwareVersions = __version__
    if settings.clinic_name:
        ds.InstitutionName = settings.clinic_name[:64]
    ds.StationName = settings.ae_title[:16]


def _file_meta(ds) -> None:  # noqa: ANN001
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = f"RETINASCR_{__version__}"[:16]
    ds.file_meta = meta
    ds.preamble = b"\0" * 128


def build_sr(patient: dict, images: list[dict], source: SourceStudy | None,
             settings: Settings):  # noqa: ANN201 - pydicom Dataset
    """The Comprehensive SR of one patient visit (see the module docstring for the codes)."""
    from pydicom.dataset import Dataset

    digest = result_digest(patient, images)
    study_uid = study_uid_for(patient, source)
    ds = Dataset()
    _common(ds, patient, source, study_uid, settings)
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = content_uid("sr", digest)
    ds.Modality = "SR"
    ds.SeriesInstanceUID = content_uid("sr-series", digest)
    ds.SeriesNumber = 9001
    ds.SeriesDescription = "DR screening structured report"
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.InstanceNumber = 1
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = []
    if source is not None and source.evidence:
        ds.CurrentRequestedProcedureEvidenceSequence = [_evidence(source)]
    scheme = Dataset()
    scheme.CodingSchemeDesignator = LOCAL_SCHEME
    scheme.CodingSchemeName = "retina-screen local codes"
    scheme.CodingSchemeResponsibleOrganization = "retina-screen"
    ds.CodingSchemeIdentificationSequence = [scheme]

    by_eye: dict[str, list[dict]] = {"right": [], "left": [], "unknown": []}
    for image in sorted(images, key=lambda i: i["path"]):
        by_eye.setdefault(image.get("eye") or "unknown", []).append(image)
    content = [
        _eye_findings("right", patient.get("right_grade"), by_eye["right"]),
        _eye_findings("left", patient.get("left_grade"), by_eye["left"]),
    ]
    if by_eye.get("unknown"):
        content.append(_container(FINDINGS, [
            _text_item(EYE_OUTCOME, "photographs of an unknown eye (not used for the decision)"),
            *(_text_item(IMAGE_QUALITY, _quality_text(i)) for i in by_eye["unknown"])]))
    conclusions = [_text_item(CONCLUSION, patient.get("decision") or ""),
                   _text_item(OUTCOME, patient.get("outcome") or "")]
    conclusions += [_text_item(CONCLUSION, note) for note in patient.get("notes") or []]
    content.append(_container(CONCLUSIONS, conclusions))
    content.append(_container(RECOMMENDATIONS, [
        _text_item(RECOMMENDATION, patient.get("action") or ""),
        _text_item(INTERVAL, patient.get("interval") or ""),
        _text_item(URGENCY, patient.get("urgency") or "")]))
    model_image = next((i for i in images if i.get("model_version")), {})
    content.append(_container(ALGORITHM, [
        _text_item(ALGORITHM_NAME, "retina-screen DR grading model"),
        _text_item(ALGORITHM_VERSION, model_image.get("model_version") or "unknown"),
        _text_item(MODEL_SHA256, patient.get("model_sha256") or "unknown"),
        _text_item(MODEL_VERIFIED, "yes" if patient.get("model_verified") else
                   "no: UNVERIFIED MODEL (not the model shipped with this application)")]))
    ds.ValueType = "CONTAINER"
    ds.ConceptNameCodeSequence = [_code(DOCUMENT_TITLE)]
    ds.ContinuityOfContent = "SEPARATE"
    ds.ContentSequence = content
    _file_meta(ds)
    return ds


def _evidence(source: SourceStudy):  # noqa: ANN202
    from pydicom.dataset import Dataset

    study = Dataset()
    study.StudyInstanceUID = source.study_uid
    series_of: dict[str, list] = {}
    for sop_class, sop_instance, series in source.evidence:
        ref = Dataset()
        ref.ReferencedSOPClassUID = sop_class
        ref.ReferencedSOPInstanceUID = sop_instance
        series_of.setdefault(series, []).append(ref)
    study.ReferencedSeriesSequence = []
    for series, refs in series_of.items():
        item = Dataset()
        item.SeriesInstanceUID = series
        item.ReferencedSOPSequence = refs
        study.ReferencedSeriesSequence.append(item)
    return study


def build_pdf(patient: dict, images: list[dict], pdf: bytes, source: SourceStudy | None,
              settings: Settings):  # noqa: ANN201 - pydicom Dataset
    """The report as an Encapsulated PDF instance."""
    from pydicom.dataset import Dataset

    digest = result_digest(patient, images)
    ds = Dataset()
    _common(ds, patient, source, study_uid_for(patient, source), settings)
    ds.SOPClassUID = ENCAPSULATED_PDF
    ds.SOPInstanceUID = content_uid("pdf", digest)
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = content_uid("pdf-series", digest)
    ds.SeriesNumber = 9002
    ds.SeriesDescription = "DR screening report (PDF)"
    ds.ConversionType = "WSD"
    ds.InstanceNumber = 1
    ds.AcquisitionDateTime = ds.ContentDate + ds.ContentTime
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = "Diabetic retinopathy screening report"
    ds.ConceptNameCodeSequence = [_code(DOCUMENT_TITLE)]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    data = pdf + b"\0" if len(pdf) % 2 else pdf
    ds.EncapsulatedDocument = data
    ds.EncapsulatedDocumentLength = len(pdf)
    _file_meta(ds)
    return ds


def build_instances(patient: dict, images: list[dict], pdf: bytes | None,
                    source: SourceStudy | None, settings: Settings) -> ResultInstances:
    sr = build_sr(patient, images, source, settings)
    document = build_pdf(patient, images, pdf, source, settings) if pdf else None
    return ResultInstances(sr.StudyInstanceUID, sr, document)


def dataset_bytes(ds) -> bytes:  # noqa: ANN001 - pydicom Dataset
    """The instance as a DICOM Part 10 file."""
    from io import BytesIO

    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
