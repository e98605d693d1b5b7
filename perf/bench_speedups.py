"""Each speed-up against the harness's plain path, and the projected hours of a 30-subject sweep.

    python perf/bench_speedups.py --dataset-dir ../shared/dreambench/dataset
    python perf/bench_speedups.py --profile sd15-random --device cuda          # on a GPU, 512 px
    python perf/bench_speedups.py ... --parts speedups   # only each speed-up off alone (and its plain row)
    python perf/bench_speedups.py ... --compile     # adds torch.compile rows (minutes of compiling)

The plain path is the harness with every speed-up switched off: no latent or
text-embedding cache, diffusers' classic attention, NCHW layout, the loop AdamW,
fp32 throughout, one image per sampling batch, one image per scoring batch. The
fast path is the harness's defaults. Both are measured in the same invocation on
the same machine, so the ratios compare like with like; for DreamBooth each
speed-up is also switched off alone ("fast without X") to show its share.

Each training measurement runs in its own process, so its peak memory (CUDA max
allocated on a GPU, peak resident memory on CPU) is its own. Rates leave out warm-up steps
(and hence compilation). The sweep projection multiplies the measured rates by
the protocol's counts (30 subjects, 25 prompts x 4 images + 4 PRES images each,
class images per distinct class, the profile's training steps) and leaves out
model loading: it is a lower bound on wall time for one device. The compile
part projects the same sweep with training and sampling both compiled (the
one-GPU-hour question), against the fast path when the core part ran too.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

# the sibling scripts, when imported from elsewhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import TrainingBench, add_bench_arguments, machine_line, weights_label  # noqa: E402

SWEEP_METHODS = "dreambooth,dreambooth-lora,textual-inversion"
# What each training speed-up is when switched off; all of them off is the plain path.
TRAINING_SPEEDUPS = {
    "latent cache": {"cache_latents": False},
    "text-embedding cache": {"cache_text_embeddings": False},
    "SDPA attention": {"sdpa_attention": False},
    "channels-last": {"channels_last": False},
    "fused AdamW": {"fused_adam": False},
    "mixed precision": {"mixed_precision": "no"},
}
# On CPU it is off in every variant (fused AdamW runs on both since DreamBooth version 4).
CUDA_ONLY = ("mixed precision",)
PLAIN_TRAINING = {key: value for switch in TRAINING_SPEEDUPS.values() for key, value in switch.items()}
PARTS = ("core", "speedups", "compile")
IMAGES_PER_PROMPT, PRES_IMAGES = 4, 4
# a sampling batch of four prompts' images, the `generation.batch_size` to try on a big GPU
WIDE_BATCH = 16


# ------------------------------------------------------------------------ training
def train_in_child(args, method: str, overrides: dict, cache_dir: Path, deterministic: bool = False) -> dict:
    """One measurement in a fresh process: its own peak memory, no compiled code or allocator state shared."""
    request = {"method": method, "overrides": overrides, "deterministic": deterministic}
    command = [
        sys.executable,
        __file__,
        "--child",
        json.dumps(request),
        "--profile",
        args.profile,
        "--device",
        args.device,
        "--subject",
        args.subject,
        "--warmup",
        str(args.warmup),
        "--cache-dir",
        str(cache_dir),
    ]
    if args.dataset_dir:
        command += ["--dataset-dir", args.dataset_dir]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        sys.exit(f"bench_speedups: {method} {overrides} failed: {lines[-1]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(args) -> None:
    request = json.loads(args.child)
    # process-wide, as in a `bench run --deterministic` worker
    if request.get("deterministic"):
        from benchmark.determinism import use_deterministic_kernels

        use_deterministic_kernels(torch.device(args.device))
    bench = TrainingBench.build(args.profile, args.subject, args.device, args.dataset_dir, Path(args.cache_dir))
    with tempfile.TemporaryDirectory(prefix="bench-speedups-") as tmp:
        result = bench.train(request["method"], request["overrides"], Path(tmp) / "work", args.warmup)
    # what a real run of this profile would do
    defaults = bench.options(request["method"], {})
    result["profile_steps"], result["num_class_images"] = defaults["steps"], defaults.get("num_class_images", 0)
    print(json.dumps(result))


def measure(args, cache_dir: Path, method: str, overrides: dict, deterministic: bool = False) -> dict:
    return train_in_child(args, method, {"steps": args.steps, **overrides}, cache_dir, deterministic)


def core_training_rows(args, cache_dir: Path) -> dict:
    """Plain and fast path of each method, and DreamBooth's frozen-text-encoder pair (the 24 GB question).

    Each row is printed as soon as it is measured, so a run cut short (a lent GPU's
    time limit) still shows what it got. Returns (plain, fast) per method.
    """
    per_method = {}
    print_training_header("training")
    for method in args.methods.split(","):
        plain = emit((method, "plain path", measure(args, cache_dir, method, PLAIN_TRAINING), None))
        fast = emit((method, "fast path (defaults)", measure(args, cache_dir, method, {}), plain))
        per_method[method] = (plain, fast)
        if method == "dreambooth" and not args.quick:
            frozen = {"train_text_encoder": False}
            frozen_plain = measure(args, cache_dir, method, {**frozen, **PLAIN_TRAINING})
            emit((method, "plain, frozen text encoder", frozen_plain, None))
            emit((method, "fast, frozen text encoder", measure(args, cache_dir, method, frozen), frozen_plain))
    return per_method


def speedup_rows(args, cache_dir: Path, plain_for) -> None:
    """DreamBooth's fast path with each speed-up switched off alone: each one's share of the fast path."""
    print_training_header("training, one speed-up off at a time")
    plain = plain_for("dreambooth")
    for label, switch in TRAINING_SPEEDUPS.items():
        if label not in CUDA_ONLY or args.device_type == "cuda":
            emit(("dreambooth", f"fast without {label}", measure(args, cache_dir, "dreambooth", switch), plain))
    # the price of `--deterministic` (on CPU it changes nothing)
    if args.device_type == "cuda":
        emit(("dreambooth", "fast, deterministic kernels", measure(args, cache_dir, "dreambooth", {}, True), plain))


def compile_rows(args, cache_dir: Path, plain_for) -> dict:
    """Each method's fast path under torch.compile (compilation is in the warm-up steps); returns them per method."""
    print_training_header("training, torch.compile")
    compiled = {}
    for method in args.methods.split(","):
        plain = plain_for(method)
        compiled[method] = emit(
            (method, "fast + torch.compile", measure(args, cache_dir, method, compile_settings(args)), plain)
        )
    return compiled


