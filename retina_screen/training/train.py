"""Fine-tune the grading network on the training cache (CPU or GPU), resumable.

Usage::

    python -m retina_screen.training.cache --out .traincache/cache512.pkl      # once
    python -m retina_screen.training.train --cache .traincache/cache512.pkl --out runs/lite0

Each cached screening crop is augmented as a raw crop (rotation, flips, scale and shift
jitter, brightness, contrast, gamma, colour, blur, and camera faults: JPEG re-compression, low
resolution, a field of view cut at one side), then passed through the app's own
:func:`retina_screen.preprocess.model_input`. Sampling mixes the sources in the proportions of
``--mix`` (default: half the draws from the high-resolution sources) and balances grades within
each source (weights 1/sqrt(count)); the loss is cross-entropy over the 5 grades plus a binary
term on the referable probability, whose target includes macular oedema where the source
grades it. An exponential moving average of the weights is evaluated after every epoch (a fixed
number of draws, ``--epoch-samples``) on the validation split; the best by mean per-source
referable AUC is kept. ``--init-onnx`` starts from the weights inside an exported model (batch
norms folded, so they stay frozen), which lets a CPU fine-tune at a new resolution.
``--distill-from`` trains for robustness without grade labels (self-distillation): each draw
is one photo in one random geometry, clean and with random camera faults
(:func:`.inputs.distillation_pair`), and the loss is the KL divergence from the grade
distribution of the network inside an exported model (the teacher) on the clean view to the
student's on the damaged one; validation also records how far the student's P(referable) has
moved from the teacher's on undamaged photos.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from ..metrics import quadratic_kappa, roc_auc
from ..preprocess import PREPROCESSING_ID, SUPPORTED_PREPROCESSING, PreprocessSpec
from .cache import HIGH_RESOLUTION_SOURCES, CacheRecord, load_cache
from .inputs import AUGMENTATIONS, distillation_pair, training_input
from .model import GradingNet, freeze_batch_norm, load_onnx_weights

log = logging.getLogger(__name__)


class CropDataset(Dataset):
    def __init__(self, records: list[CacheRecord], spec: PreprocessSpec, train: bool,
                 augmentation: str = "camera", half: bool = False,
                 pairs: bool = False) -> None:
        """``pairs``: each item is a (clean, damaged) pair of one photo in one geometry
        (:func:`distillation_pair`), stacked, for self-distillation."""
        self.records = records
        self.spec = spec
        self.train = train
        self.augmentation = augmentation
        self.pairs = pairs
        # On a GPU the network reads bfloat16 anyway: float16 halves the batches that the
        # loader's workers pass through shared memory.
        self.half = half

    def __len__(self) -> int:
        return len(self.records)

    def _rng(self) -> np.random.Generator:
        # One generator per worker process, advancing across epochs (persistent workers keep
        # their seed, so seeding per item from the worker seed would repeat augmentations).
        if getattr(self, "_generator_pid", None) != os.getpid():
            self._generator = np.random.default_rng(torch.initial_seed() % 2**32)
            self._generator_pid = os.getpid()
        return self._generator

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        cv2.setNumThreads(1)
        record = self.records[index]
        if self.pairs:
            image = np.stack(distillation_pair(record, self.spec, self._rng()))
        else:
            image = training_input(record, self.spec, self._rng() if self.train else None,
                                   self.augmentation)
        target = torch.tensor([record.grade, int(record.referable or record.grade >= 2)])
        tensor = torch.from_numpy(image)
        return (tensor.half() if self.half else tensor), target


def referable_loss(logits: torch.Tensor, referable: torch.Tensor) -> torch.Tensor:
    probabilities = torch.softmax(logits.float(), dim=1)
    p_referable = probabilities[:, 2:].sum(dim=1).clamp(1e-6, 1 - 1e-6)
    return nn.functional.binary_cross_entropy(p_referable, referable.float())


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL divergence from the teacher's grade distribution to the student's."""
    return nn.functional.kl_div(torch.log_softmax(student_logits.float(), dim=1),
                                torch.log_softmax(teacher_logits.float(), dim=1),
                                log_target=True, reduction="batchmean")


