"""Where a training step's time goes: host work (Python, op dispatch, kernel launches) against GPU busy time.

    python perf/profile_training_step.py --dataset-dir ../shared/dreambench/dataset        # tiny, CPU
    python perf/profile_training_step.py --profile sd15-random --device cuda               # on a GPU, 512 px
    python perf/profile_training_step.py ... --variant plain --trace /tmp/step.json        # + a Chrome trace

Why: on an H200, SD-1.5-sized DreamBooth at 512 px (1 instance + 1 prior image)
trained at 4-7 steps/s whether the speed-ups (bf16 autocast, SDPA, channels-last,
fused AdamW) were on or off. That is what a step bound by the host looks like:
the GPU finishes each kernel before the CPU has launched the next, so making
kernels faster changes nothing. This script answers that in one short run: the
GPU's busy time per step against the step's wall time (well below 1: the host is
the bottleneck), how many ops, kernel launches and host waits a step makes, and
which ops the host time goes to.

One training runs `--warmup` steps (left out), then `--steps` steps timed without
the profiler, one profiler warm-up step, and `--steps` profiled steps. The steps
are marked by wrapping `methods.training.StepLog.record`, which the training loop
calls once per optimizer step; the harness itself is unchanged. The profiler adds
a few microseconds per op, so the profiled wall time is longer than the
unprofiled one: the GPU-busy ratio is taken against the unprofiled steps. Every
figure is per training step.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from unittest import mock

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity

# the sibling scripts, when imported from elsewhere
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_speedups import PLAIN_TRAINING  # noqa: E402
from bench_training import TrainingBench, add_bench_arguments, machine_line, weights_label  # noqa: E402

# the profiler's own annotation of each step: ProfilerStep#7, or ProfilerStep* once merged
STEP_MARKER = "ProfilerStep"
# runtime and driver API names, as CUPTI reports them
LAUNCH_PREFIXES = ("cudaLaunch", "cuLaunch", "cudaGraphLaunch")
# where host time is spent, in the order printed; the last three exist on CUDA only
HOST_CATEGORIES = {
    "op": "PyTorch ops: aten ops, autograd nodes (self time)",
    "annotation": "Python inside record_function blocks (e.g. Optimizer.step)",
    "launch": "kernel-launch calls",
    "wait": "CUDA copies and synchronizes (where the host waits for the GPU)",
    "runtime": "other CUDA runtime calls",
}


@dataclass
class OpRow:
    """One CPU-side event name's totals over the profiled steps, in microseconds."""

    # a key of HOST_CATEGORIES
    category: str
    calls: int = 0
    self_cpu_us: float = 0.0
    # kernels this op launched itself (not its children's)
    gpu_us: float = 0.0


def category(event) -> str:
    if getattr(event, "is_user_annotation", False):
        return "annotation"
    # CUDA runtime (cuda*) and driver (cu*) calls; every PyTorch op is namespaced (aten::, autograd::) or a
    # backward node (ConvolutionBackward0).
    name = event.name
    if not name.startswith("cu"):
        return "op"
    if name.startswith(LAUNCH_PREFIXES):
        return "launch"
    # Copies to the host and synchronizes block until the GPU has drained its queue (e.g. `loss.item()`).
    if name.startswith("cudaMemcpy") or name.endswith("Synchronize"):
        return "wait"
    return "runtime"


# ------------------------------------------------------------------------ measuring
def profiled_training(bench: TrainingBench, args, overrides: dict, workdir: Path):
    """Train once with the profiler scheduled over the last `args.steps` steps.

    Returns (unprofiled step seconds, profiled step seconds, the profiler, the
    `TrainingBench.train` result). Each step is timed from just after one mark to
    just before the next, so the profiler's own start and stop (seconds of trace
    processing) count in no step. The loop reads no loss back per step, so a
    mark is when the host finished issuing a step; at the four marks that open and
    close the two timed windows this waits for the GPU first, which makes each
    window's total (and so the mean step) exact.
    """
    from methods import training as T

    warmup, steps = args.warmup, args.steps
    total = warmup + 2 * steps + 1
    # (before, after) the profiler's step() at the end of each training step
    marks: list[tuple[float, float]] = []
    cuda = bench.context.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    # indices into marks
    window_edges = {warmup - 1, warmup - 1 + steps, total - 1 - steps, total - 1}
    schedule = torch.profiler.schedule(wait=warmup + steps, warmup=1, active=steps, repeat=1)
    record = T.StepLog.record

    with torch.profiler.profile(activities=activities, schedule=schedule) as prof:

        def record_and_mark(log, step, *args):
            record(log, step, *args)
            if cuda and len(marks) in window_edges:
                torch.cuda.synchronize(bench.context.device)
            before = time.perf_counter()
            prof.step()
            marks.append((before, time.perf_counter()))

        with mock.patch.object(T.StepLog, "record", record_and_mark):
            result = bench.train(args.method, {**overrides, "steps": total}, workdir, warmup)
    if len(marks) != total:
        sys.exit(
            f"profile_training_step: {args.method} recorded {len(marks)} steps, not {total}: its loop does not "
            "call methods.training.StepLog.record once per step, so its steps cannot be marked"
        )
    # seconds[k - 1] is step k
    seconds = [marks[k][0] - marks[k - 1][1] for k in range(1, total)]
    unprofiled = seconds[warmup - 1 : warmup - 1 + steps]
    profiled = seconds[total - 1 - steps :]
    return unprofiled, profiled, prof, result