def compile_settings(args) -> dict:
    """The option values of a compiled variant, for training (method options) and sampling (`generation.`) alike."""
    return {"compile": True, "compile_backend": args.compile_backend, "compile_mode": args.compile_mode}


def print_training_header(title: str) -> None:
    print(f"\n| {title} | variant | steps/s | x plain | peak MB | x plain | warm-up s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")


def emit(row: tuple) -> dict:
    """Print one training row (reference None: the row is its own plain path); returns its result."""
    method, variant, result, reference = row
    reference = reference or result
    speed = result["steps_per_s"] / reference["steps_per_s"]
    peak, reference_peak = result["peak_memory_mb"], reference["peak_memory_mb"]
    memory = f"{peak / reference_peak:.2f}" if peak and reference_peak else "n.a."
    print(
        f"| {method} | {variant} | {result['steps_per_s']:.2f} | {speed:.2f} | "
        f"{peak or float('nan'):.0f} | {memory} | {result['first_steps_s']:.1f} |",
        flush=True,
    )
    return result


# ---------------------------------------------------------------------- generation
def generation_rates(args, bench: TrainingBench, compiled: bool = False) -> dict:
    """Images per second of the base pipeline, plain and fast, on the same prompts and seeds.

    With `compiled`, the fast path against itself with `generation.compile` (the
    compile part): its warm-up batch pays the compilation, which is left out.
    """
    context = bench.context
    fast = dict(batch_size=IMAGES_PER_PROMPT, sdpa_attention=True, channels_last=True, dtype=context.dtype)
    if compiled:
        variants = {"fast path (defaults)": fast, "fast + torch.compile": {**fast, **compile_settings(args)}}
    else:
        variants = {
            "plain path": dict(batch_size=1, sdpa_attention=False, channels_last=False, dtype=torch.float32),
            "fast path (defaults)": fast,
        }
        # what `generation.batch_size=16` does: batches spanning four prompts
        if args.images >= WIDE_BATCH:
            variants[f"fast, batch {WIDE_BATCH} across prompts"] = {**fast, "batch_size": WIDE_BATCH}
    return {label: sampling_rate(args, bench, **variant) for label, variant in variants.items()}


