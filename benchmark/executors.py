"""How cells get executed: in this process, or over a pool of worker processes.

Both build the same `CellRunner` from the same `CellSpec`, so they produce the same
bytes; the pool is how a CPU run uses several cores (each worker pins its thread
count) and how one machine drives several GPUs.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing

from tqdm.auto import tqdm

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
    if spec.device.startswith("cuda"):
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
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(spec, counter)
    ) as pool:
        futures = {pool.submit(_run_in_worker, cell): cell for cell in cells}
        with tqdm(total=len(cells), unit="cell", desc=f"generate ({workers} workers)", disable=not progress) as bar:
            for future in concurrent.futures.as_completed(futures):
                cell = futures[future]
                try:
                    results.append(future.result())
                except concurrent.futures.process.BrokenProcessPool as exc:
                    results.append(CellResult(cell, error=f"worker process died: {exc}"))
                bar.update(1)
    order = {cell: i for i, cell in enumerate(cells)}
    return sorted(results, key=lambda r: order[r.cell])
