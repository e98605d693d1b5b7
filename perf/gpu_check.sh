#!/usr/bin/env bash
# The GPU half of the README's performance section, at SD-1.5 size (random weights, 512 px), against
# issue #6's targets (>= 1.5x the plain path in training steps/s; a frozen-text-encoder DreamBooth
# within 24 GB; a 30-subject sweep within one GPU-hour on an H100-class card). One part per call,
# sized for a lent machine's 10-minute command limit (times estimated from the per-variant times
# measured on an H200, 2026-11-26):
#
#   bash perf/gpu_check.sh core       # ~7 min: plain vs fast per method, frozen text encoder,
#                                           #   sampling and scoring rates, projected sweep GPU-hours,
#                                           #   then a tiny `bench run` + `bench report` on CUDA, so the
#                                           #   CUDA-only paths (fp16 sampling, fused AdamW, autocast,
#                                           #   CUDA scoring) run end to end
#   bash perf/gpu_check.sh speedups   # ~4 min: each training speed-up switched off alone
#   bash perf/gpu_check.sh compile    # torch.compile of DreamBooth's training fast path, then of
#                                           #   sampling, then the sweep's GPU-hours with both compiled
#                                           #   (compiling training alone took over 2 minutes there; give
#                                           #   it a whole call; add --compile-mode reduce-overhead for
#                                           #   CUDA graphs)
#   bash perf/gpu_check.sh profile    # ~1 min: where a fast-path step's time goes (launch-bound?)
#   bash perf/gpu_check.sh determinism  # ~4 min: train + sample one cell twice, default kernels and
#                                           #   --deterministic, on tiny and at SD-1.5 size: which repeat their bytes
#                                           #   (add `speedups` for what --deterministic costs in steps/s)
#
# Rows print as they are measured, so a call cut short still returns what it measured. Warm-up is
# 10 steps: with 4, the fast path's rate read 4.9 steps/s where 10 gave 6.8 on the same card.
#
# The lent GPU machines have torch, transformers, peft and timm but neither diffusers nor
# open_clip, no internet, and only this repository (../shared does not travel). Once, here:
#   echo /.whl/ >> .git/info/exclude; echo /.gpu-data/ >> .git/info/exclude
#   mkdir -p .gpu-data && cp -r ../shared/dreambench/dataset .gpu-data/dreambench
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     --platform any -d .whl diffusers==0.42.1 open_clip_torch ftfy wcwidth platformdirs english-words \
#     importlib_metadata filelock lpips
# then run it with the device tool: command "bash perf/gpu_check.sh core", carry [".whl", ".gpu-data"].
# Anywhere with the project installed, `bash perf/gpu_check.sh PART` works as it is.
set -euo pipefail
PART="${1:-core}"
shift || true
case "$PART" in
core | speedups | compile | profile | determinism) ;;
*)
    echo "gpu_check.sh: unknown part '$PART' (core, speedups, compile, profile or determinism)" >&2
    exit 2
    ;;
esac
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD"
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
DATASET="${DREAMBENCH_DIR:-$PWD/.gpu-data/dreambench}"
[ -d "$DATASET" ] || DATASET="$PWD/../shared/dreambench/dataset"
LOG="${OUT:-/tmp}/gpu_check_$PART.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOG"
COMMON=(--profile sd15-random --device cuda --dataset-dir "$DATASET" --warmup 10)

case "$PART" in
core)
    python3 perf/bench_speedups.py "${COMMON[@]}" --parts core --steps 40 --images 16 --score-images 64 "$@" \
        | tee -a "$LOG" || echo "bench_speedups failed" | tee -a "$LOG"
    echo "== tiny bench run + report on CUDA" | tee -a "$LOG"
    RUN_DIR="$(mktemp -d)/tiny-cuda"
    { timeout 150 python3 -m benchmark.cli run --method dreambooth,dreambooth-lora,textual-inversion \
        --subjects dog,cat --profile tiny --device cuda --limit-prompts 2 --images-per-prompt 2 \
        --dataset-dir "$DATASET" --output-dir "$RUN_DIR" --quiet &&
        timeout 60 python3 -m benchmark.cli report "$RUN_DIR" -o "$RUN_DIR/report"; } 2>&1 | tail -25 |
        tee -a "$LOG" || echo "tiny CUDA run failed" | tee -a "$LOG"
    ;;
speedups)
    python3 perf/bench_speedups.py "${COMMON[@]}" --parts speedups --steps 40 "$@" | tee -a "$LOG"
    ;;
compile)
    python3 perf/bench_speedups.py "${COMMON[@]}" --parts compile --methods dreambooth --steps 60 --images 8 "$@" |
        tee -a "$LOG"
    ;;
profile)
    python3 perf/profile_training_step.py "${COMMON[@]}" --steps 10 "$@" | tee -a "$LOG"
    ;;
determinism)
    python3 perf/check_determinism.py --device cuda --dataset-dir "$DATASET" "$@" | tee -a "$LOG" ||
        echo "check_determinism (tiny) exited non-zero" | tee -a "$LOG"
    python3 perf/check_determinism.py --device cuda --dataset-dir "$DATASET" --profile sd15-random \
        --set options.dreambooth.steps=20 --set options.dreambooth.num_class_images=2 --set generation.steps=20 "$@" |
        tee -a "$LOG" || echo "check_determinism (sd15-random) exited non-zero" | tee -a "$LOG"
    ;;
esac