def sampling_rate(args, bench: TrainingBench, dtype: torch.dtype, **settings) -> tuple[float, str]:
    """(images per second, what ran) of `args.images` images, after one warm-up batch."""
    import dataclasses

    from methods.diffusion import build_pipeline, sample

    context = bench.context
    prompts = [f"a {bench.subject.class_noun} photo number {i}" for i in range(args.images)]
    seeds = list(range(args.images))
    generation = dataclasses.replace(context.generation, **settings)
    components = context.base_components if dtype == torch.float32 else context.generation_parts()
    pipe = build_pipeline(components, generation, context.device, dtype)
    batch = generation.batch_size
    # warm-up
    sample(pipe, prompts[:batch], seeds[:batch], generation)
    synchronize(context.device)
    started = time.perf_counter()
    for start in range(0, len(prompts), batch):
        sample(pipe, prompts[start : start + batch], seeds[start : start + batch], generation)
    synchronize(context.device)
    rate = len(prompts) / (time.perf_counter() - started)
    return rate, f"batch {batch}, {str(dtype)[6:]}" + (", compiled" if generation.compile else "")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------- scoring
def scoring_rates(args, device: torch.device) -> dict:
    """DINO + CLIP embedding of 512 px images (one decode each), batch 1 vs the default batch, cold cache.

    One build of the backbones serves both batch sizes, so the two rows time the
    same weights and the models are built once per invocation.
    """
    from bench_scoring import backbones, synthetic_images, time_scoring

    from benchmark.metrics.backbones import DEFAULT_BATCH_SIZE

    models = backbones(str(device))[-1][1]
    with tempfile.TemporaryDirectory(prefix="bench-speedups-scoring-") as tmp:
        refs = synthetic_images(Path(tmp), args.score_images, 512)
        plain = time_scoring(models, refs, Path(tmp) / "cache-plain", 1)
        fast = time_scoring(models, refs, Path(tmp) / "cache-fast", DEFAULT_BATCH_SIZE)
    count = len(refs)
    return {
        "plain path": (count / plain["cold"], "batch 1, cold cache"),
        "fast path (defaults)": (count / fast["cold"], f"batch {DEFAULT_BATCH_SIZE}, cold cache"),
        "re-score (cached)": (count / fast["warm"], "embedding cache hit"),
    }


def print_rates(title: str, rates: dict) -> None:
    """The first row is the reference of the ratios: the plain path, or the fast path for the compile rows."""
    reference_label, (reference, _) = next(iter(rates.items()))
    print(f"\n| {title} | variant | images/s | x {reference_label.split()[0]} |")
    print("| --- | --- | --- | --- |")
    for label, (rate, note) in rates.items():
        print(f"| {note} | {label} | {rate:.2f} | {rate / reference:.2f} |")


