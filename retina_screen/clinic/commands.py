"""Command-line parts of the clinic systems: ``retina-screen send``, ``retina-screen worklist``
and what ``batch --send`` / ``batch --fhir`` do after screening (hooked into cli.py)."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from ..errors import ConfigError
from ..settings import Settings

#: How long ``batch --send`` keeps retrying a PACS that cannot be reached before leaving the
#: results queued (``retina-screen send OUT`` sends them later).
BATCH_SEND_WAIT_S = 10.0


def add_batch_arguments(batch: argparse.ArgumentParser) -> None:
    batch.add_argument("--send", action="store_true",
                       help="send every screened patient's results (SR and PDF report) to the "
                       "configured PACS (pacs_host, pacs_port, pacs_ae_title); results that "
                       "cannot be sent stay queued for 'retina-screen send' (the setting "
                       "pacs_auto_send does the same)")
    batch.add_argument("--fhir", action="store_true",
                       help="also write a FHIR R4 Bundle per patient visit into OUT/fhir/")


def _sending(args: argparse.Namespace, settings: Settings) -> bool:
    return bool(getattr(args, "send", False) or settings.pacs_auto_send)


def check_batch_arguments(args: argparse.Namespace, settings: Settings) -> None:
    """Refuse --send without a PACS before anything is screened."""
    if _sending(args, settings):
        from .pacs import require_pacs

        require_pacs(settings)
        if getattr(args, "watch", False):
            raise ConfigError("--send cannot be combined with --watch yet: run 'retina-screen "
                              "send OUT' (e.g. every few minutes) beside the watching batch")


def after_batch(args: argparse.Namespace, settings: Settings, out_dir: Path) -> int:
    """--fhir and --send after a batch run; returns how many results are still queued."""
    pending = 0
    if getattr(args, "fhir", False):
        from .fhir_export import write_bundles

        written = write_bundles(out_dir, settings)
        print(f"FHIR: {written} bundles in {out_dir / 'fhir'}")
    if _sending(args, settings):
        pending = _send(out_dir, settings, BATCH_SEND_WAIT_S)
    return pending


def _send(out_dir: Path, settings: Settings, wait_s: float) -> int:
    from .pacs import send_results

    summary = send_results(out_dir, settings, wait_s=wait_s)
    print(f"PACS {summary.destination}: {summary.sent} instances sent, {summary.pending} "
          f"queued ({summary.patients_pending} patient visits).")
    if summary.held:
        print(f"Warning: {summary.held} patient visits of the results file were not sent: this "
              "installation's audit trail does not confirm them (the file edited, an older copy "
              "put back, or from another installation). Screen the folder again with "
              "'retina-screen batch'.", file=sys.stderr)
    if summary.pending:
        print(f"Not sent yet: {summary.error}. The results stay queued in {out_dir}/outbox; "
              f"run 'retina-screen send {out_dir}' when the PACS is back.", file=sys.stderr)
    return summary.pending


def cmd_send(args: argparse.Namespace, settings: Settings) -> int:
    pending = _send(Path(args.results_dir), settings, args.wait)
    return 1 if pending else 0


def _date(text: str) -> str:
    if len(text) != 8 or not text.isdigit():
        raise ConfigError(f"--date must be YYYYMMDD, not {text!r}")
    try:
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError as exc:
        raise ConfigError(f"--date {text} is not a date") from exc
    return text


def cmd_worklist(args: argparse.Namespace, settings: Settings) -> int:
    from .worklist import query_worklist

    date = _date(args.date) if args.date else dt.date.today().strftime("%Y%m%d")
    entries = query_worklist(settings, date=date, modality=args.modality)
    for e in entries:
        print("\t".join([e.patient_id, e.patient_name, e.birth_date, e.sex, e.accession,
                         e.scheduled_date, e.scheduled_time, e.description]))
    if not entries:
        print(f"No patients scheduled on {date} for modality {args.modality}.",
              file=sys.stderr)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    send = sub.add_parser(
        "send", help="send a finished batch's results to the configured PACS",
        description="Build the DICOM results (Comprehensive SR and Encapsulated PDF report) of "
                    "every screened patient visit in RESULTS_DIR, queue them on disk and send "
                    "the queue to the PACS (pacs_host, pacs_port, pacs_ae_title). Nothing is "
                    "sent twice; what cannot be sent stays queued (exit code 1).")
    send.add_argument("results_dir")
    send.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                      help="keep retrying an unreachable PACS this long (backoff 1, 2, 4 ... s)")
    send.set_defaults(handler=cmd_send)

    worklist = sub.add_parser(
        "worklist", help="list the patients scheduled on the DICOM Modality Worklist",
        description="Query the Modality Worklist (worklist_host, worklist_port, "
                    "worklist_ae_title) and print one scheduled patient per line, tab-separated: "
                    "patient ID, name, birth date, sex, accession number, scheduled date and "
                    "time, procedure.")
    worklist.add_argument("--date", help="YYYYMMDD (default: today)")
    worklist.add_argument("--modality", default="OP", help="scheduled modality (default OP)")
    worklist.set_defaults(handler=cmd_worklist)