# ------------------------------------------------------------------------ analysing
def op_rows(events) -> tuple[int, dict[str, OpRow], float, int]:
    """Events grouped by name: (step markers seen, CPU-side rows, GPU busy us, GPU activities).

    Grouped here rather than with `key_averages`, which merges a CPU annotation with
    its GPU twin of the same name. An op's GPU time is that of the kernels linked to
    it (`event.kernels`), i.e. its self device time, the same in every torch version.
    """
    recorded, rows, gpu_busy, gpu_activities = 0, {}, 0.0, 0
    for event in events:
        if event.device_type == DeviceType.CPU:
            if event.name.startswith(STEP_MARKER):
                recorded += 1
            elif not event.is_async:
                row = rows.setdefault(event.name, OpRow(category(event)))
                row.calls += 1
                row.self_cpu_us += event.self_cpu_time_total
                # an annotation's linked "kernel" is its own span on the GPU timeline
                if row.category == "op":
                    row.gpu_us += sum(kernel.duration for kernel in event.kernels)
        elif not getattr(event, "is_user_annotation", False):
            # kernels, copies, memsets; not annotation spans
            gpu_busy += event.time_range.elapsed_us()
            gpu_activities += 1
    return recorded, rows, gpu_busy, gpu_activities


def print_report(args, cuda: bool, unprofiled: list[float], profiled: list[float], events) -> None:
    steps, rows, gpu_busy_us, gpu_activities = op_rows(events)
    print(f"profiled steps: {steps} (profiler step markers in the trace; {args.steps} asked)")
    if not steps:
        sys.exit("profile_training_step: the trace holds no profiled step")
    wall, wall_profiled = fmean(unprofiled) * 1e3, fmean(profiled) * 1e3
    host_ms, calls = dict.fromkeys(HOST_CATEGORIES, 0.0), dict.fromkeys(HOST_CATEGORIES, 0.0)
    for row in rows.values():
        host_ms[row.category] += row.self_cpu_us / steps / 1e3
        calls[row.category] += row.calls / steps
    shown = list(HOST_CATEGORIES) if cuda else ["op", "annotation"]
    elsewhere = wall_profiled - sum(host_ms.values())

    print("\n| host time per step | ms | % of profiled wall |")
    print("| --- | --- | --- |")
    print(f"| wall, without the profiler | {wall:.2f} | {wall / wall_profiled:.0%} |")
    print(f"| wall, profiled | {wall_profiled:.2f} | 100% |")
    for key in shown:
        print(f"| {HOST_CATEGORIES[key]} | {host_ms[key]:.2f} | {host_ms[key] / wall_profiled:.0%} |")
    print(
        f"| elsewhere: Python between ops, autograd engine, the profiler | {max(elsewhere, 0.0):.2f} | "
        f"{max(elsewhere, 0.0) / wall_profiled:.0%} |"
    )

    print("\n| counts per step | n |")
    print("| --- | --- |")
    aten_calls = sum(row.calls for name, row in rows.items() if name.startswith("aten::")) / steps
    print(f"| aten op calls (nested included) | {aten_calls:.0f} |")
    if cuda:
        print(f"| kernel-launch calls | {calls['launch']:.0f} |")
        print(f"| GPU kernels, copies and memsets run | {gpu_activities / steps:.0f} |")
        print(f"| CUDA copies and synchronizes | {calls['wait']:.0f} |")
        gpu_busy = gpu_busy_us / steps / 1e3
        print("\n| GPU per step | value |")
        print("| --- | --- |")
        print(f"| busy ms (kernels, copies, memsets) | {gpu_busy:.2f} |")
        print(f"| idle ms (wall without the profiler - busy) | {max(wall - gpu_busy, 0.0):.2f} |")
        print(f"| busy / wall without the profiler | {gpu_busy / wall:.2f} |")
        print(verdict(gpu_busy / wall))
    else:
        print("verdict: none on CPU (the launch-bound question needs --device cuda); the tables show where time goes")

    ranked = sorted(rows.items(), key=lambda item: item[1].self_cpu_us, reverse=True)[: args.top]
    print(
        f"\n| top {len(ranked)} by self CPU time | category | calls | self CPU ms | % of profiled wall |"
        + (" self GPU ms |" if cuda else "")
    )
    print("| --- | --- | --- | --- | --- |" + (" --- |" if cuda else ""))
    for name, row in ranked:
        cpu = row.self_cpu_us / steps / 1e3
        gpu = f" {row.gpu_us / steps / 1e3:.2f} |" if cuda else ""
        print(f"| {name} | {row.category} | {row.calls / steps:.0f} | {cpu:.2f} | {cpu / wall_profiled:.0%} |{gpu}")
    if cuda:
        launching = (item for item in rows.items() if item[1].gpu_us)
        ranked = sorted(launching, key=lambda item: item[1].gpu_us, reverse=True)[: args.top]
        print(f"\n| top {len(ranked)} by GPU time (kernels each op launched itself) | calls | GPU ms | % of GPU busy |")
        print("| --- | --- | --- | --- |")
        for name, row in ranked:
            gpu = row.gpu_us / steps / 1e3
            print(f"| {name} | {row.calls / steps:.0f} | {gpu:.2f} | {gpu / max(gpu_busy, 1e-9):.0%} |")


