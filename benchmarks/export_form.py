"""srahim_dev in the form of the hidden set from its camera: 1280 px JPEG exports.

Usage: python benchmarks/export_form.py [--data ../shared/data] [--model models/dr_lite0.json]
       [--side 1280] [--qualities 95 85 75] [--resamples 2000]

Issue 10's hidden set A comes from the ``srahim_dev`` camera and population, but as photos of
1280 px on the long side. This script exports every ``srahim_dev`` photo that way (area
downscale, JPEG at each quality, files named as the originals), screens them through the
application's file path (``Screener.screen_image``) and prints the model card's per-photo and
per-patient figures (``retina_screen.evaluation``), with patient-level bootstrap intervals.
A check of how the figures move with the photos' size and compression, not a choice: nothing
is tuned on it.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fault_screening import argument_parser, screener_for  # noqa: E402

from retina_screen.evaluation import evaluate_set, evaluation_sets  # noqa: E402


def percent(metric: dict) -> str:
    low, high = metric["ci95"]
    return f"{metric['value'] * 100:.1f}% ({low * 100:.1f}-{high * 100:.1f})"


def main() -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1280)
    parser.add_argument("--qualities", type=int, nargs="+", default=[95, 85, 75])
    parser.add_argument("--resamples", type=int, default=2000)
    args = parser.parse_args()
    screener = screener_for(args.model)
    photos = evaluation_sets(args.data, external_only=True, sources=("srahim_dev",))["srahim_dev"]
    print("| `srahim_dev` as | photos ungradable | photo AUC | photo sensitivity | photo "
          "specificity | patients insufficient | patient AUC | patient sensitivity | patient "
          "specificity |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = [("original files", None, photos)]
    with tempfile.TemporaryDirectory() as tmp:
        for quality in args.qualities:
            exported = []
            for photo in photos:
                bgr = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
                scale = args.side / max(bgr.shape[:2])
                size = (round(bgr.shape[1] * scale), round(bgr.shape[0] * scale))
                path = Path(tmp) / f"q{quality}" / photo.path.name
                path.parent.mkdir(exist_ok=True)
                cv2.imwrite(str(path), cv2.resize(bgr, size, interpolation=cv2.INTER_AREA),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
                exported.append(replace(photo, path=path))
            rows.append((f"{args.side} px, JPEG {quality}", quality, exported))
        for label, _, chosen in rows:
            block = evaluate_set(screener, chosen, args.resamples)
            patients = block["per_patient"]
            print(f"| {label} | {block['ungradable'] + block['errors']} of {block['images']} | "
                  f"{block['auc']['value']:.3f} | {percent(block['sensitivity'])} | "
                  f"{percent(block['specificity'])} | {patients['insufficient']} of "
                  f"{patients['patients']} | {patients['auc']['value']:.3f} | "
                  f"{percent(patients['sensitivity'])} | {percent(patients['specificity'])} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
