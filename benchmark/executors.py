"""How cells get executed: in this process, over a pool of worker processes, or on Ray.

All build the same `CellRunner` from the same `CellSpec`, so they produce the same
bytes; the pool is how a CPU run uses several cores (each worker pins its thread
count) and how one machine drives several GPUs; Ray spreads cells over a cluster's
GPUs, one long-lived worker per GPU, and reruns a cell whose worker died.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import multiprocessing
import os
import time

from tqdm.auto import tqdm

from benchmark.errors import BenchError, StorageFailure
from benchmark.generation import CellResult, CellRunner, CellSpec
from benchmark.planning import Cell

_worker_runner: CellRunner | None = None


def usable_cores() -> int:
    """The cores this process may run on (a job's CPU allocation, not the whole node's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def resolve_executor(config, device, cells: int):
    """The config with `executor: auto` and `workers: null` made concrete for this machine and job.

    On a CPU, auto is the process executor with one worker per usable core, never more workers than cells (each
    worker pays its start-up and model loading): every worker pins its torch threads, so the bytes are those of the
    local executor. On a GPU, auto runs here, one cell at a time, unless workers asks for more processes.
    """
    import dataclasses

    executor, workers = config.executor, config.workers
    if executor == "auto":
        if workers is None:
            workers = min(usable_cores(), cells) if device.type == "cpu" else 1
        executor = "process" if workers > 1 else "local"
    return dataclasses.replace(config, executor=executor, workers=max(1, workers or 1))


def _ignore(result: CellResult) -> None:
    return None


def run_local(
    spec: CellSpec, cells: list[Cell], total_groups: int, progress: bool, on_cell=_ignore
) -> list[CellResult]:
    """Every executor calls `on_cell(result)` as each cell finishes, in finishing order.

    The cells run in this very process, and pin its CPU threads and switch its kernels for
    their bytes; both are put back afterwards, so that what this process does next (scoring)
    runs as it would after any other executor, or in `bench score`.
    """
    import torch

    from benchmark import determinism
    from benchmark import progress as cell_progress

    threads, kernels = torch.get_num_threads(), determinism.current_state()
    # under the run's own bar
    cell_progress.configure(spec.progress, position=1)
    runner = CellRunner(spec)
    results = []
    try:
        with tqdm(total=total_groups, unit="prompt", desc="generate", disable=not progress) as bar:
            for cell in cells:
                bar.set_postfix_str(f"{cell.method}/{cell.subject}")
                results.append(runner.run_cell(cell, on_group=lambda: bar.update(1)))
                on_cell(results[-1])
    finally:
        torch.set_num_threads(threads)
        determinism.restore(kernels)
        # what this process runs next shows no cell bars of its own
        cell_progress.configure(False)
    return results


def _exit_with_parent() -> None:
    """End this worker when the `bench run` that started it is gone (SIGKILL, a scheduler's SIGTERM).

    Without it, a killed parent leaves its workers generating on (holding a GPU) next to the
    re-run that resumes the same cells. Linux delivers SIGKILL on the parent's death at once; on
    every system a thread waits on the parent process's sentinel (the portable way: Windows
    never re-parents an orphan, so its parent id alone would not tell).
    """
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            # PR_SET_PDEATHSIG
            libc.prctl(1, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        # returns when the parent has exited, however it ended
        parent.join()
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_worker(spec: CellSpec, device_index: list, started_dir: str, workers: int = 1) -> None:
    global _worker_runner, _started_dir
    import signal

    from benchmark import progress as cell_progress

    _exit_with_parent()
    _started_dir = started_dir
    # Ctrl-C is the parent's to handle: it stops the pool
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with device_index.get_lock():
        slot = device_index.value
        device_index.value += 1
    # a line per worker under the bar
    cell_progress.configure(spec.progress, position=1 + slot % max(1, workers))
    # one GPU per worker; an explicit cuda:N is kept as the user asked
    if spec.device == "cuda":
        import torch

        spec.device = f"cuda:{slot % max(1, torch.cuda.device_count())}"
    _worker_runner = CellRunner(spec)


_started_dir: str | None = None


def _run_in_worker(number: int, cell: Cell) -> CellResult:
    """Runs cell `number`, first leaving a mark that it started: if this worker dies, only this cell is charged."""
    if _started_dir:
        with open(os.path.join(_started_dir, str(number)), "w") as mark:
            mark.write(str(os.getpid()))
    return _worker_runner.run_cell(cell)


# as on Ray: a cell whose pool lost a worker is rerun this many times, then recorded as failed
PROCESS_RETRIES = 2


def run_processes(
    spec: CellSpec, cells: list[Cell], workers: int, progress: bool, on_cell=_ignore, log=_ignore
) -> list[CellResult]:
    """Cells over a pool of spawned workers; a worker that dies (OOM kill, a crash) costs a restart, not the run.

    A dead worker breaks the whole pool, and every cell not finished in it fails with it. Only
    the cell that was running in the worker that died is charged an attempt (each cell marks its
    start and its worker in a folder; the pool stops the other workers with SIGTERM, so the dead
    one is the one that ended otherwise); the others go to the fresh pool free. A cell is rerun at most
    PROCESS_RETRIES times (one that kills its worker every time ends up failed, and no other
    cell with it); cells resume from what a lost attempt wrote (images, training checkpoints).
    """
    import tempfile

    context = multiprocessing.get_context("spawn")
    counter = context.Value("i", 0)
    results: list[CellResult] = []
    attempts = dict.fromkeys(cells, 0)
    pending = list(cells)
    with (
        tempfile.TemporaryDirectory(prefix="bench-started-") as started_dir,
        tqdm(total=len(cells), unit="cell", desc=f"generate ({workers} workers)", disable=not progress) as bar,
    ):
        while pending:
            retry = []
            for mark in os.listdir(started_dir):
                os.unlink(os.path.join(started_dir, mark))
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=min(workers, len(pending)),
                mp_context=context,
                initializer=_init_worker,
                initargs=(spec, counter, started_dir, workers),
            )
            # filled as workers start; read after a break for their exit codes
            processes = pool._processes
            try:
                futures = {
                    pool.submit(_run_in_worker, number, cell): (number, cell) for number, cell in enumerate(pending)
                }
                for future in concurrent.futures.as_completed(futures):
                    number, cell = futures[future]
                    try:
                        result = future.result()
                    except concurrent.futures.process.BrokenProcessPool as exc:
                        charged = _ran_in_a_dead_worker(started_dir, number, processes)
                        attempts[cell] += charged
                        if attempts[cell] <= PROCESS_RETRIES:
                            retry.append(cell)
                            # said, so a log shows why a cell took twice as long
                            if charged:
                                log(
                                    f"bench: {cell.method}/{cell.subject}: its worker process died; retrying "
                                    f"(attempt {attempts[cell] + 1} of {PROCESS_RETRIES + 1})"
                                )
                            continue
                        result = CellResult(cell, error=f"worker process died ({attempts[cell]} times): {exc}")
                    results.append(result)
                    on_cell(result)
                    bar.update(1)
            except BaseException:
                # Ctrl-C or an error: stop now instead of waiting for every queued cell (hours of training).
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.terminate()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
            # in plan order
            pending = [cell for cell in cells if cell in retry]
    order = {cell: i for i, cell in enumerate(cells)}
    return sorted(results, key=lambda r: order[r.cell])


def check_ray_address(address: str | None, timeout: float = 3.0) -> None:
    """A `host:port` (or `ray://host:port`) cluster address that nothing answers on is one line before any work,
    not Ray's 20 seconds of retries and log lines after the run directory was made. `auto` and a
    missing address are left to Ray, which finds a local cluster its own way."""
    import socket

    if not address or address == "auto":
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        # not host:port: Ray decides what it means
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BenchError(
            f"cannot reach the Ray cluster at {address}: {reason} (is the head node up? `ray status` on it says)"
        ) from None


def _ray_failure(ray, exc: Exception) -> str:
    """One line for a cell Ray gave up on (its own message is a multi-line dump of the actor and the node)."""
    # Ray's whole account is kept in the failure record
    if isinstance(exc, ray.exceptions.RayActorError):
        return f"Ray worker process died ({RAY_RETRIES + 1} times, or its start failed)"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"Ray worker failed: {type(exc).__name__}: {lines[0] if lines else 'no message'}"


def _ran_in_a_dead_worker(started_dir: str, number: int, processes: dict) -> bool:
    """Whether cell `number` had started in a worker that died, rather than being queued or stopped by the pool."""
    try:
        with open(os.path.join(started_dir, str(number))) as mark:
            pid = int(mark.read() or 0)
    except (OSError, ValueError):
        # never started: it was only queued
        return False
    for process in list((processes or {}).values()):
        # the pool is stopping them; their exit codes say who died and who was stopped
        process.join(timeout=5)
    import signal

    stopped = {p.pid for p in (processes or {}).values() if p.exitcode in (0, -signal.SIGTERM)}
    dead = {p.pid for p in (processes or {}).values() if p.exitcode is not None} - stopped
    # no worker known dead: charge every started cell, as the safe side
    return pid in dead or not dead


@contextlib.contextmanager
def _quiet_local_token_notice():
    """Ray warns that the local instance it starts for us has token authentication on, and how to turn it off:
    a secure default that needs nothing from the user, so the notice is only noise in a run's log. Connecting
    to a cluster keeps every Ray warning (one without authentication is worth hearing about)."""
    notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
    level = notice.level
    notice.setLevel(logging.ERROR)
    try:
        yield
    finally:
        notice.setLevel(level)


# a worker process that dies (OOM kill, preemption) is restarted and its cell rerun this many times
RAY_RETRIES = 2


class RayCellWorker:
    """A Ray actor holding one `CellRunner` for all the cells it is given.

    Not a task per cell: Ray starts a fresh process for every GPU task, so each
    cell would load the base model (and pay any torch.compile) again. An actor
    keeps its GPU and its runner, as a local process does; when its process dies,
    Ray restarts it (a clean runner) and reruns the cell it was running.
    """

    def __init__(self, spec: CellSpec):
        import ray
        import torch

        if spec.device.startswith("cuda"):
            # Ray assigned this actor its GPU
            spec.device = "cuda" if torch.cuda.is_available() else spec.device
        self.runner = CellRunner(spec)
        # Ray restarts a dead actor and reruns the cell it was running first; the driver never hears of it, so
        # the rerun cell says so (the process executor logs its retries too).
        self.restarted = bool(ray.get_runtime_context().was_current_actor_reconstructed)

    def run(self, cell: Cell) -> CellResult:
        result = self.runner.run_cell(cell)
        if self.restarted:
            self.restarted = False
            result.notes.append(
                f"{cell.method}/{cell.subject}: its Ray worker process died and Ray restarted it (at most "
                f"{RAY_RETRIES} times per worker); the cell ran again on the new one"
            )
        return result


def ray_worker_count(ray, workers: int, gpus_each: int, address: str | None) -> int:
    """`workers` on a local instance; on a cluster, one actor per GPU it has (or `workers` on CPU)."""
    if address and gpus_each:
        return max(1, int(ray.cluster_resources().get("GPU", 0)))
    return workers


def run_ray(
    spec: CellSpec,
    cells: list[Cell],
    workers: int,
    address: str | None,
    progress: bool,
    on_cell=_ignore,
    on_workers=_ignore,
) -> list[CellResult]:
    """Cells over Ray actors: one per GPU on a GPU cluster, `workers` of them on a local CPU instance.

    `on_workers(n)` hears how many actors run side by side (a cluster's GPU count, not `workers`), which the
    batch log's time-left estimate divides the work by.
    """
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs Ray: pip install 'dreambench-harness[ray]'") from None
    # `ray job submit` passes the cluster this way
    address = address or os.environ.get("RAY_ADDRESS") or None
    started_here = not ray.is_initialized()
    if started_here:
        import signal

        on_sigterm = signal.getsignal(signal.SIGTERM)
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                with _quiet_local_token_notice():
                    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            what = f"connect to the Ray cluster at {address}" if address else "start a local Ray instance"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BenchError(f"cannot {what}: {first}") from None
        finally:
            # ray.init installs its own SIGTERM handler (a bare exit): keep ours, which says what happened
            signal.signal(signal.SIGTERM, on_sigterm)
    gpus = 1 if spec.device.startswith("cuda") else 0
    actor_class = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=RAY_RETRIES, max_task_retries=RAY_RETRIES)(
        RayCellWorker
    )
    # small plain data: by value (an object-store argument makes Ray warn on every restartable actor)
    spec_ref = spec
    queue = list(cells)
    # object ref -> (actor, cell)
    pending: dict = {}

    def give(actor) -> None:
        cell = queue.pop(0)
        pending[actor.run.remote(cell)] = (actor, cell, time.monotonic())

    results: list[CellResult] = []
    try:
        count = ray_worker_count(ray, workers, gpus, address)
        on_workers(count)
        for _ in range(min(len(queue), count)):
            give(actor_class.remote(spec_ref))
        with tqdm(
            total=len(cells), unit="cell", desc=f"generate (ray, {workers} workers)", disable=not progress
        ) as bar:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                actor, cell, started = pending.pop(done[0])
                try:
                    results.append(ray.get(done[0]))
                except Exception as exc:
                    # retries exhausted: record the cell as failed, keep the others
                    if isinstance(getattr(exc, "cause", None), StorageFailure):
                        # a full disk stops the run here as on any executor
                        raise exc.cause from None
                    results.append(
                        CellResult(
                            cell, error=_ray_failure(ray, exc), detail=str(exc), seconds=time.monotonic() - started
                        )
                    )
                    if isinstance(exc, ray.exceptions.RayActorError):
                        # out of restarts: a new one for the other cells
                        actor = actor_class.remote(spec_ref)
                on_cell(results[-1])
                bar.update(1)
                if queue:
                    give(actor)
    finally:
        if started_here:
            ray.shutdown()
    order = {cell: i for i, cell in enumerate(cells)}
    return sorted(results, key=lambda r: order[r.cell])
