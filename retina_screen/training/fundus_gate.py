"""Train and export the "is this a fundus photograph?" gate.

Usage (after ``export``; it adds a ``gate`` section to the grading model's manifest)::

    python -m retina_screen.training.fundus_gate --data ../shared/data \\
        --cache .traincache/cache512.pkl --manifest models/dr_lite0.json

The gate is the ImageNet EfficientNet-Lite0 stem and first 11 blocks (no fine-tuning), applied
to the raw field-of-view crop at ``GATE_SIZE`` px, mean-pooled, followed by a logistic
regression fitted here. Fundus examples: a sample of the training cache plus the DRIMDB good and
bad photos and the EyeQ-labelled EyePACS photos; non-fundus examples: the DRIMDB outliers and
ordinary photographs from scikit-image's ``data`` module. ``srahim_dev`` is not used. The
cross-validated agreement is printed and stored in the manifest.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..fov import mask_outside_circle
from ..inference import sha256_of
from ..preprocess import gate_input as preprocess_gate_input
from ..preprocess import screening_crop
from .cache import decode, load_cache
from .calibrate_quality import labelled_images, to_rgb
from .export import write_json_atomic
from .model import build_backbone

log = logging.getLogger(__name__)

GATE_SIZE = 160
GATE_BLOCKS = 11
GATE_MEAN = 127.5
GATE_STD = 127.5


class GateNet(nn.Module):
    """Truncated ImageNet backbone -> pooled features -> standardise -> linear -> probability."""

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__()
        backbone = build_backbone(True, weights_path)
        self.stem = nn.Sequential(backbone._conv_stem, backbone._bn0, backbone._swish)
        self.blocks = nn.ModuleList(backbone._blocks[:GATE_BLOCKS])
        channels = backbone._blocks[GATE_BLOCKS - 1]._project_conv.out_channels
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("scale", torch.ones(channels))
        self.linear = nn.Linear(channels, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self.blocks:
            h = block(h, drop_connect_rate=None)
        return h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        standardised = (self.features(x) - self.mean) / self.scale
        return torch.sigmoid(self.linear(standardised))[:, 0]


def gate_input(crop_rgb: np.ndarray) -> np.ndarray:
    """The gate's input from a square FOV crop (RGB uint8, any size): float32 CHW."""
    return preprocess_gate_input(crop_rgb, GATE_SIZE, (GATE_MEAN,) * 3, (GATE_STD,) * 3)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fit and export the fundus gate")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache", type=Path, default=Path(".traincache/cache512.pkl"))
    parser.add_argument("--manifest", type=Path, default=Path("models/dr_lite0.json"))
    parser.add_argument("--cache-sample", type=int, default=1500)
    parser.add_argument("--regularisation", type=float, default=0.1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    torch.set_num_threads(2)
    net = GateNet().eval()

    def features(crops: list[np.ndarray]) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(crops), 64):
                batch = np.stack([gate_input(c) for c in crops[start:start + 64]])
                out.append(net.features(torch.from_numpy(batch)).numpy())
        return np.concatenate(out)

    _, records = load_cache(args.cache)
    train = [r for r in records if r.split == "train"]
    rng = np.random.default_rng(0)
    sample = [train[i] for i in rng.permutation(len(train))[: args.cache_sample]]
    crops, labels, groups = [], [], []
    for record in sample:
        # Caches built before the crop was blacked out beyond the circle get the same mask.
        crops.append(mask_outside_circle(decode(record)))
        labels.append(1)
        groups.append("cache")
    for source, label, image in labelled_images(args.data):
        if source == "srahim_dev" or label.startswith("good:"):
            continue
        crops.append(screening_crop(to_rgb(image)).image)
        labels.append(0 if label.startswith("outlier") else 1)
        groups.append(source)
    x = features(crops)
    y = np.array(labels)
    groups_arr = np.array(groups)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    weights = np.where(y == 0, len(y) / (2 * (y == 0).sum()), len(y) / (2 * (y == 1).sum()))

    out_of_fold = np.zeros(len(y))
    for train_idx, test_idx in StratifiedKFold(8, shuffle=True, random_state=0).split(z, y):
        fold = LogisticRegression(C=args.regularisation, max_iter=5000)
        fold.fit(z[train_idx], y[train_idx], sample_weight=weights[train_idx])
        out_of_fold[test_idx] = fold.predict_proba(z[test_idx])[:, 1]
    threshold = 0.5
    cv = {}
    for source in sorted(set(groups_arr)):
        for value, name in ((0, "non_fundus_rejected"), (1, "fundus_accepted")):
            sel = (groups_arr == source) & (y == value)
            if sel.any():
                hits = (out_of_fold[sel] < threshold) if value == 0 else (
                    out_of_fold[sel] >= threshold)
                cv[f"{source}_{name}"] = f"{int(hits.sum())}/{int(sel.sum())}"
    print(json.dumps(cv, indent=1))

    model = LogisticRegression(C=args.regularisation, max_iter=5000)
    model.fit(z, y, sample_weight=weights)
    net.mean.copy_(torch.from_numpy(mean).float())
    net.scale.copy_(torch.from_numpy(scale).float())
    net.linear.weight.data.copy_(torch.from_numpy(model.coef_).float())
    net.linear.bias.data.copy_(torch.from_numpy(model.intercept_).float())

    gate_path = args.manifest.parent / "fundus_gate.onnx"
    tmp = gate_path.with_suffix(".onnx.tmp")
    torch.onnx.export(net, (torch.zeros(1, 3, GATE_SIZE, GATE_SIZE),), str(tmp),
                      input_names=["image"], output_names=["p_fundus"],
                      dynamic_axes={"image": {0: "batch"}, "p_fundus": {0: "batch"}},
                      opset_version=17, dynamo=False)
    tmp.replace(gate_path)
    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    manifest["gate"] = {
        "file": gate_path.name, "sha256": sha256_of(gate_path),
        "input": {"name": "image", "size": GATE_SIZE, "mean": [GATE_MEAN] * 3,
                  "std": [GATE_STD] * 3, "colour": "RGB", "content": "raw field-of-view crop"},
        "output": "p_fundus", "threshold": threshold,
        "description": "ImageNet EfficientNet-Lite0 blocks 0-10 + logistic regression: "
                       "probability that the photo is a colour fundus photograph",
        "cross_validation_8fold": cv,
    }
    write_json_atomic(args.manifest, manifest)
    print(f"gate -> {gate_path} ({gate_path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
