"""Refit the grading head on a frozen network with another pooling (training only).

The shipped network (2.0.0 weights) was trained with global average pooling at 256 and 448 px.
Run at 512 px its last feature map is 16 x 16, so a few small lesions are averaged over 256
cells: the larger the input, the more their evidence is diluted. This step keeps every weight
of the network, pools the last feature map another way (``GradingNet.POOLINGS``), and fits a
new 5-grade linear head on the training photos' pooled features:

1. Every cached photo goes through the one model-input path (``training_input``, as the app's
   ``model_input``) and the network, at ``--size``, as the photo and its mirror image (their
   pooled features averaged: a linear head on the average is the average of the two views'
   logits, as the exported model computes them). Done in ONNX Runtime (an ONNX export of the
   network that outputs the pooled features), several times faster than PyTorch on a CPU.
2. A multinomial logistic regression on the standardised features of the training split
   (grades weighted equally, L2 strength chosen by 5-fold cross-validation grouped by patient,
   on the AUC of P(grade >= 2)), its intercepts then moved back to the training grade
   frequencies (``prior`` below); the standardisation is folded into the weights.
3. The network with the new head is saved as a checkpoint (``weights.pt``) that ``export
   --checkpoint ... --pooling ... --no-prior-correction`` turns into a model; the validation
   split's AUCs on the cached crops (every photo, no quality gate) are printed.

``--fit-sources`` fits the head on some sources' training photos only (the 2.8 trial: IDRiD,
the specialist-graded one); the validation AUCs are still every source's.

Usage::

    python -m retina_screen.training.head --weights-onnx runs/dr_lite0_v2.0.0.onnx \\
        --cache .traincache/cache512.pkl --size 512 --pooling max --out runs/head_max
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..metrics import roc_auc
from ..preprocess import PREPROCESSING_ID, SUPPORTED_PREPROCESSING, PreprocessSpec
from .cache import CacheRecord, load_cache
from .export import softmax
from .inputs import training_input
from .model import FEATURES, NUM_GRADES, GradingNet, global_pool, load_onnx_weights

log = logging.getLogger(__name__)

#: Sources the head is fitted on: the histogram-equalised EyePACS export is left out (the
#: quality gate refuses almost all of it, so the app never grades such photos).
HEAD_SOURCES = ("aptos2019", "eyepacs_raw", "idrid")
C_GRID = (0.001, 0.003, 0.01, 0.03)


class PooledFeatures(nn.Module):
    """The last feature map pooled every way of ``GradingNet.POOLINGS`` (side by side, in that
    order), averaged over the photo and its mirror image."""

    def __init__(self, net: GradingNet) -> None:
        super().__init__()
        self.net = net

    def _pooled(self, x: torch.Tensor) -> torch.Tensor:
        features = self.net.features(x)
        return torch.cat([global_pool(features, pooling) for pooling in GradingNet.POOLINGS],
                         dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self._pooled(x) + self._pooled(torch.flip(x, dims=[3]))) / 2


def pooled_features(net: GradingNet, records: list[CacheRecord], spec: PreprocessSpec,
                    work: Path, threads: int = 0) -> np.ndarray:
    """(records, 2 * FEATURES) pooled features (mean, then max) through ONNX Runtime."""
    import onnxruntime as ort

    path = work / "pooled_features.onnx"
    torch.onnx.export(PooledFeatures(net).eval(), (torch.zeros(1, 3, spec.size, spec.size),),
                      str(path), input_names=["image"], output_names=["pooled"],
                      opset_version=17, dynamo=False)
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    out = np.zeros((len(records), len(GradingNet.POOLINGS) * FEATURES), np.float32)
    started = time.monotonic()
    for i, record in enumerate(records):
        out[i] = session.run(None, {"image": training_input(record, spec)[None]})[0][0]
        if (i + 1) % 500 == 0:
            log.info("%d/%d photos, %.3f s each", i + 1, len(records),
                     (time.monotonic() - started) / (i + 1))
    return out


def fit_head(features: np.ndarray, grades: np.ndarray, referable: np.ndarray,
             groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """(weight (5, FEATURES), bias (5,), report) of the class-balanced logistic regression on
    standardised features, folded back to raw features, intercepts moved to the training
    grade frequencies."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    z = (features - mean) / scale
    cv_auc = {}
    for c in C_GRID:
        scores = []
        for fit, held in GroupKFold(5).split(z, grades, groups):
            model = LogisticRegression(C=c, class_weight="balanced", max_iter=300)
            model.fit(z[fit], grades[fit])
            p_referable = model.predict_proba(z[held])[:, model.classes_ >= 2].sum(axis=1)
            scores.append(roc_auc(referable[held], p_referable))
        cv_auc[c] = float(np.mean(scores))
        log.info("C=%g: cross-validated AUC %.4f", c, cv_auc[c])
    best = max(cv_auc, key=cv_auc.get)
    model = LogisticRegression(C=best, class_weight="balanced", max_iter=500).fit(z, grades)
    if len(model.classes_) != NUM_GRADES:
        raise ValueError(f"the training photos hold grades {model.classes_.tolist()}, not all 5")
    weight = model.coef_ / scale
    counts = np.bincount(grades, minlength=NUM_GRADES).astype(np.float64)
    prior = np.log(np.maximum(counts, 1) / counts.sum())  # balanced fit -> training frequencies
    bias = model.intercept_ - (model.coef_ * (mean / scale)).sum(axis=1) + (prior - prior.mean())
    return weight.astype(np.float32), bias.astype(np.float32), {"C": best, "cv_auc": cv_auc}