# ---------------------------------------------------------------------- projection
class Sweep:
    """The protocol's counts of a full sweep, and the hours they take at measured rates."""

    def __init__(self):
        from dataset.protocol import load_protocol

        protocol = load_protocol()
        subjects = protocol.select("all")
        self.subjects = len(subjects)
        self.generated = sum(len(protocol.prompts_for(s)) * IMAGES_PER_PROMPT + PRES_IMAGES for s in subjects)
        self.classes = len({s.class_noun for s in subjects})

    def hours(self, result: dict, gen_rate: float, score_rate: float) -> tuple[float, float]:
        """(whole sweep, its training) in hours: every subject trains, every image is sampled and scored."""
        train = self.subjects * result["profile_steps"] / result["steps_per_s"]
        class_images = self.classes * result["num_class_images"] if result["prior"] else 0
        sampling = (self.generated + class_images) / gen_rate
        return (train + sampling + self.generated / score_rate) / 3600, train / 3600

    def footnote(self, profile: str) -> str:
        return (
            f"(profile {profile}: each subject trains for the profile's steps, {self.generated} images are generated "
            f"and scored, {self.classes} classes get class images when prior preservation is on; model loading "
            "excluded)"
        )


def hours_unit(device: torch.device) -> str:
    return "GPU-hours" if device.type == "cuda" else "CPU-hours"


def print_projection(args, per_method: dict, generation: dict, scoring: dict, device: torch.device) -> None:
    sweep, unit = Sweep(), hours_unit(device)
    fast_key = "fast path (defaults)"
    print(f"\n| projected {unit}, {sweep.subjects}-subject sweep | plain | fast | x plain | of which training (fast) |")
    print("| --- | --- | --- | --- | --- |")
    for method, (plain, fast) in per_method.items():
        plain_h, _ = sweep.hours(plain, generation["plain path"][0], scoring["plain path"][0])
        fast_h, fast_train = sweep.hours(fast, generation[fast_key][0], scoring[fast_key][0])
        print(f"| {method} | {plain_h:.3f} | {fast_h:.3f} | {plain_h / fast_h:.2f} | {fast_train:.3f} |")
    print(sweep.footnote(args.profile))
    wide = next((rate for label, (rate, _) in generation.items() if f"batch {WIDE_BATCH}" in label), None)
    if wide is None:
        return
    # Class images follow `generation.batch_size` too, so the wide rate applies to every sampled image.
    print(f"\n| projected {unit} with generation.batch_size={WIDE_BATCH} | fast | x plain | sampling share |")
    print("| --- | --- | --- | --- |")
    for method, (plain, fast) in per_method.items():
        plain_h, _ = sweep.hours(plain, generation["plain path"][0], scoring["plain path"][0])
        wide_h, wide_train = sweep.hours(fast, wide, scoring[fast_key][0])
        sampling = wide_h - wide_train - sweep.generated / scoring[fast_key][0] / 3600
        print(f"| {method} | {wide_h:.3f} | {plain_h / wide_h:.2f} | {sampling / wide_h:.0%} |")


