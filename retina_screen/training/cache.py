"""Build the training cache: every labelled photo as the application's own screening crop.

Each photo goes through the application's model-input path up to the crop: the loader with
``max_side=DECODE_MAX_SIDE``, then :func:`retina_screen.preprocess.screening_crop` (the same
512 px field-of-view crop the quality gate measures), stored as high-quality WebP.
Augmentation and :func:`retina_screen.preprocess.model_input` run at training time on these
crops, exactly as the app runs ``model_input`` on its crop (a test checks the two agree).

Splits are by patient (both eyes of a person on the same side) with a stable hash, so a rebuild
gives the same split; IDRiD (no patient IDs) keeps its official train/test split.
``srahim_dev`` and ``messidor2_dev`` are never put in the cache: they are external checks.

Usage::

    python -m retina_screen.training.cache --data ../shared/data --out .traincache/cache.pkl
    # a compact copy to carry to a lent GPU machine (training/gpu_run.sh):
    python -m retina_screen.training.cache --compact .traincache/cache512.pkl \
        --webp-quality 85 --out .gpu/cache_compact.pkl
"""

from __future__ import annotations

import argparse
import logging
import pickle
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import cv2
import numpy as np

from ..labels import TRAINING_SOURCES, read_labels, record_referable, record_split
from ..loading import load_image
from ..preprocess import DECODE_MAX_SIDE, SCREENING_CROP_SIDE, resize_crop, screening_crop

log = logging.getLogger(__name__)

#: Photographs taken at camera resolution (the rest are 224-256 px exports).
HIGH_RESOLUTION_SOURCES = ("eyepacs_raw", "idrid")
# Keep the cache small: the equalised EyePACS set is mostly grade 0 and compresses poorly.
EQUALISED_GRADE0_KEEP = 2000
WEBP_QUALITY = 92
#: A WebP quality above 100 is lossless: the model input is then bit-identical to the app's.
LOSSLESS = 101


@dataclass(frozen=True)
class CacheRecord:
    source: str
    image: str
    patient: str
    grade: int
    split: str  # "train" or "val"
    webp: bytes
    #: Referable DR: ICDR >= 2, or macular oedema where the source grades it (IDRiD).
    referable: bool = False


def encode_photo(path: str | Path, quality: int = WEBP_QUALITY) -> bytes:
    """A photograph file to its cached form: the app's screening crop as WebP (quality above
    100 is lossless, so that the model input is bit-identical to the app's)."""
    crop = screening_crop(load_image(Path(path), max_side=DECODE_MAX_SIDE).pixels).image
    ok, buffer = cv2.imencode(
        ".webp", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    return buffer.tobytes()


def select_rows(data_root: Path) -> list[tuple[str, dict[str, str]]]:
    """The labelled rows that go into the cache, with their source."""
    rng = random.Random(20261126)
    chosen: list[tuple[str, dict[str, str]]] = []
    for source in TRAINING_SOURCES:
        rows = read_labels(data_root, source)
        if source == "eyepacs_equalised":
            grade0 = [r for r in rows if r["icdr_grade"] == "0"]
            others = [r for r in rows if r["icdr_grade"] != "0"]
            rows = others + rng.sample(grade0, min(EQUALISED_GRADE0_KEEP, len(grade0)))
        chosen.extend((source, row) for row in rows)
    return chosen


def label_records(data_root: Path) -> list[CacheRecord]:
    """The training sources' labelled photographs as records without pixels (``webp`` empty):
    what the cache holds, but for the photographs themselves. Export takes the training grade
    frequencies from these, so it needs only the labels, not a built cache."""
    records = []
    for source, row in select_rows(data_root):
        patient = row.get("patient") or row["image"]
        records.append(CacheRecord(source, row["image"], patient, int(row["icdr_grade"]),
                                   record_split(source, row), b"", record_referable(row)))
    return records


def build_cache(data_root: Path, out: Path, workers: int = 2,
                quality: int = WEBP_QUALITY) -> list[CacheRecord]:
    rows = select_rows(data_root)
    paths = [str(data_root / source / row["file"]) for source, row in rows]
    with ProcessPoolExecutor(workers) as pool:
        encoded = list(pool.map(partial(encode_photo, quality=quality), paths, chunksize=32))
    records = [replace(record, webp=webp)
               for record, webp in zip(label_records(data_root), encoded, strict=True)]
    write_cache(records, out)
    return records


def load_cache(path: Path) -> tuple[int, list[CacheRecord]]:
    with open(path, "rb") as handle:
        payload = pickle.load(handle)
    return payload["side"], [CacheRecord(**r) for r in payload["records"]]


def decode(record: CacheRecord) -> np.ndarray:
    """The cached crop as RGB uint8, at the screening crop's side (a compact cache stores some
    crops smaller: they are enlarged as ``screening_crop`` enlarges a small photo)."""
    bgr = cv2.imdecode(np.frombuffer(record.webp, np.uint8), cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return resize_crop(rgb, SCREENING_CROP_SIDE) if rgb.shape[0] < SCREENING_CROP_SIDE else rgb


def compact_record(record: CacheRecord, low_resolution_side: int, quality: int,
                   low_resolution_quality: int) -> CacheRecord:
    """``record`` re-encoded as WebP: a photo of a high-resolution source at ``quality``, one of
    a low-resolution source (224-256 px exports, which the screening crop enlarges to 512 px)
    at ``low_resolution_side`` and ``low_resolution_quality``, which keeps what such a photo
    holds in a sixth of the bytes."""
    bgr = cv2.imdecode(np.frombuffer(record.webp, np.uint8), cv2.IMREAD_COLOR)
    if record.source not in HIGH_RESOLUTION_SOURCES:
        quality = low_resolution_quality
        if bgr.shape[0] > low_resolution_side:
            bgr = resize_crop(bgr, low_resolution_side)
    ok, buffer = cv2.imencode(".webp", bgr, [cv2.IMWRITE_WEBP_QUALITY, quality])
    if not ok:
        raise RuntimeError(f"could not encode {record.source}/{record.image}")
    return replace(record, webp=buffer.tobytes())


def write_cache(records: list[CacheRecord], out: Path) -> None:
    """Write a cache file atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        pickle.dump({"side": SCREENING_CROP_SIDE, "records": [r.__dict__ for r in records]},
                    handle)
    tmp.replace(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path(".traincache/cache.pkl"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--webp-quality", type=int, default=WEBP_QUALITY,
                        help="WebP quality of the cached crops; above 100 is lossless (~5x larger)")
    parser.add_argument("--compact", type=Path, default=None, metavar="CACHE",
                        help="instead of reading photos, write a compact copy of CACHE (to carry "
                             "to a GPU machine): high-resolution sources at --webp-quality, "
                             "the others at --low-resolution-side and --low-resolution-quality")
    parser.add_argument("--low-resolution-side", type=int, default=224)
    parser.add_argument("--low-resolution-quality", type=int, default=70)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    if args.compact is not None:
        _, records = load_cache(args.compact)
        records = [compact_record(r, args.low_resolution_side, args.webp_quality,
                                  args.low_resolution_quality) for r in records]
        write_cache(records, args.out)
    else:
        records = build_cache(args.data, args.out, args.workers, args.webp_quality)
    size = sum(len(r.webp) for r in records)
    for source in TRAINING_SOURCES:
        for split in ("train", "val"):
            n = sum(1 for r in records if r.source == source and r.split == split)
            print(f"{source:18s} {split:5s} {n:5d}")
    print(f"{len(records)} crops, {size / 2**20:.1f} MiB -> {args.out}")


if __name__ == "__main__":
    main()