def sampling_weights(records: list[CacheRecord], mix: dict[str, float]) -> np.ndarray:
    """Per-record draw weights: sources in the proportions of ``mix`` (a group name or a source
    name to its share), grades balanced within each source by 1/sqrt(count)."""
    sources = np.array([r.source for r in records])
    grades = np.array([r.grade for r in records])
    weights = np.zeros(len(records))
    groups = {name: share for name, share in mix.items() if share > 0}
    for source in sorted(set(sources)):
        group = "highres" if source in HIGH_RESOLUTION_SOURCES and "highres" in groups else source
        members = [s for s in set(sources)
                   if ("highres" if s in HIGH_RESOLUTION_SOURCES and "highres" in groups
                       else s) == group]
        share = groups.get(group, 0.0) * (sources == source).sum() / np.isin(
            sources, members).sum()
        sel = sources == source
        counts = np.bincount(grades[sel], minlength=5).astype(np.float64)
        w = 1.0 / np.sqrt(np.maximum(counts, 1))[grades[sel]]
        weights[sel] = share * w / w.sum()
    return weights


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: torch.device,
            flip: bool = True) -> np.ndarray:
    """Grade probabilities (logits averaged over the image and its mirror when ``flip``)."""
    model.eval()
    outputs = []
    for images, _ in loader:
        images = images.to(device, non_blocking=True).float().contiguous(
            memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(images).float()
            if flip:
                logits = (logits + model(torch.flip(images, dims=[3])).float()) / 2
        outputs.append(torch.softmax(logits, dim=1).cpu().numpy())
    return np.concatenate(outputs)


def validation_report(records: list[CacheRecord], probabilities: np.ndarray) -> dict:
    grades = np.array([r.grade for r in records])
    referable = np.array([r.referable or r.grade >= 2 for r in records])
    sources = np.array([r.source for r in records])
    report = {}
    for source in sorted(set(sources)):
        sel = sources == source
        p_ref = probabilities[sel, 2:].sum(axis=1)
        report[source] = {
            "n": int(sel.sum()),
            "auc_referable": roc_auc(referable[sel], p_ref),
            "kappa": quadratic_kappa(grades[sel], probabilities[sel].argmax(axis=1)),
        }
    # Over the sources where it is defined: a source whose validation photos are all of one
    # class (a small --val-per-source or --limit) has no AUC and must not blank the mean.
    aucs = [v["auc_referable"] for v in report.values() if np.isfinite(v["auc_referable"])]
    report["mean_auc"] = float(np.mean(aucs)) if aucs else float("nan")
    return report


def parse_mix(text: str) -> dict[str, float]:
    """``highres=0.5,aptos2019=0.25,eyepacs_equalised=0.25`` to a dict."""
    pairs = (item.split("=") for item in text.split(",") if item.strip())
    return {name.strip(): float(value) for name, value in pairs}


def limit_per_source(records: list[CacheRecord], limit: int, seed: int) -> list[CacheRecord]:
    """At most ``limit`` records of each source (a fixed random choice); 0 keeps all."""
    if limit <= 0:
        return records
    rng = np.random.default_rng(seed)
    chosen: list[CacheRecord] = []
    for source in sorted({r.source for r in records}):
        members = [r for r in records if r.source == source]
        keep = sorted(rng.permutation(len(members))[:limit])
        chosen.extend(members[i] for i in keep)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description="Fine-tune the DR grading network")
    parser.add_argument("--cache", type=Path, default=Path(".traincache/cache512.pkl"))
    parser.add_argument("--out", type=Path, default=Path("runs/lite0"))
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--preprocessing", choices=SUPPORTED_PREPROCESSING,
                        default=PREPROCESSING_ID,
                        help="model-input preprocessing (give export the same)")
    parser.add_argument("--augmentation", choices=AUGMENTATIONS, default="camera",
                        help="augmentation recipe (camera: models 2.1 on; basic: model 2.0.0)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--epoch-samples", type=int, default=0,
                        help="draws per epoch (default: the number of training records)")
    parser.add_argument("--time-budget-min", type=float, default=0.0,
                        help="fit the number of epochs into this many minutes (0: no limit)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--mix", type=parse_mix,
                        default=parse_mix("highres=0.5,aptos2019=0.25,eyepacs_equalised=0.25"),
                        help="share of draws per source or 'highres' group")
    parser.add_argument("--val-per-source", type=int, default=0,
                        help="validate on at most N photos per source (0: all)")
    parser.add_argument("--val-flip", action="store_true",
                        help="average validation over the mirror image (twice the time)")
    parser.add_argument("--workers", type=int, default=min(12, os.cpu_count() or 2))
    parser.add_argument("--limit", type=int, default=0, help="use only N training images (smoke)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pretrained-weights", default=None,
                        help="ImageNet weights file (default: the installed weights package)")
    parser.add_argument("--lr-period-epochs", type=int, default=0,
                        help="cosine half-period in epochs (default: the number of epochs)")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from these weights (e.g. an earlier best_fp16.pt)")
    parser.add_argument("--init-onnx", type=Path, default=None,
                        help="start from the weights inside an exported model (batch norm frozen)")
    parser.add_argument("--freeze-blocks", type=int, default=0,
                        help="keep the stem and the first N blocks fixed (faster on a CPU)")
    parser.add_argument("--ema", type=float, default=0.998,
                        help="decay of the weight average that is validated and exported")
    parser.add_argument("--distill-from", type=Path, default=None,
                        help="self-distillation for robustness, no grade labels: learn to give "
                             "on a damaged photo what the network inside this exported model "
                             "gives on the clean one (use with --init-onnx of the same file)")
    parser.add_argument("--checkpoint-dir", type=Path, default=None,
                        help="where the resumable last.pt goes (default: --out)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count() or 2)
    args.out.mkdir(parents=True, exist_ok=True)
    spec = PreprocessSpec(size=args.size, preprocessing_id=args.preprocessing)
    _, records = load_cache(args.cache)
    train_records = [r for r in records if r.split == "train"]
    val_records = limit_per_source([r for r in records if r.split == "val"],
                                   args.val_per_source, args.seed)
    if args.limit:
        rng = np.random.default_rng(args.seed)
        train_records = [train_records[i] for i in rng.permutation(len(train_records))[:args.limit]]
        val_records = val_records[: max(64, args.limit // 4)]
    counts = np.bincount([r.grade for r in train_records], minlength=5).astype(np.float64)
    sampler = WeightedRandomSampler(sampling_weights(train_records, args.mix),
                                    num_samples=args.epoch_samples or len(train_records),
                                    replacement=True)
    loader_args = {"num_workers": args.workers, "pin_memory": device.type == "cuda",
                   "persistent_workers": args.workers > 0}
    half_inputs = device.type == "cuda"
    distill = args.distill_from is not None
    train_loader = DataLoader(CropDataset(train_records, spec, True, args.augmentation,
                                          half_inputs, pairs=distill),
                              batch_size=args.batch,
                              sampler=sampler, drop_last=True, **loader_args)
    val_loader = DataLoader(CropDataset(val_records, spec, False, half=half_inputs),
                            batch_size=args.batch * 2, shuffle=False, **loader_args)
    log.info("device %s, %d train, %d val, grade counts %s, %d px", device, len(train_records),
             len(val_records), counts.astype(int).tolist(), spec.size)

    frozen_bn = args.init_onnx is not None
    model = GradingNet(pretrained=args.init_from is None and not frozen_bn,
                       weights_path=args.pretrained_weights)
    if args.init_from is not None:
        state = torch.load(args.init_from, map_location="cpu")
        model.load_state_dict({k: v.float() for k, v in state.items()})
        log.info("initialised from %s", args.init_from)
    if frozen_bn:
        load_onnx_weights(model, str(args.init_onnx))
        log.info("initialised from the weights inside %s (batch norm frozen)", args.init_onnx)
    teacher = None
    if distill:
        teacher = GradingNet(pretrained=False)
        load_onnx_weights(teacher, str(args.distill_from))
        teacher = teacher.to(device).to(memory_format=torch.channels_last).eval()
        teacher.requires_grad_(False)
        log.info("distilling from the network inside %s (no grade labels)", args.distill_from)
    if args.freeze_blocks:
        backbone = model.backbone
        for module in [backbone._conv_stem, backbone._bn0, *backbone._blocks[:args.freeze_blocks]]:
            module.requires_grad_(False)
    model = model.to(device).to(memory_format=torch.channels_last)
    ema = torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(args.ema))
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                  lr=args.lr, weight_decay=1e-4)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.05)
    steps_per_epoch = len(train_loader)
    epochs = args.epochs
    start_epoch, best, history = 0, -1.0, []
    checkpoint_dir = args.checkpoint_dir or args.out
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    last_path = checkpoint_dir / "last.pt"
    if last_path.exists():
        state = torch.load(last_path, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimiser.load_state_dict(state["optimiser"])
        start_epoch, best, history, epochs = (state["epoch"] + 1, state["best"], state["history"],
                                              state["epochs"])
        log.info("resumed at epoch %d", start_epoch)

    started = time.time()
    teacher_val = None
    epoch = start_epoch
    while epoch < epochs:  # ``epochs`` may shrink after the first epoch (--time-budget-min)
        model.train()
        if frozen_bn:
            freeze_batch_norm(model)
        epoch_start = time.time()
        total_loss, seen = 0.0, 0
        for step, (images, targets) in enumerate(train_loader):
            period = args.lr_period_epochs or epochs
            # Past one period the cosine rises again (warm restarts), as in the shipped run.
            progress = (epoch * steps_per_epoch + step) / (period * steps_per_epoch)
            warm = min(1.0, (epoch * steps_per_epoch + step + 1) / max(1, steps_per_epoch // 4))
            for group in optimiser.param_groups:
                group["lr"] = args.lr * warm * 0.5 * (1 + math.cos(math.pi * progress))
            images = images.to(device, non_blocking=True).float()
            targets = targets.to(device, non_blocking=True)
            if teacher is not None:
                clean, images = (images[:, i].contiguous(memory_format=torch.channels_last)
                                 for i in (0, 1))
                with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                     enabled=device.type == "cuda"):
                    teacher_logits = teacher(clean)
            else:
                images = images.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16,
                                enabled=device.type == "cuda"):
                logits = model(images)
            if teacher is not None:
                loss = distillation_loss(logits, teacher_logits)
            else:
                loss = (criterion(logits.float(), targets[:, 0])
                        + 0.5 * referable_loss(logits, targets[:, 1]))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            ema.update_parameters(model)
            total_loss += float(loss.detach())
            seen += len(images)
            if step % 20 == 19:
                rate = seen / (time.time() - epoch_start)
                log.info("epoch %d step %d/%d loss %.3f, %.1f images/s", epoch + 1, step + 1,
                         steps_per_epoch, total_loss / (step + 1), rate)
        epoch_time = time.time() - epoch_start
        if epoch == start_epoch and args.time_budget_min > 0 and start_epoch == 0:
            fit = int(args.time_budget_min * 60 / (epoch_time * 1.25))
            epochs = max(2, min(args.epochs, fit))
            log.info("epoch takes %.0f s: training %d epochs", epoch_time, epochs)
            steps_per_epoch = len(train_loader)
        probabilities = predict(ema.module, val_loader, device, flip=args.val_flip)
        report = validation_report(val_records, probabilities)
        if teacher is not None:
            if teacher_val is None:
                teacher_val = predict(teacher, val_loader, device, flip=args.val_flip)
            # How far the student has moved from the teacher on undamaged photos.
            shift = np.abs(probabilities[:, 2:].sum(axis=1) - teacher_val[:, 2:].sum(axis=1))
            report["teacher_p_referable_shift"] = {"mean": float(shift.mean()),
                                                   "max": float(shift.max())}
        history.append({"epoch": epoch, "loss": total_loss / max(1, steps_per_epoch),
                        "seconds": epoch_time, "images_per_s": seen / max(epoch_time, 1e-6),
                        **report})
        log.info("epoch %d/%d loss %.3f val mean AUC %.4f %s (%.0fs, %.1f images/s)", epoch + 1,
                 epochs, total_loss / max(1, steps_per_epoch), report["mean_auc"],
                 {str(k): round(v["auc_referable"], 3) for k, v in report.items()
                  if isinstance(v, dict) and "auc_referable" in v}, epoch_time,
                 seen / max(epoch_time, 1e-6))
        if "teacher_p_referable_shift" in report:
            log.info("P(referable) moved from the teacher's on validation photos: mean %.4f, "
                     "max %.4f", *report["teacher_p_referable_shift"].values())
        half = {k: v.half() if v.is_floating_point() else v
                for k, v in ema.module.state_dict().items()}
        torch.save(half, args.out / f"epoch{epoch + 1:02d}_fp16.pt")
        # The first epoch always gives a best file, even without a defined validation AUC.
        if report["mean_auc"] > best or not (args.out / "best_fp16.pt").exists():
            best = report["mean_auc"] if np.isfinite(report["mean_auc"]) else best
            torch.save(half, args.out / "best_fp16.pt")
            np.savez(args.out / "val_predictions.npz", probabilities=probabilities,
                     grades=np.array([r.grade for r in val_records]),
                     sources=np.array([r.source for r in val_records]),
                     images=np.array([r.image for r in val_records]))
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(),
                    "optimiser": optimiser.state_dict(), "epoch": epoch, "best": best,
                    "history": history, "epochs": epochs}, last_path.with_suffix(".tmp"))
        last_path.with_suffix(".tmp").replace(last_path)
        (args.out / "history.json").write_text(json.dumps(history, indent=1))
        epoch += 1
    log.info("done in %.1f min, best mean val AUC %.4f", (time.time() - started) / 60, best)


if __name__ == "__main__":
    main()
