"""Referable-DR AUC of training checkpoints on the external checks, without exporting them.

Usage: python benchmarks/checkpoint_external_auc.py WEIGHTS... [--data ../shared/data]
       [--size 512]

WEIGHTS are ``best_fp16.pt`` files from ``retina_screen.training.train`` or exported ``.onnx``
models (their weights are read back). Every ``messidor2_dev`` and ``srahim_dev`` photograph goes
through the one model-input path (the lossless screening crop, then ``training_input``) into the
training network, photo and mirror image averaged; there is no quality gate, so the figures are
lower than ``retina-screen evaluate``'s and only comparable with each other. A diagnostic for
trials (docs/model_trials.md, the 2.5 trial), not a way to choose a model: choose on internal
validation.
Needs the ``[train]`` extra; 6.7 minutes for two models on two cores (2026-11-30).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from retina_screen.metrics import roc_auc
from retina_screen.preprocess import PreprocessSpec
from retina_screen.training.cache import LOSSLESS, CacheRecord, encode_photo
from retina_screen.training.export import load_weights
from retina_screen.training.inputs import training_input
from retina_screen.training.model import GradingNet
from retina_screen.training.train import predict

EXTERNAL_SETS = ("messidor2_dev", "srahim_dev")


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


def p_referable(path: Path, inputs: np.ndarray) -> np.ndarray:
    """P(referable) of each input under the weights in ``path`` (checkpoint or ONNX file)."""
    net = GradingNet(pretrained=False)
    net.load_state_dict(load_weights(None, path) if path.suffix == ".onnx"
                        else load_weights(path))
    tensors = torch.from_numpy(inputs)
    loader = DataLoader(TensorDataset(tensors, torch.zeros(len(tensors))), batch_size=16)
    return predict(net, loader, torch.device("cpu"), flip=True)[:, 2:].sum(axis=1)


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
        scores = p_referable(path, inputs)
        aucs = {name: round(roc_auc(labels[sets == name], scores[sets == name]), 3)
                for name in EXTERNAL_SETS}
        print(path, aucs, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
