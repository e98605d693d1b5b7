#!/usr/bin/env bash
# The GPU half of the README's performance section, in one call of about 6 minutes on an H100-class card:
# every speed-up against the plain path at SD-1.5 size (random weights, 512 px), and the projected
# GPU-hours of a 30-subject sweep, against the targets (>= 1.5x training steps/s; a
# frozen-text-encoder DreamBooth within 24 GB; a 30-subject sweep within one GPU-hour); then a
# tiny-profile `bench run` + `bench report` on CUDA, so the CUDA-only paths (fp16 sampling, fused
# AdamW, autocast, CUDA scoring) run end to end. Rows print as they are measured: a run cut short
# by a time limit still returns what it measured.
#
# The lent GPU machines have torch, transformers, peft and timm but neither diffusers nor
# open_clip, no internet, and only this repository (../shared does not travel). Once, here:
#   echo /.whl/ >> .git/info/exclude; echo /.gpu-data/ >> .git/info/exclude
#   mkdir -p .gpu-data && cp -r ../shared/dreambench/dataset .gpu-data/dreambench
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl diffusers==0.42.1 open_clip_torch ftfy wcwidth platformdirs english-words importlib_metadata filelock
# then run it with the device tool: command "bash benchmarks/gpu_check.sh", carry [".whl", ".gpu-data"].
# Anywhere with the project installed, `bash benchmarks/gpu_check.sh` works as it is.
set -euo pipefail
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
DATASET="${DREAMBENCH_DIR:-$PWD/.gpu-data/dreambench}"
[ -d "$DATASET" ] || DATASET="$PWD/../shared/dreambench/dataset"
LOG="${OUT:-/tmp}/gpu_check.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOG"
python3 benchmarks/bench_speedups.py --profile sd15-random --device cuda --dataset-dir "$DATASET" \
    --steps 16 --warmup 4 --images 8 --score-images 64 "$@" | tee -a "$LOG" || echo "bench_speedups failed" | tee -a "$LOG"
echo "== tiny bench run + report on CUDA" | tee -a "$LOG"
RUN_DIR="$(mktemp -d)/tiny-cuda"
{ timeout 150 python3 -m benchmark.cli run --method dreambooth,dreambooth-lora,textual-inversion --subjects dog,cat \
    --profile tiny --device cuda --limit-prompts 2 --images-per-prompt 2 --dataset-dir "$DATASET" \
    --output-dir "$RUN_DIR" --quiet && timeout 60 python3 -m benchmark.cli report "$RUN_DIR" -o "$RUN_DIR/report"; } 2>&1 | tail -25 \
    | tee -a "$LOG" || echo "tiny CUDA run failed" | tee -a "$LOG"
