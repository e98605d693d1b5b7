"""How cells get executed: in this process, over a pool of worker processes, or on Ray.

All build the same `CellRunner` from the same `CellSpec`, so they produce the same
bytes; the pool is how a CPU run uses several cores (each worker pins its thread
count) and how one machine drives several GPUs; Ray spreads cells over a cluster,
one GPU each, and reruns a cell whose worker died.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing

from tqdm.auto import tqdm

from benchmark.errors import DiskFull
from benchmark.generation import CellResult, CellRunner, CellSpec
from benchmark.planning import Cell

_worker_runner: CellRunner | None = None


def run_local(spec: CellSpec, cells: list[Cell], total_groups: int, progress: bool) -> list[CellResult]:
    runner = CellRunner(spec)
    results = []
    with tqdm(total=total_groups, unit="prompt", desc="generate", disable=not progress) as bar:
        for cell in cells:
            bar.set_postfix_str(f"{cell.method}/{cell.subject}")
            results.append(runner.run_cell(cell, on_group=lambda: bar.update(1)))
    return results


def _init_worker(spec: CellSpec, device_index: list) -> None:
    global _worker_runner
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the pool
    if spec.device == "cuda":  # one GPU per worker; an explicit cuda:N is kept as the user asked
        with device_index.get_lock():
            slot = device_index.value
            device_index.value += 1
        import torch

        spec.device = f"cuda:{slot % max(1, torch.cuda.device_count())}"
    _worker_runner = CellRunner(spec)


def _run_in_worker(cell: Cell) -> CellResult:
    return _worker_runner.run_cell(cell)


def run_processes(spec: CellSpec, cells: list[Cell], workers: int, progress: bool) -> list[CellResult]:
    context = multiprocessing.get_context("spawn")
    counter = context.Value("i", 0)
    results: list[CellResult] = []
    pool = concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(spec, counter)
    )
    try:
        futures = {pool.submit(_run_in_worker, cell): cell for cell in cells}
        with tqdm(total=len(cells), unit="cell", desc=f"generate ({workers} workers)", disable=not progress) as bar:
            for future in concurrent.futures.as_completed(futures):
                cell = futures[future]
                try:
                    results.append(future.result())
                except concurrent.futures.process.BrokenProcessPool as exc:
                    results.append(CellResult(cell, error=f"worker process died: {exc}"))
                bar.update(1)
    except BaseException:
        # Ctrl-C or an error: stop now instead of waiting for every queued cell (hours of training).
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    order = {cell: i for i, cell in enumerate(cells)}
    return sorted(results, key=lambda r: order[r.cell])


RAY_RETRIES = 2  # a cell whose worker process dies (OOM kill, preemption) is rerun this many times


_ray_runner: CellRunner | None = None  # per Ray worker process


def _run_cell_on_ray(spec: CellSpec, cell: Cell) -> CellResult:
    """One Ray task per cell, on a runner the worker process keeps between its tasks.

    Ray reuses worker processes, and so does this: the base model a worker loaded
    (and any torch.compile it paid for) serves its next cells, as in one local
    process, instead of seconds to minutes per cell. A retry after a worker died
    runs in a new process, so it still starts clean.
    """
    global _ray_runner
    import torch

    if spec.device.startswith("cuda"):
        spec.device = "cuda" if torch.cuda.is_available() else spec.device  # Ray assigned this task its GPU
    if _ray_runner is None or _ray_runner.spec != spec:
        _ray_runner = CellRunner(spec)
    return _ray_runner.run_cell(cell)


def run_ray(spec: CellSpec, cells: list[Cell], workers: int, address: str | None, progress: bool) -> list[CellResult]:
    """Cells as Ray tasks: one GPU each on a GPU cluster, `workers` at a time on a local CPU instance."""
    try:
        import ray
    except ImportError:
        from benchmark.errors import BenchError

        raise BenchError("--executor ray needs Ray: pip install 'dreambench-harness[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    gpus = 1 if spec.device.startswith("cuda") else 0
    task = ray.remote(num_cpus=1, num_gpus=gpus, max_retries=RAY_RETRIES)(_run_cell_on_ray)
    spec_ref = ray.put(spec)
    pending = {task.remote(spec_ref, cell): cell for cell in cells}
    results: list[CellResult] = []
    try:
        with tqdm(
            total=len(cells), unit="cell", desc=f"generate (ray, {workers} workers)", disable=not progress
        ) as bar:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                cell = pending.pop(done[0])
                try:
                    results.append(ray.get(done[0]))
                except Exception as exc:  # retries exhausted: record the cell as failed, keep the others
                    if isinstance(getattr(exc, "cause", None), DiskFull):
                        raise exc.cause from None  # a full disk stops the run here as on any executor
                    results.append(CellResult(cell, error=f"Ray worker failed: {type(exc).__name__}: {exc}"))
                bar.update(1)
    finally:
        if started_here:
            ray.shutdown()
    order = {cell: i for i, cell in enumerate(cells)}
    return sorted(results, key=lambda r: order[r.cell])
