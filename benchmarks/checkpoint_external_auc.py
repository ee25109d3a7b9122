"""Referable-DR AUC of training checkpoints on the external checks, without exporting them.

Usage: python benchmarks/checkpoint_external_auc.py WEIGHTS... [--data ../shared/data]
       [--size 512]

WEIGHTS are ``best_fp16.pt`` files from ``retina_screen.training.train`` or exported ``.onnx``
models (their weights are read back). Every ``messidor2_dev`` and ``srahim_dev`` photograph goes
through the one model-input path (the lossless screening crop, then ``training_input``) into the
training network, photo and mirror image averaged; there is no quality gate, so the figures are
lower than ``retina-screen evaluate``'s and only comparable with each other. A diagnostic for
trials (README, the 2.5 trial), not a way to choose a model: choose on internal validation.
Needs the ``[train]`` extra; about 2 minutes per model on two cores.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from retina_screen.metrics import roc_auc
from retina_screen.preprocess import PreprocessSpec
from retina_screen.training.cache import CacheRecord, encode_photo
from retina_screen.training.inputs import training_input
from retina_screen.training.model import GradingNet, load_onnx_weights

EXTERNAL_SETS = ("messidor2_dev", "srahim_dev")
LOSSLESS = 101


def external_inputs(data: Path, spec: PreprocessSpec) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """Model inputs, referable labels and set names of every external photograph."""
    inputs, labels, sets = [], [], []
    for name in EXTERNAL_SETS:
        with open(data / name / "labels.csv", newline="") as handle:
            for row in csv.DictReader(handle):
                record = CacheRecord(name, row["image"], row["image"], 0, "val",
                                     encode_photo(data / name / row["file"], LOSSLESS))
                inputs.append(training_input(record, spec))
                labels.append(row["referable"] == "1")
                sets.append(name)
    return np.stack(inputs), np.array(labels), np.array(sets)


def load_network(path: Path) -> GradingNet:
    net = GradingNet(pretrained=False)
    if path.suffix == ".onnx":
        load_onnx_weights(net, str(path))
    else:
        state = torch.load(path, map_location="cpu")
        net.load_state_dict({k: v.float() for k, v in state.items()})
    return net.eval()


@torch.no_grad()
def p_referable(net: GradingNet, inputs: np.ndarray, batch: int = 16) -> np.ndarray:
    scores = []
    for start in range(0, len(inputs), batch):
        images = torch.from_numpy(inputs[start:start + batch])
        logits = (net(images) + net(torch.flip(images, dims=[3]))) / 2
        scores.append(torch.softmax(logits, dim=1)[:, 2:].sum(dim=1).numpy())
    return np.concatenate(scores)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(2)
    inputs, labels, sets = external_inputs(
        args.data, PreprocessSpec(size=args.size, preprocessing_id="fov-ben-graham-v1"))
    for path in args.weights:
        scores = p_referable(load_network(path), inputs)
        aucs = {name: round(roc_auc(labels[sets == name], scores[sets == name]), 3)
                for name in EXTERNAL_SETS}
        print(path, aucs, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
