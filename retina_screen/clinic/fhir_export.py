"""A screened patient visit as a FHIR R4 Bundle (``batch --fhir``): written to files only.

Per visit, ``<out>/fhir/<report name>.json``, a ``collection`` Bundle of: the Patient
(identifier = the patient ID, name, birth date, sex where known), an ImagingStudy reference
where the study is known (the DICOM photographs' study, or the study the DICOM results are
sent in), per eye an Observation of the ICDR grade (SNOMED CT coded where a code exists) and
one of referable DR (yes/no, with P(referable) as a component; for an eye not screened, one
with a ``dataAbsentReason``), and a DiagnosticReport with the visit's outcome coded
(``conclusionCode``: refer, refer_urgent, no_referable, insufficient), the conclusion and the
PDF report as ``presentedForm``. Resource ids are derived from content, so
the same result gives the same Bundle.
"""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

from ..atomic import make_private_folder, write_atomic
from ..errors import OutputError
from ..naming import safe_file_stem
from ..results import SEXES, sex_code
from ..settings import Settings
from .dicom_out import SEVERITY, result_digest, source_study, study_uid_for

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
LOCAL = "urn:retina-screen:codes"
PATIENT_ID_SYSTEM = "urn:retina-screen:patient-id"
FHIR_FOLDER = "fhir"
EYE_SITES = {"right": ("81745001", "Eye", "Right"), "left": ("81745001", "Eye", "Left")}
NAMESPACE = uuid.UUID("0b0f6a0e-52f4-4d3e-9a53-2d5d3f0c6b7e")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, chr(31).join(parts)))


def _coding(system: str, code: str, display: str) -> dict:
    return {"system": system, "code": code, "display": display}


# Codes checked against public references (see also dicom_out.py):
# - SNOMED CT 4855003 "Retinopathy due to diabetes mellitus" (the parent of the severity codes
#   in dicom_out.SEVERITY; its preferred term, as in OHDSI Athena).
# - LOINC 71491-5 / 71490-7 "Right / Left eye Diabetic retinopathy severity level by
#   Ophthalmoscopy" and their answer list LL2117-1 (LA18643-9 No apparent retinopathy,
#   LA18644-7 Mild, LA18645-4 Moderate, LA18646-2 Severe non-proliferative, LA18648-8
#   Proliferative retinopathy), as used by the eCQM value set "Diabetic Retinopathy Severity
#   Level" (VSAC 2.16.840.1.113883.3.464.1003.1266, CMS131). The LOINC method says
#   ophthalmoscopy; these grades come from fundus photographs, which eCQM reporting also codes
#   this way.
# - LOINC 18748-4 "Diagnostic imaging study" (its long common name; DICOM calls it
#   "Diagnostic Imaging Report").
# - HL7 v2 table 0203 "ACSN" (Accession ID) for the accession number.
DR_SEVERITY_QUESTION = {"right": ("71491-5", "Right eye Diabetic retinopathy severity level by "
                                             "Ophthalmoscopy"),
                        "left": ("71490-7", "Left eye Diabetic retinopathy severity level by "
                                            "Ophthalmoscopy")}
DR_SEVERITY_ANSWERS = {0: ("LA18643-9", "No apparent retinopathy"),
                       1: ("LA18644-7", "Mild non-proliferative retinopathy"),
                       2: ("LA18645-4", "Moderate non-proliferative retinopathy"),
                       3: ("LA18646-2", "Severe non-proliferative retinopathy"),
                       4: ("LA18648-8", "Proliferative retinopathy")}


DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
#: The visit's outcome, coded (the public contract's outcome values): an "images insufficient"
#: visit was coded only by the gradable eye's negative findings, which a machine reader took for
#: a negative screening (found 2026-12-02).
OUTCOME_DISPLAY = {"refer": "Refer: referable diabetic retinopathy",
                   "refer_urgent": "Refer urgently: severe or proliferative diabetic retinopathy",
                   "no_referable": "No referable diabetic retinopathy",
                   "insufficient": "Images insufficient for screening: not screened"}