def main() -> None:
    parser = argparse.ArgumentParser(description="Refit the grading head with another pooling")
    parser.add_argument("--weights-onnx", type=Path, required=True,
                        help="the network's weights, from an exported model")
    parser.add_argument("--cache", type=Path, default=Path(".traincache/cache512.pkl"))
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--preprocessing", choices=SUPPORTED_PREPROCESSING,
                        default=PREPROCESSING_ID)
    parser.add_argument("--pooling", choices=GradingNet.POOLINGS, default="max")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: all)")
    parser.add_argument("--fit-sources", default=",".join(HEAD_SOURCES),
                        help="comma-separated sources whose training split the head is fitted "
                             f"on (default: {','.join(HEAD_SOURCES)}); validation is always "
                             "every head source's validation split")
    parser.add_argument("--limit", type=int, default=0,
                        help="at most N photos per source and split (smoke tests only)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)

    net = GradingNet(pretrained=False, pooling=args.pooling)
    load_onnx_weights(net, str(args.weights_onnx))
    net.eval()
    spec = PreprocessSpec(size=args.size, preprocessing_id=args.preprocessing)
    fit_sources = tuple(s for s in args.fit_sources.split(",") if s)
    unknown = set(fit_sources) - set(HEAD_SOURCES)
    if not fit_sources or unknown:
        parser.error(f"--fit-sources must name some of {', '.join(HEAD_SOURCES)}")
    _, records = load_cache(args.cache)
    records = [r for r in records if r.source in HEAD_SOURCES
               and (r.split == "val" or r.source in fit_sources)]
    if args.limit:
        records = [r for source in HEAD_SOURCES for split in ("train", "val")
                   for r in [r for r in records if (r.source, r.split) == (source, split)]
                   [:args.limit]]
    features_path = args.out / "pooled_features.npz"
    keys = np.array([f"{r.source}/{r.image}" for r in records])
    stored = np.load(features_path) if features_path.is_file() else None
    if stored is not None and "keys" in stored.files and np.array_equal(stored["keys"], keys):
        features = stored["features"]  # resumable: the slow part is done once per photo set
    else:
        with torch.no_grad():
            features = pooled_features(net, records, spec, args.out, args.threads)
        np.savez(features_path, features=features, keys=keys)
    column = GradingNet.POOLINGS.index(args.pooling)
    features = features[:, column * FEATURES:(column + 1) * FEATURES]
    train = np.array([r.split == "train" for r in records])
    grades = np.array([r.grade for r in records])
    referable = np.array([r.referable or r.grade >= 2 for r in records])
    groups = np.array([f"{r.source}/{r.patient}" for r in records])
    weight, bias, report = fit_head(features[train], grades[train], referable[train],
                                    groups[train])

    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    state["head.weight"] = torch.from_numpy(weight)
    state["head.bias"] = torch.from_numpy(bias)
    torch.save(state, args.out / "weights.pt")
    # Validation AUCs on the cached crops (every photo, no quality gate): a first look; the
    # export measures the model through the application.
    p_ref = softmax(features @ weight.T + bias)[:, 2:].sum(axis=1)
    sources = np.array([r.source for r in records])
    report["validation_auc"] = {s: roc_auc(referable[~train & (sources == s)],
                                           p_ref[~train & (sources == s)])
                                for s in HEAD_SOURCES}
    report["validation_mean_auc"] = float(np.mean(list(report["validation_auc"].values())))
    report.update({"pooling": args.pooling, "size": args.size, "weights": str(args.weights_onnx),
                   "fit_sources": list(fit_sources), "train_photos": int(train.sum())})
    (args.out / "head.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
