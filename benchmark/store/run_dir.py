"""The on-disk layout of a run, and the rules that keep it trustworthy.

    RUN/
      run.json              identity, protocol, dataset hash, models, seeds, versions
      config.yaml           the resolved config that created the run
      invocations.jsonl     one line per `bench run` on this directory
      <method>/
        method.json         the method's name, version, options and key
        artifacts/<subject>/artifact.json (+ the trained files)
        images/<subject>/p<prompt>_i<image>.png
        records/<subject>/p<prompt>.json     the records of one (subject, prompt) group
        generations.jsonl   every record of the method, rebuilt after each run

A directory belongs to one run identity forever: a different configuration is
refused instead of mixing or overwriting results. Every file is written atomically
and a group counts as done only when its records file exists and every image it
lists is on disk with the recorded hash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path

import yaml

from benchmark.config import RunConfig, stable_hash
from benchmark.errors import BenchError
from benchmark.store.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from benchmark.store.containment import remove_tree, require_inside

RUN_FILE = "run.json"
# What only a run that had its run.json holds: a folder with these but no run.json has lost it (not a foreign one).
RUN_SIGNS = ("invocations.jsonl", "WARNING-RANDOM-WEIGHTS.txt")
LAYOUT_VERSION = 1


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    # in blocks: a trained UNet is gigabytes
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# in artifact.json: each trained file's SHA-256, taken when it was published
ARTIFACT_HASHES = "file_sha256"


def _differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def _same_but_older_record(before: dict, info: dict, run_options: frozenset[str]) -> bool:
    """A method.json that an earlier version wrote for this very configuration, so its key still holds.

    Earlier versions kept `run_options` (options that do not change outputs) in the options,
    and recorded no `plugin_code` for plug-ins; a plug-in whose source cannot be read now
    (installed without it) cannot be compared either way, and is not refused for that.
    """
    if isinstance(before.get("options"), dict):
        before = {**before, "options": {k: v for k, v in before["options"].items() if k not in run_options}}
    if "plugin_code" not in before or "plugin_code" not in info:
        # recorded before fingerprints, or this code cannot be fingerprinted now (no source to read): unchecked
        before = {k: v for k, v in before.items() if k != "plugin_code"}
        info = {k: v for k, v in info.items() if k != "plugin_code"}
    # recorded before the built-in versions a plug-in is built on were
    if "base_versions" not in before:
        info = {k: v for k, v in info.items() if k != "base_versions"}
    return before == info


def _ours_before_the_run_exists(name: str) -> bool:
    """What a `bench run` (or a shard of one) puts in a folder before or while it creates run.json:
    its locks, the temporary files of run.json and config.yaml (left behind by a killed shard), and
    run.json itself (another shard may have created it since this one looked)."""
    return name.startswith((".lock", f".{RUN_FILE}.", ".config.yaml.")) or name in ("config.yaml", RUN_FILE)


class RunStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    # ---------------------------------------------------------------- run level
    def refuse_foreign_directory(self) -> None:
        """Never write (not even a lock file) into a non-empty folder that is not a run."""
        if (self.root / RUN_FILE).exists() or not self.root.exists():
            return
        if not self.root.is_dir():
            raise BenchError(f"{self.root} exists and is not a directory; choose another --output-dir")
        foreign = sorted(p.name for p in self.root.iterdir() if not _ours_before_the_run_exists(p.name))
        signs = [name for name in foreign if name in RUN_SIGNS] + [
            p.parent.name + "/" + p.name for p in sorted(self.root.glob("*/method.json"))
        ]
        if signs and not (self.root / RUN_FILE).exists():
            raise BenchError(
                f"{self.root} is a bench run directory that has lost its {RUN_FILE} (it holds {', '.join(signs[:2])}): "
                f"without it the run's configuration cannot be checked, so nothing is added; put {RUN_FILE} back "
                "(from a backup), or use another --output-dir"
            )
        # a shard may have made the run (and more) meanwhile
        if foreign and not (self.root / RUN_FILE).exists():
            raise BenchError(
                f"{self.root} is not empty (it holds {foreign[0]}) and is not a bench run directory; "
                "choose another --output-dir"
            )

    def open(self, config: RunConfig, manifest: dict, write: bool = True) -> None:
        """Create the run, or check that an existing one has the same identity (`write=False`: only check).

        Shards of a SLURM array start in the same second: creation is serialised by a lock,
        so one creates the run and the others find it and check it, instead of each seeing
        the other's half-made folder as foreign.
        """
        run_file = self.root / RUN_FILE
        if write and not run_file.exists():
            self.refuse_foreign_directory()
            self.root.mkdir(parents=True, exist_ok=True)
            from filelock import FileLock

            with FileLock(str(self.root / ".lock-create")):
                if not run_file.exists():
                    # run.json first: it makes the folder a run; a crash right after it leaves a resumable run.
                    atomic_write_json(run_file, manifest)
                    atomic_write_text(self.root / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
                    return
        if run_file.exists():
            try:
                existing = json.loads(run_file.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                raise BenchError(f"{run_file} is unreadable; this directory cannot be resumed safely") from None
            if not isinstance(existing, dict):
                raise BenchError(f"{run_file} is not a JSON object; this directory cannot be resumed safely")
            diffs = _differences(existing.get("identity", {}), config.identity())
            if existing.get("protocol") != manifest["protocol"]:
                diffs.append(f"protocol: {existing.get('protocol')} -> {manifest['protocol']}")
            if existing.get("dataset_sha256") != manifest["dataset_sha256"]:
                diffs.append("dataset manifest changed")
            if existing.get("base_weights", manifest.get("base_weights")) != manifest.get("base_weights"):
                # absent on either side: recorded before stamps, or weights that have no files (built-in)
                if "base_weights" in existing and "base_weights" in manifest:
                    diffs.append(
                        f"models.base: the weights at {config.model_sources().get('base')} have changed "
                        "since (other files or bytes)"
                    )
            if existing.get("device_type", manifest["device_type"]) != manifest["device_type"]:
                diffs.append(f"device: {existing['device_type']} -> {manifest['device_type']} (use --device)")
            # absent: recorded before the option
            was_deterministic = existing.get("deterministic_kernels", False)
            if "deterministic_kernels" in manifest and was_deterministic != manifest["deterministic_kernels"]:
                # a run is reproducible only if all of it ran on deterministic kernels
                started = "with" if was_deterministic else "without"
                diffs.append(f"deterministic kernels: it was started {started} --deterministic")
            if diffs:
                raise BenchError(
                    f"{self.root} holds a run with a different configuration ({'; '.join(diffs[:3])}); "
                    "use another --output-dir (results are never overwritten)"
                )
            return
        # a dry run of a run not made yet
        self.refuse_foreign_directory()

    def log_invocation(self, entry: dict) -> None:
        """Appended, not rewritten (shards append side by side); a line a killed process left half-written is
        ended first, so it spoils only itself, never the line after it."""
        path = self.root / "invocations.jsonl"
        with open(path, "a+b") as handle:
            broken = False
            if handle.seek(0, os.SEEK_END) > 0:
                handle.seek(-1, os.SEEK_END)
                broken = handle.read(1) != b"\n"
            line = json.dumps({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **entry}) + "\n"
            handle.write((b"\n" if broken else b"") + line.encode("utf-8"))

    # ------------------------------------------------------------- method level
    def method_dir(self, method: str) -> Path:
        return self.root / method

    def open_method(
        self, method: str, info: dict, run_options: frozenset[str] = frozenset(), write: bool = True
    ) -> str:
        """Record the method's options; refuse to mix outputs of different options. Returns its key.

        `info["options"]` leaves out the method's `run_options`; a folder recorded before
        they left the identity (its options include them) is the same configuration, and
        keeps its recorded key: every finished image's key was derived from it.
        """
        key = stable_hash(info)
        path = self.method_dir(method) / "method.json"
        if path.exists():
            old = read_json_object(path)
            if old is None or not isinstance(old.get("info"), dict) or "key" not in old:
                raise BenchError(
                    f"{path} is unreadable, so {path.parent} cannot be resumed safely; delete {path.parent} to redo "
                    "this method, or use another --output-dir"
                )
            before = old.get("info", {})
            # (the second: a folder that adopted a newer record)
            if old.get("key") == key or before == info:
                return old["key"]
            if _same_but_older_record(before, info, run_options):
                if write and any(part in info and part not in before for part in ("plugin_code", "base_versions")):
                    # from now on an edit of the plug-in (or of the built-in it is built on) is caught; the
                    # finished images keep their key
                    atomic_write_json(path, {"key": old["key"], "info": info})
                return old["key"]
            holds = "holds outputs" if self._holds_outputs(method) else "holds no outputs yet, only the record"
            if before.get("version", info.get("version")) != info.get("version"):
                raise BenchError(
                    f"{path.parent} {holds} of {info.get('name', method)} version {before['version']}; "
                    f"this code is version {info['version']}, whose outputs differ (the method's `version` "
                    "comment says how): use another --output-dir, or install the version that made it"
                )
            if before.get("plugin_code", info.get("plugin_code")) != info.get("plugin_code"):
                raise BenchError(
                    f"{path.parent} {holds} of plug-in {info.get('name', method)} made from other code: its "
                    "file has changed since (comments and blank lines aside), so new images would be averaged with "
                    f"old ones; use another --output-dir, or delete {path.parent} to redo it with this code"
                )
            if before.get("base_versions", info.get("base_versions")) != info.get("base_versions"):
                was = ", ".join(f"{k} {v}" for k, v in sorted((before.get("base_versions") or {}).items()))
                now = ", ".join(f"{k} {v}" for k, v in sorted((info.get("base_versions") or {}).items()))
                raise BenchError(
                    f"{path.parent} {holds} of plug-in {info.get('name', method)} built on {was}; this harness has "
                    f"{now}, whose outputs differ: use another --output-dir, or delete {path.parent} to redo it"
                )
            diffs = _differences(before, info)
            raise BenchError(
                f"{path.parent} was produced with other settings ({'; '.join(diffs[:3])}); use another --output-dir"
            )
        elif write:
            atomic_write_json(path, {"key": key, "info": info})
        return key

    def _holds_outputs(self, method: str) -> bool:
        """Whether a method's folder holds anything a refusal would protect: a trained artifact, a record
        of images, or a checkpoint to resume from (not only its method.json and failures)."""
        folder = self.method_dir(method)
        artifacts = folder / "artifacts"
        trained = artifacts.is_dir() and any(not p.name.startswith(".staging-") for p in artifacts.iterdir())
        return trained or any(
            path.is_file() for part in ("records", "images", "scratch") for path in (folder / part).rglob("*")
        )

    # ------------------------------------------------------------ artifacts
    def artifact_dir(self, method: str, subject: str) -> Path:
        return self.method_dir(method) / "artifacts" / subject

    def artifact_info(self, method: str, subject: str) -> dict | None:
        # An unreadable record (a disk that lost the write) marks no finished artifact: the cell trains again.
        return read_json_object(self.artifact_dir(method, subject) / "artifact.json")

    def staging_dir(self, method: str, subject: str) -> Path:
        path = self.method_dir(method) / "artifacts" / f".staging-{subject}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        require_inside(self.root, path)
        path.mkdir(parents=True)
        return path

    def scratch_dir(self, method: str, subject: str) -> Path:
        """Per-cell working space that survives a killed run (training checkpoints live here)."""
        path = self.method_dir(method) / "scratch" / subject
        require_inside(self.root, path)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def cell_lock(self, method: str, subject: str):
        from filelock import FileLock

        folder = self.method_dir(method) / "artifacts"
        folder.mkdir(parents=True, exist_ok=True)
        return FileLock(str(folder / f".{subject}.lock"))

    def remove_leftovers(self, method: str, subject: str, keep_scratch: bool) -> None:
        """Staging folders of killed trainings (several GB for SD), checkpoints once an artifact exists, and the
        temporary files of image and record writes a SIGKILL interrupted."""
        for staging in (self.method_dir(method) / "artifacts").glob(f".staging-{subject}-*"):
            remove_tree(self.root, staging)
        if not keep_scratch:
            self.remove_scratch(method, subject)
        self.remove_stale_temporaries(method, subject)

    # a live write's temporary file exists for milliseconds; an overlapping run's too
    STALE_AFTER_SECONDS = 600

    def remove_stale_temporaries(self, method: str, subject: str) -> None:
        """`.NAME.XXXX.tmp` siblings that an atomic write of this cell's images or records left when its process
        was killed; only old ones, so a write of an overlapping run in progress is never pulled away."""
        now = time.time()
        for folder in (self.method_dir(method) / "images" / subject, self.method_dir(method) / "records" / subject):
            for leftover in folder.glob(".*.tmp"):
                try:
                    if now - leftover.stat().st_mtime > self.STALE_AFTER_SECONDS:
                        leftover.unlink()
                except FileNotFoundError:
                    pass

    def remove_scratch(self, method: str, subject: str) -> None:
        """A finished cell's checkpoints, and `scratch/` itself once no cell has any (it says work is pending)."""
        scratch = self.method_dir(method) / "scratch"
        remove_tree(self.root, scratch / subject)
        try:
            scratch.rmdir()
        except OSError:
            # another cell's checkpoints are still there, or it is gone already
            pass

    def publish_artifact(self, method: str, subject: str, staging: Path, info: dict) -> dict:
        """Move a finished artifact into place; artifact.json, written last, marks it complete and records each
        file's SHA-256 (`damaged_artifact` checks them before the artifact is used again)."""
        files = sorted(Path(root) / name for root, _, names in os.walk(staging) for name in names)
        hashes = {p.relative_to(staging).as_posix(): sha256_file(p) for p in files if not p.is_symlink()}
        info = {**info, "artifact_id": uuid.uuid4().hex, ARTIFACT_HASHES: hashes}
        atomic_write_json(staging / "artifact.json", info)
        final = self.artifact_dir(method, subject)
        finished = read_json_object(final / "artifact.json")
        # finished meanwhile by an overlapping run: keep that one
        if finished is not None:
            return finished
        # an incomplete leftover (no artifact.json, or an unreadable one): replace it
        if final.exists():
            require_inside(self.root, final)
            shutil.rmtree(final)
        os.replace(staging, final)
        return info

    def damaged_artifact(self, method: str, subject: str, info: dict) -> str | None:
        """What is wrong with a finished artifact's files ('unet/x.safetensors has changed'), or None if each is as
        published. A truncated weights file loads as "Unable to load weights" only once an image is missing,
        and a replaced one would make images from other weights. Artifacts published before hashes were
        recorded cannot be checked and pass."""
        hashes = info.get(ARTIFACT_HASHES)
        if hashes is None:
            return None
        if not isinstance(hashes, dict):
            return f"its artifact.json's {ARTIFACT_HASHES} is not a mapping"
        folder = self.artifact_dir(method, subject)
        for name, digest in sorted(hashes.items()):
            path = folder / name
            if not path.resolve().is_relative_to(folder.resolve()):
                return f"its artifact.json names {name}, outside the artifact"
            if path.is_symlink() or not path.is_file():
                return f"{name} is missing"
            if sha256_file(path) != digest:
                return f"{name} has changed since it was trained (damaged or replaced)"
        return None

    def discard_artifact(self, method: str, subject: str) -> None:
        """A damaged artifact out of the way, renamed at once (a later run sees no half-deleted artifact), then
        removed like a killed training's staging folder."""
        final = self.artifact_dir(method, subject)
        require_inside(self.root, final)
        aside = final.parent / f".staging-{subject}-damaged-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        os.replace(final, aside)
        remove_tree(self.root, aside)

    # ---------------------------------------------------------------- groups
    def image_path(self, method: str, subject: str, prompt_key: int | str, image_index: int) -> Path:
        tag = f"p{prompt_key:02d}" if isinstance(prompt_key, int) else str(prompt_key)
        return self.method_dir(method) / "images" / subject / f"{tag}_i{image_index}.png"

    def group_path(self, method: str, subject: str, prompt_key: int | str) -> Path:
        tag = f"p{prompt_key:02d}" if isinstance(prompt_key, int) else str(prompt_key)
        return self.method_dir(method) / "records" / subject / f"{tag}.json"

    def intact_images(
        self, method: str, subject: str, prompt_key: int | str, group_key: str, planned: list[dict]
    ) -> dict[int, str]:
        """image index -> SHA-256 of the group's images still on disk as its record (under `group_key`) has them.

        A group is sampled again whole when one of its images is missing or broken, or its records do not add
        up; these are the images whose own record is still exactly the planned one (`planned`, see
        `finished_group`) and whose bytes match it, which the new sampling must reproduce byte for byte if the
        method is deterministic. An image recorded twice is not one of them.
        """
        by_index: dict[int, list[dict]] = {}
        for record in self._current_records(method, subject, prompt_key, group_key) or []:
            index = record.get("image_index") if isinstance(record, dict) else None
            if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(planned):
                by_index.setdefault(index, []).append(record)
        intact = {}
        for index, records in by_index.items():
            if len(records) == 1 and _is_planned(records[0], planned[index]):
                image = self.root / records[0]["file"]
                if image.is_file() and sha256_file(image) == records[0]["sha256"]:
                    intact[index] = records[0]["sha256"]
        return intact

    def finished_group(
        self, method: str, subject: str, prompt_key: int | str, group_key: str, planned: list[dict]
    ) -> list[dict] | None:
        """The group's records if it is complete and current, else None (so it is regenerated).

        Checked whole, not record by record: exactly the planned records (`planned`: every field of each
        image's record but its SHA-256, in image order, so each names its own file and seed), each with a
        SHA-256 its image on disk has. Two records naming one image, a record missing, added, or edited
        in any field make the group's images be sampled again: reused as they were, they would change
        scores silently (two records of one image read as a DIV of 0).
        """
        records = self._current_records(method, subject, prompt_key, group_key)
        if not isinstance(records, list) or len(records) != len(planned):
            return None
        if not all(_is_planned(record, expected) for record, expected in zip(records, planned, strict=True)):
            return None
        for record in records:
            image = self.root / record["file"]
            if not image.is_file() or sha256_file(image) != record["sha256"]:
                return None
        return records

    def _current_records(self, method: str, subject: str, prompt_key: int | str, group_key: str) -> list | None:
        """The group's recorded images when its record is readable and made under `group_key`, else None."""
        try:
            payload = json.loads(self.group_path(method, subject, prompt_key).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if not isinstance(payload, dict) or payload.get("group_key") != group_key:
            return None
        records = payload.get("records")
        return records if isinstance(records, list) else None

    def write_image(self, path: Path, png: bytes) -> tuple[str, bool]:
        """Write an image unless an identical one is there; return its SHA-256 and whether it was written."""
        digest = hashlib.sha256(png).hexdigest()
        if path.exists() and sha256_file(path) == digest:
            return digest, False
        atomic_write_bytes(path, png)
        return digest, True

    def write_group(self, method: str, subject: str, prompt_key: int | str, group_key: str, records: list[dict]):
        atomic_write_json(self.group_path(method, subject, prompt_key), {"group_key": group_key, "records": records})

    def all_records(self, method: str) -> list[dict]:
        records = []
        for path in sorted((self.method_dir(method) / "records").glob("*/*.json")):
            try:
                group = json.loads(path.read_text(encoding="utf-8"))["records"]
            except (OSError, json.JSONDecodeError, KeyError, TypeError):
                # an unreadable group is simply not finished; the next run redoes it
                continue
            if isinstance(group, list) and all(isinstance(r, dict) and _ORDER_KEYS <= set(r) for r in group):
                # (an edited one is checked whole, and made again, when its cell runs)
                records.extend(group)
        return records

    def write_generations_jsonl(self, method: str, order: list[str]) -> int:
        rank = {name: i for i, name in enumerate(order)}

        def order_key(r):
            # protocol prompts by number, then the PRES prompt
            prompt = r["prompt_index"]
            prompt_rank = (0, prompt) if isinstance(prompt, int) else (1, 0)
            return rank.get(r["subject"], len(rank)), r["subject"], prompt_rank, r["image_index"]

        records = sorted(self.all_records(method), key=order_key)
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        atomic_write_text(self.method_dir(method) / "generations.jsonl", text)
        return len(records)

    # --------------------------------------------------------------- failures
    def failure_path(self, method: str, subject: str) -> Path:
        return self.method_dir(method) / "failures" / f"{subject}.json"

    def record_failure(self, method: str, subject: str, error: str, detail: str | None = None) -> None:
        record = {"method": method, "subject": subject, "error": error, "detail": detail}
        try:
            atomic_write_json(self.failure_path(method, subject), record)
        except FileNotFoundError:
            # another shard's clear_failure removed the empty folder just after it was made
            atomic_write_json(self.failure_path(method, subject), record)

    def clear_failure(self, method: str, subject: str) -> None:
        path = self.failure_path(method, subject)
        path.unlink(missing_ok=True)
        try:
            # an empty failures/ folder would suggest something had failed
            path.parent.rmdir()
        except OSError:
            # other failures are recorded there, or it is gone already
            pass


_SHA256 = re.compile(r"[0-9a-f]{64}")
# what generations.jsonl is sorted by
_ORDER_KEYS = {"subject", "prompt_index", "image_index"}


def _is_planned(record: object, expected: dict) -> bool:
    """A record that says exactly what the plan does, plus a well-formed SHA-256 of its image."""
    if not isinstance(record, dict) or set(record) != {*expected, "sha256"}:
        return False
    digest = record["sha256"]
    return (
        isinstance(digest, str)
        and _SHA256.fullmatch(digest) is not None
        and all(record[key] == value and type(record[key]) is type(value) for key, value in expected.items())
    )


def read_json_object(path: Path) -> dict | None:
    """A JSON object from a file, or None when the file is missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        # absent, or broken; another OSError (EIO, EACCES) is no verdict
        return None
    return value if isinstance(value, dict) else None


def read_invocations(run_dir: Path) -> list[dict]:
    """invocations.jsonl's readable lines: it is appended by every `bench run` (never rewritten), so a process
    killed while appending may leave half a line, which must not make the whole run unreadable."""
    path = Path(run_dir) / "invocations.jsonl"
    if not path.is_file():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            lines.append(record)
    return lines


def recorded_includes(run_dir: Path) -> list[str]:
    """The plug-in files (`--include`) the run was made with, as its config.yaml records them; [] when unreadable."""
    try:
        config = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []
    return [str(path) for path in (config.get("include") or [])] if isinstance(config, dict) else []
