"""Command line: ``retina-screen <command>`` (also ``python -m retina_screen``)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import logging.handlers
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from . import __version__
from .atomic import make_private_folder
from .errors import AuditError, ConfigError, RetinaScreenError
from .results import Eye, ImageStatus, PatientInfo, PatientResult, sex_code
from .settings import Settings, add_setting_arguments, load_settings, setting_arguments

log = logging.getLogger("retina_screen")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def setup_logging(settings: Settings, level: str) -> None:
    """Warnings to stderr, everything from INFO to a rotating file in ``settings.log_dir``.

    Log messages never contain patient names, IDs or file names (house rule).
    """
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(getattr(logging, level.upper(), logging.WARNING))
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.addHandler(console)
    try:
        make_private_folder(settings.log_dir)  # also the user folder above it (0700)
        log_file = settings.log_dir / "retina-screen.log"
        if not log_file.exists():
            os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT, settings.file_mode))
        handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(name)s %(levelname)s "
                                               "%(message)s"))
        root.addHandler(handler)
    except OSError:
        log.warning("log folder cannot be written; logging to the console only")


def _settings_from(args: argparse.Namespace) -> Settings:
    overrides = {  # the sub-commands' own short forms, then the settings flags
        "workers": getattr(args, "workers", None),
        "paper_size": getattr(args, "paper", None),
        **setting_arguments(args),
    }
    return load_settings(overrides=overrides)


def _eye_arg(text: str) -> Eye:
    try:
        return Eye(text.lower())
    except ValueError as exc:
        raise argparse.ArgumentTypeError("eye must be right, left or unknown") from exc


def patient_summary(result: PatientResult) -> dict:
    """The machine-readable summary printed by ``screen --json``: the decision's record
    (:meth:`PatientResult.to_record`, the same image records as the batch journal)."""
    return result.to_record()


def print_patient(result: PatientResult) -> None:
    from .results import ICDR_LABELS

    print(result.referral.headline.upper() if result.outcome.is_referral
          else result.referral.headline)
    print(f"  Action:   {result.referral.action}")
    print(f"  Interval: {result.referral.interval}")
    for eye in result.eyes:
        grade = "not gradable" if eye.grade is None else (
            f"{ICDR_LABELS[eye.grade]} (ICDR {eye.grade}), P(referable) {eye.p_referable:.2f}")
        print(f"  {eye.eye.label}: {grade}")
        for image in eye.images:
            detail = image.status.value
            if image.status is not ImageStatus.OK:
                detail += ": " + "; ".join(image.reasons)
            elif image.grading:
                detail += f", ICDR {image.grading.grade}, P(referable) " \
                          f"{image.grading.p_referable:.2f}"
            print(f"    - {image.source}: {detail}")
    for note in result.notes:
        print(f"  Note: {note}")
    if result.model:
        print(f"  Model {result.model.name} {result.model.version} "
              f"(sha256 {result.model.short_sha}), quality thresholds "
              f"{result.thresholds_version}")
        if not result.model.verified:
            print(f"  WARNING: {result.model.trust_label}")


class UsageError(Exception):
    """A mistake in how a command was called: message to stderr, exit code 2, nothing
    recorded."""


def _photo_patient(path: Path) -> tuple[Eye, str, object | None]:
    """(eye, patient ID, DICOM tags) of one photograph given to ``screen``, or UsageError when
    the path is not a photograph at all."""
    from .loading import (
        IMAGE_EXTENSIONS,
        UNREAD_FORMAT,
        UNREAD_PICTURE_EXTENSIONS,
        is_dicom_file,
        read_dicom_info,
    )
    from .naming import display_text, parse_stem

    shown = display_text(str(path))
    if path.is_dir():
        raise UsageError(f"{shown} is a folder; give photograph files (a folder is screened "
                         "with 'retina-screen batch')")
    if not path.exists():
        raise UsageError(f"photograph not found: {shown}")
    dicom = is_dicom_file(path)
    if path.suffix.lower() in UNREAD_PICTURE_EXTENSIONS and not dicom:
        raise UsageError(f"{shown}: {UNREAD_FORMAT.format(path.suffix.lower())}")
    if path.suffix.lower() not in IMAGE_EXTENSIONS and not dicom:
        raise UsageError(f"{shown} is not a photograph (expected "
                         f"{', '.join(sorted(IMAGE_EXTENSIONS))} or a DICOM file)")
    patient, eye = parse_stem(display_text(path.stem))
    info = read_dicom_info(path) if dicom else None
    if info is not None:
        patient = display_text(info.patient_id) if info.patient_id else patient
        eye = Eye(info.laterality) if info.laterality else eye
    return eye, patient, info


def _screen_request(args: argparse.Namespace) -> tuple[list[tuple[Path, Eye]], PatientInfo]:
    """The photographs and the patient of a ``screen`` call; UsageError for missing files,
    folders, non-photographs and photographs of different patients."""
    given = [(Path(p), None) for p in args.images]
    given += [(Path(p), Eye.RIGHT) for p in args.right or []]
    given += [(Path(p), Eye.LEFT) for p in args.left or []]
    if not given:
        raise UsageError("give at least one photograph")
    photos, ids, dicom_ids, infos = [], [], set(), []
    for path, forced_eye in given:
        eye, patient, info = _photo_patient(path)
        photos.append((path, forced_eye or eye))
        ids.append(patient)
        if info is not None:
            infos.append(info)
            if info.patient_id:
                dicom_ids.add(patient)
    if args.patient_id:
        others = sorted(dicom_ids - {args.patient_id})
    else:
        others = sorted(set(ids)) if len(set(ids)) > 1 else []
    from .decision import count_people, person_of

    if count_people(person_of(i.patient_name, i.birth_date, i.sex) for i in infos) > 1:
        raise UsageError("these DICOM photographs name different people (their names, birth "
                         "dates or sexes differ) under one patient ID: screen one person at a "
                         "time")
    if others:
        raise UsageError(
            "these photographs belong to different patients (" + ", ".join(sorted(set(ids)))
            + "): screen one patient at a time" + ("" if args.patient_id else
                                                   ", or give --patient-id when the file "
                                                   "names do not carry the patient"))

    def from_dicom(attribute: str) -> str:  # the first DICOM photograph that carries it
        return next((getattr(i, attribute) for i in infos if getattr(i, attribute)), "") or ""

    patient = PatientInfo(
        patient_id=args.patient_id or ids[0],
        name=args.name or from_dicom("patient_name"),
        birth_date=args.birth_date or from_dicom("birth_date"),
        diabetes_type=args.diabetes_type or "",
        sex=args.sex or from_dicom("sex"),
        accession=args.accession or from_dicom("accession"),
    )
    return photos, patient


def _birth_date_argument(value: str) -> str:
    """A date of birth as YYYY-MM-DD, not in the future (any text was printed on the report
    as the date of birth, e.g. "1960-01-01; Name: Someone Else": found 2026-12-02)."""
    try:
        born = dt.date.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("give the date of birth as YYYY-MM-DD") from None
    if born > dt.date.today() or born.year < 1880:
        raise argparse.ArgumentTypeError(f"{born.isoformat()} is not a possible date of birth")
    return born.isoformat()


def _sex_argument(value: str) -> str:
    code = sex_code(value)
    if not code:
        raise argparse.ArgumentTypeError("give F (female), M (male) or O (other)")
    return code


def cmd_screen(args: argparse.Namespace, settings: Settings) -> int:
    from .audit import record_decision
    from .decision import OLD_PHOTOGRAPH_DAYS, days_before
    from .engine import Screener

    try:
        photos, patient = _screen_request(args)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from .naming import display_text

    if args.report:  # before the screening, so that a wrong name costs no wait
        from .report import check_report_target

        check_report_target(Path(args.report))
    screener = Screener(settings)
    result = screener.decide(patient, [screener.screen_image(path, eye,
                                                             source=display_text(str(path)))
                                       for path, eye in photos])
    if all(i.status is ImageStatus.ERROR for i in result.images):
        # Nothing was screened: not a clinical result, so no audit record and no report.
        print("error: none of the photographs could be read:", file=sys.stderr)
        for image in result.images:
            print(f"  {image.source}: {image.error}", file=sys.stderr)
        return EXIT_FAILED
    if args.report:  # written first, so that its record names the report (its sha256)
        from .report import build_report

        build_report(result, Path(args.report), settings)
    record_decision(result, settings, Path(args.report) if args.report else None)
    today = dt.date.today()
    for image in result.images:
        age = days_before(image, today)
        if age is not None and age > OLD_PHOTOGRAPH_DAYS:
            print(f"warning: {image.source} was taken on {image.taken} by its camera's date, "
                  f"{age} days ago: check it is this patient's photograph of today",
                  file=sys.stderr)
    if args.json:
        print(json.dumps(patient_summary(result), indent=2, ensure_ascii=False))
    else:
        print_patient(result)
        if args.report:
            print(f"  Report: {args.report}")
    return EXIT_OK


class ProgressLine:
    """A one-line progress bar on stderr with count, rate and time left."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = 0.0

    def __call__(self, progress) -> None:  # noqa: ANN001 - BatchProgress
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2 and progress.done < progress.total:
            return
        self.last = now
        width = 30
        filled = int(width * progress.done / max(progress.total, 1))
        eta = "--:--" if progress.eta_s is None else time.strftime(
            "%M:%S" if progress.eta_s < 3600 else "%H:%M:%S", time.gmtime(progress.eta_s))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {progress.done}/"
                         f"{progress.total} images  {progress.rate:5.1f} img/s  ETA {eta}  "
                         f"ungradable {progress.ungradable}  errors {progress.errors} ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def cmd_batch(args: argparse.Namespace, settings: Settings) -> int:
    from .batch import run_batch, watch_folder
    from .clinic import commands as clinic

    clinic.check_batch_arguments(args, settings)  # --send without a PACS: refused first
    show = not args.quiet
    bar = ProgressLine(show and sys.stderr.isatty() or args.progress)
    cancel = threading.Event()
    executor = _batch_executor(args, settings)
    kwargs = dict(pattern=args.pattern, workers=args.workers, reports=not args.no_reports,
                  progress=bar, allow_other_input=args.continue_run, executor=executor)
    try:
        if args.watch:
            print(f"Watching {args.input_dir} (Ctrl-C to stop)")
            summary = watch_folder(Path(args.input_dir), Path(args.out), settings,
                                   interval_s=args.interval, cancel=cancel, **kwargs)
        else:
            summary = run_batch(Path(args.input_dir), Path(args.out), settings, cancel=cancel,
                                **kwargs)
    except KeyboardInterrupt:
        bar.finish()
        print("Interrupted: what was screened is saved; run the same command again to resume.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if executor is not None:
            executor.stop(cancelled=False)
    bar.finish()
    refer = sum(1 for p in summary.patients if p.outcome.is_referral)
    insufficient = sum(1 for p in summary.patients if p.outcome.value == "insufficient")
    print(f"Screened {summary.images} images of {len(summary.patients)} patient visits "
          f"({summary.resumed} from an earlier run): {summary.ok} gradable, "
          f"{summary.ungradable} ungradable, {summary.errors} unreadable.")
    print(f"Patients: {refer} refer, {insufficient} images insufficient, "
          f"{len(summary.patients) - refer - insufficient} no referable DR.")
    for path, reason in summary.error_files:
        print(f"  unreadable: {path}: {reason}")
    if summary.ungradable_reasons:
        print("Ungradable photographs, by reason (the most frequent first):")
        for reason, count in summary.ungradable_reasons[:UNGRADABLE_REASONS_SHOWN]:
            print(f"  {count:>6}  {reason}")
    _print_batch_notes(summary)
    print(f"Results: {summary.results_csv}, {summary.patients_csv}, {summary.journal}")
    clinic.after_batch(args, settings, Path(args.out))  # --fhir, --send (clinic/commands.py)
    return EXIT_OK


def _batch_executor(args: argparse.Namespace, settings: Settings):  # noqa: ANN202
    """The executor asked for on the command line: a Dask cluster (``--dask local[:N]`` or
    ``--scheduler ADDRESS``), else None (local worker processes, ``--workers``)."""
    if args.dask and args.scheduler:
        raise ConfigError("give either --dask local[:N] or --scheduler ADDRESS, not both")
    if not (args.dask or args.scheduler):
        return None
    from .dask_executor import DaskExecutor, parse_local

    def notice(line: str) -> None:  # the dashboard link, before the progress line starts
        print(line, file=sys.stderr, flush=True)

    if args.scheduler:
        return DaskExecutor(settings, scheduler=args.scheduler, notice=notice)
    return DaskExecutor(settings, local_workers=parse_local(args.dask), notice=notice)


#: The most frequent reasons for ungradable photographs a batch's summary prints.
UNGRADABLE_REASONS_SHOWN = 3


def _print_batch_notes(summary) -> None:  # noqa: ANN001 - BatchSummary
    """What the operator should check after a batch (``batch_findings``: the window shows the
    same), and how many file names matched --pattern."""
    from .batch_findings import batch_findings

    if summary.pattern_matched is not None:
        print(f"File names: {summary.pattern_matched} of {summary.found} matched --pattern; "
              "the others were read with the built-in naming conventions.")
    for finding in batch_findings(summary):
        print(f"{'Warning' if finding.level == 'warning' else 'Note'}: {finding.text}")


def _pick_visit(patients: dict, patient_id: str, visit: str | None) -> tuple | None:
    """The journal key of the patient's visit to report: the one asked for, else the latest."""
    keys = [k for k in patients if k[0] == patient_id and (visit is None or k[1] == visit)]
    if not keys:
        return None
    keys.sort(key=lambda k: (k[1], patients[k].get("screened_at", "")))
    if len(keys) > 1:
        print(f"note: {len(keys)} visits of this patient ({', '.join(k[1] for k in keys)}); "
              f"reporting the latest, {keys[-1][1]} (choose one with --visit)", file=sys.stderr)
    return keys[-1]


def _recorded_model(image: dict | None, settings: Settings):  # noqa: ANN202 - ModelInfo
    """The model as the journal recorded it (name from the current manifest when the same)."""
    from dataclasses import fields

    from .results import ModelInfo

    if image is None:
        return None
    try:
        manifest = json.loads(Path(settings.model).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    same = manifest.get("sha256") == image.get("model_sha256")
    threshold = image.get("referable_threshold")
    if threshold is None:
        threshold = (manifest.get("thresholds") or {}).get("referable", float("nan"))
    values = {"name": manifest.get("name", "model") if same else "model (as recorded)",
              "version": image.get("model_version", ""), "sha256": image.get("model_sha256", ""),
              "threshold": threshold, "manifest_sha256": image.get("manifest_sha256", ""),
              "verified": bool(image.get("model_verified", same))}
    return ModelInfo(**{f.name: values[f.name] for f in fields(ModelInfo) if f.name in values})


def rebuild_decision(record: dict, images: list[dict], settings: Settings,
                     name: str | None = None) -> PatientResult:
    """The recorded decision of a batch visit, rebuilt from the journal's records only: the
    photographs are not screened again (they may be archived, changed or gone)."""
    from dataclasses import replace

    from .batch import image_from_record
    from .decision import combine_patient, load_referral_table
    from .quality import load_thresholds

    results = [image_from_record(i) for i in images]
    version = next((i["quality"]["version"] for i in images if i.get("quality")),
                   load_thresholds().version)
    patient = PatientInfo(patient_id=record["patient_id"],
                          name=name or record.get("patient_name") or "",
                          birth_date=record.get("birth_date") or "",
                          screening_date=record["screened_at"][:10],
                          # not in records written before they were recorded
                          sex=sex_code(record.get("patient_sex")),
                          accession=record.get("accession") or "")
    result = combine_patient(patient, results, load_referral_table(settings.referral_table),
                             record["screened_at"], _recorded_model(images[0] if images else None,
                                                                     settings), version)
    if result.outcome.value != record["outcome"]:
        raise RetinaScreenError(
            "the referral table changed since this patient was screened; the report cannot be "
            "rebuilt as it was decided (screen the patient again instead)")
    note = (f"Rebuilt from the results recorded at {record['screened_at']}; photographs and "
            "heatmaps are not shown.")
    return replace(result, notes=(*result.notes, note))


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    from .audit import AuditTrail, confirm_recorded_decision, report_sha256
    from .batch import JOURNAL, Journal, latest_records, report_names
    from .report import build_report, check_report_target

    out_dir = Path(args.results_dir)
    if not (out_dir / JOURNAL).is_file():
        print(f"error: {out_dir} is not a batch output folder (it has no {JOURNAL}); give the "
              "folder that 'retina-screen batch --out' wrote", file=sys.stderr)
        return EXIT_FAILED
    journal = Journal(out_dir / JOURNAL, settings.file_mode)
    images, patients = latest_records(journal.read(repair=False))  # never changes the file
    if journal.damaged:
        print(f"warning: {journal.damaged} damaged records in {out_dir / JOURNAL} were skipped",
              file=sys.stderr)
    key = _pick_visit(patients, args.patient_id, args.visit)
    if key is None:
        print(f"error: no screened patient with that ID{' and visit' if args.visit else ''} in "
              f"{out_dir}", file=sys.stderr)
        return EXIT_FAILED
    record = patients[key]
    if any((*key, rel) not in images for rel in record["images"]):
        print(f"error: the results of this patient's photographs are missing from {JOURNAL} "
              "(damaged records); screen the patient again", file=sys.stderr)
        return EXIT_FAILED
    result = rebuild_decision(record, [images[(*key, rel)] for rel in record["images"]],
                              settings, args.name)
    try:
        confirm_recorded_decision(settings.audit_db, result, settings.audit_key, key[1])
    except AuditError as exc:
        print(f"error: the report is not rebuilt: {exc}. Screen the patient again "
              "(retina-screen screen, or the desktop app)", file=sys.stderr)
        return EXIT_FAILED
    if args.pdf:
        target = Path(args.pdf)
        check_report_target(target)
    else:  # the name the batch gave it, else a name no other patient visit has
        taken = {k: r["report"] for k, r in patients.items() if r.get("report")}
        target = out_dir / report_names(set(patients), taken)[key]
        if record.get("report"):  # the batch's own report (with photographs) is kept
            target = target.with_name(target.stem + "_rebuilt.pdf")
    build_report(result, target, settings)
    trail = AuditTrail(settings.audit_db, settings.file_mode, key_path=settings.audit_key)
    try:
        trail.append("report", settings.operator, trail.patient_ref(args.patient_id),
                     {"rebuilt_from": "batch results", "outcome": result.outcome.value,
                      "screened_at": record["screened_at"], "visit": key[1],
                      "images": [i.sha256 for i in result.images],
                      "report_sha256": report_sha256(target), "issued": "rebuilt"})
    finally:
        trail.close()
    print(f"{result.referral.headline}\nReport: {target}")
    return EXIT_OK


def cmd_audit_check_report(args: argparse.Namespace, settings: Settings) -> int:
    from .audit import check_reports, load_key, patient_ref

    reports = [Path(name) for name in args.reports]
    for path in reports:
        if not path.is_file():
            print(f"error: {path} is not a file", file=sys.stderr)
            return EXIT_USAGE
    try:
        verified, checks = check_reports(Path(args.db) if args.db else settings.audit_db,
                                         reports, settings.audit_key)
    except OSError as exc:
        print(f"error: a report cannot be read: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    wanted = patient_ref(args.patient, load_key(settings.audit_key, create=False)) \
        if args.patient is not None else None
    refused = 0
    for check in checks:
        if not check.records:
            print(f"{check.path}: NOT FOUND in this installation's audit trail: it was not "
                  "issued here, or it was changed after it was issued.")
            continue
        issued = "; ".join(f"record {r.record_id} of {r.time}"
                           + (f" ({r.issued})" if r.issued else "") + f", outcome {r.outcome}"
                           for r in check.records)
        print(f"{check.path}: issued by this installation, unchanged since ({issued}).")
        replaced = next((r.superseded_by for r in reversed(check.records) if r.superseded_by),
                        "") if all(r.superseded_by for r in check.records) else ""
        if replaced:
            refused += 1
            print(f"{check.path}: SUPERSEDED: a later decision of this patient's visit replaced "
                  f"it ({replaced}); it is not the current result.")
        if wanted is None:
            continue
        if any(r.patient_ref == wanted for r in check.records):
            print(f"{check.path}: issued for patient {args.patient}.")
        else:
            refused += 1
            print(f"{check.path}: NOT patient {args.patient}'s report: it was issued for "
                  "another patient.")
    if not verified.ok:
        print(f"AUDIT TRAIL FAILED VERIFICATION ({verified.records} records), so what it says "
              "above cannot be relied on:")
        for problem in verified.problems:
            print(f"  - {problem}")
    if wanted is None and verified.ok and all(c.records for c in checks):
        print("note: to confirm whose report each one is, add --patient ID", file=sys.stderr)
    return EXIT_OK if verified.ok and all(c.records for c in checks) and not refused \
        else EXIT_FAILED


def cmd_model_info(args: argparse.Namespace, settings: Settings) -> int:
    from .inference import GradingModel

    model = GradingModel(settings.model, allow_unverified=settings.allow_unverified_model)
    manifest = dict(model.manifest.raw)
    trusted = model.manifest.verified
    if args.json:
        print(json.dumps({**manifest, "manifest_sha256": model.manifest.manifest_sha256,
                          "model_verified": trusted}, indent=2))
        return EXIT_OK
    checked = "(verified)" if trusted else "(matches its manifest; NOT a trusted model)"
    print(f"Model:      {manifest['name']} {manifest['version']}")
    print(f"File:       {Path(settings.model).parent / manifest['file']}")
    print(f"sha256:     {manifest['sha256']} {checked}")
    if "gate" in manifest:
        print(f"Gate:       {manifest['gate']['file']} sha256 {manifest['gate']['sha256']} "
              f"{checked}")
    print(f"Manifest:   sha256 {model.manifest.manifest_sha256}")
    print("Trust:      " + ("shipped with this application (manifest, model and gate match "
                            "its trusted-model list)" if trusted else
                            model.info.trust_label + "; allowed by allow_unverified_model, "
                            "every result is flagged"))
    print(f"Input:      {manifest['input']['name']} {manifest['input']['size']}x"
          f"{manifest['input']['size']} RGB, preprocessing {manifest['preprocessing']}")
    print(f"Outputs:    {', '.join(manifest['outputs'].values())}")
    print(f"Labels:     {', '.join(manifest['labels'])}")
    print(f"Threshold:  P(referable) >= {manifest['thresholds']['referable']:.4f} "
          f"({manifest.get('threshold_rule', '')})")
    card = Path(settings.model).parent / manifest.get("model_card", "")
    if card.is_file():
        print(f"Model card: {card}")
    return EXIT_OK


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from .audit import verify

    report = verify(Path(args.db) if args.db else settings.audit_db, settings.audit_key)
    if report.ok:
        print(f"Audit trail intact: {report.records} records verified.")
        for note in report.notes:
            print(f"  note: {note}")
        return EXIT_OK
    print(f"AUDIT TRAIL FAILED VERIFICATION ({report.records} records):")
    for problem in report.problems:
        print(f"  - {problem}")
    return EXIT_FAILED


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from .evaluation import main as evaluate_main

    if not (Path(args.data) / "srahim_dev" / "labels.csv").is_file():  # a traceback before
        print(f"error: {args.data} is not the shared data folder (it has no "
              "srahim_dev/labels.csv): give --data the folder that holds srahim_dev, "
              "messidor2_dev and the training sources", file=sys.stderr)
        return EXIT_USAGE
    return evaluate_main(args, settings)


GUI_EXECUTABLE = "retina-screen-gui"


def gui_command(gui_args: list[str]) -> list[str]:
    """The command that opens the desktop application: the windowed executable beside this one
    (a frozen build's, or the installed script), otherwise the GUI package under this
    interpreter. The window runs as a program of its own, so the command line (core) never
    imports Qt or the GUI code."""
    frozen = getattr(sys, "frozen", False)
    here = Path(sys.executable if frozen else sys.argv[0]).resolve().parent
    sibling = here / (GUI_EXECUTABLE + (".exe" if os.name == "nt" else ""))
    if sibling.is_file():
        return [str(sibling), *gui_args]
    return [sys.executable, "-m", "retina_screen.gui", *gui_args]


def cmd_gui(args: argparse.Namespace, settings: Settings) -> int:
    command = gui_command(list(args.gui_args))
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)  # the window takes this process's place (and its PID)
    import subprocess

    return subprocess.call(command)


def _at_least(low: float, kind: type) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` no smaller than ``low`` (``--workers -1`` was
    taken, and ``--interval 0`` polled the folder without pause; found 2026-12-02)."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low:g}, not {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retina-screen",
        description="Offline diabetic retinopathy screening of colour fundus photographs "
                    "(research use; not cleared for clinical use).")
    parser.add_argument("--version", action="version", version=f"retina-screen {__version__}")
    add_setting_arguments(parser)  # --model, --operator, --clinic-name, ... (settings.py)
    parser.add_argument("--log-level", default="WARNING", help="console log level")
    sub = parser.add_subparsers(dest="command", required=True)

    screen = sub.add_parser("screen", help="screen one patient's photographs")
    screen.add_argument("images", nargs="*", help="photographs (eye guessed from the file name "
                        "or DICOM tags)")
    screen.add_argument("--right", action="append", metavar="IMAGE", help="a right-eye photo")
    screen.add_argument("--left", action="append", metavar="IMAGE", help="a left-eye photo")
    screen.add_argument("--patient-id")
    screen.add_argument("--name")
    screen.add_argument("--birth-date", type=_birth_date_argument, help="YYYY-MM-DD")
    screen.add_argument("--diabetes-type")
    screen.add_argument("--sex", type=_sex_argument, help="F, M or O (default: DICOM "
                        "PatientSex)")
    screen.add_argument("--accession", help="accession number (default: DICOM "
                        "AccessionNumber)")
    screen.add_argument("--report", metavar="PDF", help="also write the PDF report here")
    screen.add_argument("--paper", choices=["A4", "Letter"])
    screen.add_argument("--json", action="store_true", help="machine-readable output")
    screen.set_defaults(handler=cmd_screen)

    batch = sub.add_parser(
        "batch", help="screen a camera export folder (resumable)",
        description="Screen every photograph under INPUT_DIR. Photographs are grouped by "
                    "patient and visit, and each visit is decided on its own photographs: the "
                    "visit is the DICOM study date (else the Study Instance UID) where present, "
                    "otherwise the nearest folder named with a date (2026-11-29/, 20261129/), "
                    "otherwise the file's date. Photographs are known by content: a changed "
                    "photograph is screened again; unreadable ones are retried on every run. "
                    "An output folder belongs to one input folder (see --continue).")
    batch.add_argument("input_dir")
    batch.add_argument("--out", required=True, help="output folder")
    batch.add_argument("--pattern", help="file-name pattern, e.g. '{patient}-{eye}-{any}' or a "
                       "regex with (?P<patient>...) and (?P<eye>...); names it does not match "
                       "are read with the built-in conventions (the run says how many matched)")
    batch.add_argument("--workers", type=_at_least(0, int),
                       help="worker processes (default, or 0: one per CPU core)")
    batch.add_argument("--dask", metavar="local[:N]",
                       help="screen on a Dask LocalCluster of N worker processes (default: one "
                       "per core)")
    batch.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="screen on a running Dask cluster (its scheduler's address); the "
                       "input and output folders must be on storage every worker sees under "
                       "the same paths")
    batch.add_argument("--no-reports", action="store_true", help="skip the PDF reports")
    batch.add_argument("--paper", choices=["A4", "Letter"])
    batch.add_argument("--continue", dest="continue_run", action="store_true",
                       help="add this input folder's results to an output folder that holds "
                       "another input folder's results (refused without it)")
    batch.add_argument("--watch", action="store_true", help="keep screening new photographs "
                       "(each once its size and content stop changing)")
    batch.add_argument("--interval", type=_at_least(0.5, float), default=5.0,
                       help="watch poll interval (s, at least 0.5)")
    batch.add_argument("--quiet", action="store_true", help="no progress bar")
    batch.add_argument("--progress", action="store_true", help="progress bar even when "
                       "stderr is not a terminal")
    from .clinic.commands import add_batch_arguments, add_commands

    add_batch_arguments(batch)  # --send, --fhir
    batch.set_defaults(handler=cmd_batch)

    report = sub.add_parser(
        "report", help="(re)build one patient's PDF from a batch output",
        description="Rebuild a patient's report from the results the batch recorded (never by "
                    "screening again); the photographs need not be there any more.")
    report.add_argument("results_dir")
    report.add_argument("patient_id")
    report.add_argument("--visit", help="which visit (the 'visit' column of patients.csv; "
                        "default: the latest)")
    report.add_argument("--name", help="patient name to print")
    report.add_argument("--pdf", help="where to write the PDF")
    report.add_argument("--paper", choices=["A4", "Letter"])
    report.set_defaults(handler=cmd_report)

    model = sub.add_parser("model", help="model commands")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    info = model_sub.add_parser("info", help="print the manifest and verify the model's hash")
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=cmd_model_info)

    audit = sub.add_parser("audit", help="audit trail commands")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser(
        "verify", help="verify the keyed hash chain against this installation's key and "
        "checkpoints (detects edited, deleted, emptied or replaced records)")
    verify.add_argument("--db", help="audit database (default: from settings)")
    verify.set_defaults(handler=cmd_audit_verify)
    check = audit_sub.add_parser(
        "check-report", help="check PDF reports against the audit trail: issued by this "
        "installation and unchanged since (found by their sha256), or not")
    check.add_argument("reports", nargs="+", metavar="REPORT.pdf")
    check.add_argument("--db", help="audit database (default: from settings)")
    check.add_argument("--patient", metavar="ID",
                       help="also confirm that each report was issued for this patient ID")
    check.set_defaults(handler=cmd_audit_check_report)

    evaluate = sub.add_parser("evaluate", help="measure the model through the app's pipeline")
    evaluate.add_argument("--data", default="../shared/data")
    evaluate.add_argument("--out", default="models/dr_lite0_evaluation.json")
    evaluate.add_argument("--bootstrap", type=int, default=2000)
    evaluate.add_argument("--external-only", action="store_true",
                          help="only the external srahim_dev set")
    evaluate.set_defaults(handler=cmd_evaluate)

    add_commands(sub)  # send, worklist (clinic/commands.py)

    gui = sub.add_parser("gui", help="open the desktop application")
    gui.add_argument("gui_args", nargs=argparse.REMAINDER,
                     help="passed to the desktop application (e.g. photographs to open)")
    gui.set_defaults(handler=cmd_gui)
    return parser


def _to_log_file(message: str) -> None:
    """An ERROR record in the log file only (the console has the operator's message): a
    refusal by its kind, as its words may hold a path with a patient's name. An unattended
    watch that stopped left no trace in the log (found 2026-12-02)."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, (), None)
    for handler in logging.getLogger().handlers:  # setup_logging's, on the root logger
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings_from(args)
        setup_logging(settings, args.log_level)
        return args.handler(args, settings)
    except RetinaScreenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _to_log_file(f"the command stopped: {type(exc).__name__} (its message went to the "
                     "console)")
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Output piped into e.g. `head` that stopped reading: not an error of ours.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - avoid a second error at exit
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
