"""`bench run --dry-run`: what a command would do, checked as the real run checks it, writing nothing.

Why: a sweep is queued as many cluster jobs that start hours later; a typo, a
missing weight or a run directory that refuses the configuration should fail on
the login node in seconds, and a user resuming a killed sweep wants to see what
is left before spending GPU time on it. The same checks as `bench run`
(`prepare_run` and the run directory's read-only comparison) run here, so a dry
run that passes means the real one starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.config import RunConfig
from benchmark.runner import PreparedRun, images_on_disk, prepare_run, run_warnings
from benchmark.store.run_dir import RUN_FILE, RunStore


@dataclass
class CellPlan:
    method: str
    subject: str
    # an artifact is on disk: no training needed
    personalized: bool
    # images this configuration asks of the cell
    planned: int
    # of those, images recorded and present (kept if still current when the run checks them)
    on_disk: int


@dataclass
class RunPlan:
    run_dir: Path
    exists: bool
    device: str
    meaningful: bool
    shard: str | None
    cells: list[CellPlan] = field(default_factory=list)
    # subject of these cells -> why its images cannot be used
    unusable: dict[str, str] = field(default_factory=dict)
    # other warnings the real run gives before its first cell
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """Per method: subjects, personalized, images planned, on disk, left to generate."""
        lines = [
            "| method | cells | personalized | images planned | on disk | to generate |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for method in dict.fromkeys(cell.method for cell in self.cells):
            mine = [cell for cell in self.cells if cell.method == method]
            planned, on_disk = sum(c.planned for c in mine), sum(c.on_disk for c in mine)
            done, cells = sum(c.personalized for c in mine), len(mine)
            lines.append(f"| {method} | {cells} | {done}/{cells} | {planned} | {on_disk} | {planned - on_disk} |")
        return "\n".join(lines)

    def summary(self) -> str:
        where = "exists, its configuration matches" if self.exists else "would be created"
        shard = f", shard {self.shard}" if self.shard else ""
        doable = [c for c in self.cells if c.subject not in self.unusable or c.on_disk == c.planned]
        planned = sum(c.planned for c in doable)
        left = planned - sum(c.on_disk for c in doable)
        weights = "" if self.meaningful else "; random weights (numbers NOT meaningful)"
        failing = len(self.cells) - len(doable)
        fail = f"; {failing} of them would fail at once (damaged dataset images, see above)" if failing else ""
        return (
            f"dry run: {len(self.cells)} cells{shard} on {self.device}{weights}{fail}; {left} of {planned} images "
            f"left to generate; run directory {self.run_dir} {where}. Nothing was written."
        )

    def warnings(self) -> list[str]:
        """What the real run would warn of before its first cell."""
        failing = [
            f"{why}: {name}'s unfinished cells would fail (finished ones are kept), the other subjects run"
            for name, why in self.unusable.items()
        ]
        return [*self.notes, *failing]


def plan_run(config: RunConfig) -> RunPlan:
    """The checks of `bench run` and the work left, without creating, locking or writing anything."""
    prepared = prepare_run(config, device_must_exist=False)
    store = prepared.store
    store.refuse_foreign_directory()
    exists = (prepared.run_dir / RUN_FILE).exists()
    device_note = ""
    if config.device == "auto" and prepared.device.type == "cpu":
        # `auto` here (a login node) is not `auto` on the GPU node that will run the jobs: a run started on a
        # GPU is planned for one; a new run says what auto means where.
        started_on = _recorded_device(prepared.run_dir) if exists else None
        if started_on and started_on != "cpu":
            import torch

            prepared.device = torch.device(started_on)
            device_note = f" (auto: the run was started on {started_on})"
        else:
            device_note = " (auto: cpu on this machine, cuda on a GPU node)"
    store.open(config, prepared.manifest(), write=False)
    for label in prepared.labels:
        store.open_method(label, *prepared.method_record(label), write=False)
    device = f"{prepared.device}{device_note}"
    plan = RunPlan(prepared.run_dir, exists, device, prepared.profile.meaningful, config.shard)
    plan.notes = run_warnings(prepared)
    plan.cells = [_cell_plan(prepared, store, cell) for cell in prepared.cells()]
    in_plan = {cell.subject for cell in plan.cells}
    plan.unusable = {subject: why for subject, why in prepared.unusable.items() if subject in in_plan}
    return plan


def _recorded_device(run_dir: Path) -> str | None:
    try:
        return json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8")).get("device_type")
    except (OSError, ValueError):
        # unreadable: `store.open` says so
        return None


def _cell_plan(prepared: PreparedRun, store: RunStore, cell) -> CellPlan:
    planned, on_disk = images_on_disk(prepared, store, cell)
    personalized = store.artifact_info(cell.method, cell.subject) is not None
    return CellPlan(cell.method, cell.subject, personalized, planned, on_disk)