def _outcome(outcome: str) -> dict:
    display = OUTCOME_DISPLAY.get(outcome, outcome)
    return {"coding": [_coding(LOCAL, f"outcome-{outcome}", display)], "text": display}


def _severity(grade: int) -> dict:
    code, scheme, meaning = SEVERITY[grade]
    codings = [_coding(LOINC, *DR_SEVERITY_ANSWERS[grade]),
               _coding(LOCAL, f"icdr-{grade}", f"ICDR grade {grade}: {meaning}")]
    if scheme == "SCT":
        codings.insert(0, _coding(SNOMED, code, meaning))
    return {"coding": codings, "text": meaning}


def _body_site(eye: str) -> dict:
    code, name, side = EYE_SITES[eye]
    return {"coding": [_coding(SNOMED, code, name)], "text": f"{side} eye"}


def _issued(patient: dict) -> str:
    screened = patient.get("screened_at") or ""
    if len(screened) == 19:  # local time without an offset
        from datetime import datetime

        return datetime.fromisoformat(screened).astimezone().isoformat()
    return screened


def bundle_for(patient: dict, images: list[dict], pdf: bytes | None,
               study_uid: str | None, accession: str = "", sex: str = "") -> dict:
    """The FHIR R4 Bundle (a dict) of one visit; ``accession`` and ``sex`` (from the source
    photographs' DICOM header) fall back to the visit record's own."""
    accession = accession or patient.get("accession") or ""
    digest = result_digest(patient, images)
    ids = {name: _uuid(name, digest) for name in ("bundle", "patient", "study", "report")}
    patient_ref = {"reference": f"urn:uuid:{ids['patient']}"}
    issued = _issued(patient)
    entries: list[dict] = []
    person: dict = {"resourceType": "Patient", "id": ids["patient"],
                    "identifier": [{"system": PATIENT_ID_SYSTEM,
                                    "value": patient["patient_id"]}]}
    if patient.get("patient_name"):
        person["name"] = [{"text": patient["patient_name"]}]
    if patient.get("birth_date"):
        person["birthDate"] = patient["birth_date"]
    # FHIR administrative-gender codes are the words of DICOM's F, M and O.
    gender = SEXES.get(sex_code(sex or patient.get("patient_sex")))
    if gender:
        person["gender"] = gender
    entries.append(person)
    if study_uid:
        study: dict = {"resourceType": "ImagingStudy", "id": ids["study"],
                       "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"}],
                       "status": "available", "subject": patient_ref}
        if accession:
            study["identifier"].append({
                "type": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/v2-0203",
                                            "ACSN", "Accession ID")]},
                "value": accession})
        entries.append(study)
    results = []
    for eye in ("right", "left"):
        gradable = [i for i in images if i.get("eye") == eye and i.get("status") == "ok"]
        grade = patient.get(f"{eye}_grade")
        if grade is None or not gradable:
            # Said, not left out: an eye not screened is no negative finding.
            photographed = any(i.get("eye") == eye for i in images)
            absent_id = _uuid("not-screened", eye, digest)
            entries.append({
                "resourceType": "Observation", "id": absent_id, "status": "final",
                "subject": patient_ref, "effectiveDateTime": issued,
                "bodySite": _body_site(eye),
                "code": {"coding": [_coding(LOCAL, "referable-dr",
                                            "Referable diabetic retinopathy")],
                         "text": f"Referable diabetic retinopathy, {eye} eye"},
                "dataAbsentReason": {
                    "coding": [_coding(DATA_ABSENT, "unknown" if photographed
                                       else "not-performed",
                                       "Unknown" if photographed else "Not Performed")],
                    "text": ("images insufficient: no gradable photograph of this eye"
                             if photographed else "no photograph of this eye")}})
            results.append({"reference": f"urn:uuid:{absent_id}"})
            continue
        p = max(float(i["p_referable"]) for i in gradable)
        referable = any(i.get("referable") for i in gradable)
        common = {"status": "final", "subject": patient_ref, "effectiveDateTime": issued,
                  "bodySite": _body_site(eye),
                  "method": {"text": "retina-screen automated grading of fundus photographs"}}
        grade_id, ref_id = _uuid("grade", eye, digest), _uuid("referable", eye, digest)
        entries.append({
            "resourceType": "Observation", "id": grade_id, **common,
            "code": {"coding": [_coding(LOINC, *DR_SEVERITY_QUESTION[eye]),
                                _coding(SNOMED, "4855003",
                                        "Retinopathy due to diabetes mellitus"),
                                _coding(LOCAL, "icdr-grade", "ICDR diabetic retinopathy grade")],
                     "text": f"ICDR diabetic retinopathy grade, {eye} eye"},
            "valueCodeableConcept": _severity(int(grade))})
        entries.append({
            "resourceType": "Observation", "id": ref_id, **common,
            "code": {"coding": [_coding(LOCAL, "referable-dr",
                                        "Referable diabetic retinopathy")],
                     "text": f"Referable diabetic retinopathy, {eye} eye"},
            "valueBoolean": referable,
            "component": [{
                "code": {"coding": [_coding(LOCAL, "p-referable",
                                            "Probability of referable diabetic retinopathy")]},
                "valueQuantity": {"value": round(p, 4), "unit": "probability",
                                  "system": "http://unitsofmeasure.org", "code": "1"}}]})
        results += [{"reference": f"urn:uuid:{grade_id}"}, {"reference": f"urn:uuid:{ref_id}"}]
    report: dict = {
        "resourceType": "DiagnosticReport", "id": ids["report"], "status": "final",
        "code": {"coding": [_coding(LOINC, "18748-4", "Diagnostic imaging study")],
                 "text": "Diabetic retinopathy screening report"},
        "subject": patient_ref, "effectiveDateTime": issued, "issued": issued,
        "result": results,
        "conclusionCode": [_outcome(str(patient.get("outcome", "")))],
        # The decision's notes too (why images are insufficient, what to check), as the
        # report and the DICOM SR give them.
        "conclusion": "; ".join(filter(None, [patient.get("decision"), patient.get("action"),
                                              patient.get("interval"),
                                              *(patient.get("notes") or [])])),
    }
    if study_uid:
        report["imagingStudy"] = [{"reference": f"urn:uuid:{ids['study']}"}]
    if pdf:
        report["presentedForm"] = [{"contentType": "application/pdf",
                                    "data": base64.b64encode(pdf).decode("ascii"),
                                    "title": "Diabetic retinopathy screening report"}]
    entries.append(report)
    return {"resourceType": "Bundle", "id": ids["bundle"], "type": "collection",
            "timestamp": issued,
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in entries]}