def print_compile_projection(args, compiled: dict, sampling: dict, scoring: dict, device: torch.device) -> None:
    """The sweep with training and sampling both compiled, against the same sweep on the fast path.

    The fast path's training rate comes from the core part when it ran in this
    invocation; without it that column reads n.a. (sampling's fast rate is always
    measured beside the compiled one).
    """
    sweep, unit = Sweep(), hours_unit(device)
    fast_key, score_rate = "fast path (defaults)", scoring["fast path (defaults)"][0]
    print(
        f"\n| projected {unit}, {sweep.subjects}-subject sweep, torch.compile | fast | fast + compile "
        "| x fast | of which training (compiled) |\n| --- | --- | --- | --- | --- |"
    )
    for method, result in compiled.items():
        compiled_h, compiled_train = sweep.hours(result, sampling["fast + torch.compile"][0], score_rate)
        fast = args.fast_results.get(method)
        fast_h = sweep.hours(fast, sampling[fast_key][0], score_rate)[0] if fast else None
        ratio = f"{fast_h / compiled_h:.2f}" if fast_h else "n.a."
        print(
            f"| {method} | {f'{fast_h:.3f}' if fast_h else 'n.a.'} | {compiled_h:.3f} | {ratio} | "
            f"{compiled_train:.3f} |"
        )
    print(sweep.footnote(args.profile))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser, warmup=3)
    parser.add_argument("--methods", default=SWEEP_METHODS)
    parser.add_argument("--steps", type=int, default=40, help="Training steps measured per variant")
    parser.add_argument("--images", type=int, default=16, help="Images sampled per generation variant")
    parser.add_argument("--score-images", type=int, default=32, help="Images embedded per scoring variant")
    parser.add_argument(
        "--parts",
        help="Comma-separated (default core,speedups): core (plain vs fast per method, frozen text encoder, "
        "sampling, scoring, projection), speedups (each training speed-up off alone), compile (torch.compile "
        "rows; minutes of compiling)",
    )
    parser.add_argument("--compile", action="store_true", help="Add the compile part")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend of the compile part")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode (inductor only)")
    parser.add_argument("--quick", action="store_true", help="The core part only, without the frozen-encoder rows")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    # a smaller last batch would compile (or re-plan) inside the timing
    if args.images % IMAGES_PER_PROMPT:
        parser.error(f"--images must be a multiple of {IMAGES_PER_PROMPT}")
    if args.quick and args.parts:
        parser.error("--quick is the core part alone: give --quick or --parts, not both")
    parts = "core" if args.quick else args.parts or "core,speedups"
    args.parts = {part.strip() for part in parts.split(",") if part.strip()}
    if args.compile:
        args.parts.add("compile")
    if not args.parts or args.parts - set(PARTS):
        parser.error(f"--parts takes a comma-separated subset of {', '.join(PARTS)}")
    if "compile" in args.parts:
        from benchmark.errors import BenchError
        from methods.speedups import check_compile_settings

        try:
            check_compile_settings(args.compile_backend, args.compile_mode, "--")
        except BenchError as exc:
            parser.error(str(exc).replace("--compile_", "--compile-"))

    with tempfile.TemporaryDirectory(prefix="bench-speedups-") as tmp:
        cache_dir = Path(tmp) / "cache"
        bench = TrainingBench.build(args.profile, args.subject, args.device, args.dataset_dir, cache_dir)
        device = bench.context.device
        print(machine_line(device))
        print(
            f"profile: {args.profile} ({weights_label(bench)}), subject: {args.subject}, "
            f"{args.steps} training steps per variant ({args.warmup} warm-up), "
            f"resolution {bench.context.generation.resolution}"
        )
        args.device_type = device.type
        if device.type != "cuda":
            print(f"{' and '.join(CUDA_ONLY)}: CUDA only, no rows for it here")
        per_method, scoring = {}, None
        if "core" in args.parts:
            per_method = core_training_rows(args, cache_dir)
            generation = generation_rates(args, bench)
            print_rates(f"generation ({args.images} images, {bench.context.generation.steps} steps)", generation)
            scoring = scoring_rates(args, device)
            print_rates(f"scoring ({args.score_images} images, DINO + CLIP)", scoring)
            print_projection(args, per_method, generation, scoring, device)
        args.fast_results = {method: fast for method, (_, fast) in per_method.items()}
        # The parent's models go before children train (reloaded if the compile part samples again).
        bench.context.release_generation_copies()
        bench.context.__dict__.pop("base_components", None)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        plains = {method: plain for method, (plain, _) in per_method.items()}

        def plain_for(method: str) -> dict:
            """The method's plain path, measured here (and printed as its own row) unless `core` already did."""
            if method not in plains:
                plains[method] = emit((method, "plain path", measure(args, cache_dir, method, PLAIN_TRAINING), None))
            return plains[method]

        if "speedups" in args.parts:
            speedup_rows(args, cache_dir, plain_for)
        if "compile" in args.parts:
            # training first: it is most of a sweep's hours
            training = compile_rows(args, cache_dir, plain_for)
            sampling = generation_rates(args, bench, compiled=True)
            print_rates(f"generation, torch.compile ({args.images} images, warm-up batch compiles)", sampling)
            # seconds; the projection needs it
            scoring = scoring or scoring_rates(args, device)
            print_compile_projection(args, training, sampling, scoring, device)


if __name__ == "__main__":
    main()