def verdict(busy_ratio: float) -> str:
    """A GPU busy for most of the step hides the host's work behind its own; an idle one waits for the host."""
    if busy_ratio < 0.5:
        return (
            f"verdict: host-bound (launch/CPU overhead): the GPU is busy {busy_ratio:.0%} of a step and idle "
            "the rest, waiting for Python, dispatch and launches; faster kernels cannot help, fewer launches "
            "(torch.compile, CUDA graphs, a larger batch) can"
        )
    if busy_ratio < 0.8:
        return f"verdict: partly host-bound: the GPU is busy {busy_ratio:.0%} of a step"
    return f"verdict: GPU-bound: the GPU is busy {busy_ratio:.0%} of a step; faster kernels pay off directly"


def split_assignments(args) -> tuple[dict, list[str]]:
    """The method's options (the variant's, then `--set`'s bare keys) and the run-config assignments.

    `--set models.base=DIR` or `--set generation.cpu_threads=2` configure the run as `bench run --set`
    does; a key without a dot is the method's option, as `--set train_text_encoder=false`.
    """
    from benchmark.config import parse_assignment
    from benchmark.errors import BenchError

    overrides = dict(PLAIN_TRAINING) if args.variant == "plain" else {}
    config_assignments = []
    try:
        for text in args.assignments:
            key, value = parse_assignment(text)
            if len(key) == 1:
                overrides[key[0]] = value
            else:
                config_assignments.append(text)
    except BenchError as exc:
        sys.exit(f"profile_training_step: error: {exc}")
    return overrides, config_assignments


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser, warmup=3)
    parser.add_argument("--method", default="dreambooth")
    variants = "fast: the harness's defaults; plain: every speed-up off, as bench_speedups' plain path"
    parser.add_argument("--variant", choices=["fast", "plain"], default="fast", help=variants)
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        help="key=value: a method option (train_text_encoder=false; --steps sets steps) or, dotted, the run's "
        "config as `bench run --set` (models.base=DIR)",
    )
    parser.add_argument("--steps", type=int, default=5, help="Steps profiled (and as many timed without profiler)")
    parser.add_argument("--top", type=int, default=15, help="Rows of each top-ops table")
    parser.add_argument("--trace", type=Path, help="Also write the profiled steps as a Chrome trace (JSON) here")
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    overrides, config_assignments = split_assignments(args)

    with tempfile.TemporaryDirectory(prefix="profile-training-step-") as tmp:
        bench = TrainingBench.build(
            args.profile, args.subject, args.device, args.dataset_dir, Path(tmp) / "cache", config_assignments
        )
        device = bench.context.device
        print(machine_line(device))
        print(
            f"profile: {args.profile} ({weights_label(bench)}), subject: {args.subject}, method: {args.method}, "
            f"variant: {args.variant}{''.join(f', {text}' for text in args.assignments)}"
        )
        unprofiled, profiled, prof, result = profiled_training(bench, args, overrides, Path(tmp) / "work")
        encoder = "trained" if result["text_encoder_trained"] else "frozen"
        print(
            f"training: {args.warmup} warm-up + {args.steps} unprofiled + 1 profiler warm-up + {args.steps} "
            f"profiled steps; text encoder {encoder}{', prior' if result['prior'] else ''}; "
            "steps marked by wrapping methods.training.StepLog.record"
        )
        started = time.perf_counter()
        events = prof.events()
        print_report(args, device.type == "cuda", unprofiled, profiled, events)
        print(f"\n({len(events)} profiler events analysed in {time.perf_counter() - started:.1f} s)")
        if args.trace:
            prof.export_chrome_trace(str(args.trace))
            print(f"Chrome trace of the profiled steps: {args.trace} (chrome://tracing or ui.perfetto.dev)")


if __name__ == "__main__":
    main()