def bundle_path(out_dir: Path, patient: dict) -> Path:
    """Where a visit's Bundle file is written (named as its report, else by patient and
    visit)."""
    stem = Path(patient["report"]).stem if patient.get("report") else safe_file_stem(
        f"{patient['patient_id']}_{patient.get('visit') or ''}")
    return Path(out_dir) / FHIR_FOLDER / f"{stem}.json"


def write_bundles(out_dir: Path, settings: Settings) -> int:
    """One Bundle file per screened visit of ``out_dir`` (rewritten atomically); returns how
    many were written."""
    from .pacs import source_paths, visits

    out_dir = Path(out_dir)
    folder = out_dir / FHIR_FOLDER
    try:
        make_private_folder(folder)
    except OSError as exc:
        raise OutputError(f"cannot create {folder}: {exc.strerror or exc}") from exc
    count = 0
    confirmed, _held = visits(out_dir, settings)
    for patient, images in confirmed:
        source = source_study(source_paths(out_dir, images))
        report = out_dir / patient["report"] if patient.get("report") else None
        pdf = report.read_bytes() if report is not None and report.is_file() else None
        bundle = bundle_for(patient, images, pdf, study_uid_for(patient, source),
                            source.accession if source else "", source.sex if source else "")
        write_atomic(bundle_path(out_dir, patient),
                     json.dumps(bundle, ensure_ascii=False, indent=1).encode("utf-8"),
                     settings.file_mode, "FHIR bundle")
        count += 1
    return count
