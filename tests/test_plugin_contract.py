"""What the harness guarantees a plug-in written the obvious way, without knowing the built-ins' tricks.

A researcher's first plug-in draws from torch's global generator, keeps its pipeline between
`generate` calls, returns its loss as a tensor, and may not be deterministic at all. The harness
must keep such a plug-in reproducible where it can, and say so where it cannot.
"""

from __future__ import annotations

import json

import pytest

from benchmark.config import build_config
from benchmark.errors import BenchError
from benchmark.runner import execute_run
from methods import registry
from tests.conftest import image_hashes, tiny_run

OBVIOUS_PLUGIN = """
import os

import numpy as np
import torch
from PIL import Image

from methods import Method, register_method


@register_method
class Obvious(Method):
    name = "obvious"
    description = "test plug-in: written as a newcomer would"
    default_options = {"random_bytes": False}
    _shade = None

    def subject_phrase(self, subject):
        return f"zwx {subject.class_noun}"

    def personalize(self, subject, workdir, scratch):
        weights = torch.randn(8)  # the global generator, as most training code draws
        torch.save(weights, workdir / "weights.pt")
        return {"final_loss": weights.abs().mean()}  # a tensor, as a loss usually is

    def release(self):
        self._shade = None

    def generate(self, subject, artifact_dir, prompts, seeds):
        if self._shade is None:  # kept between calls, as the README advises
            self._shade = int(torch.load(artifact_dir / "weights.pt").abs().sum() * 1000) % 200
        size = self.context.generation.resolution
        images = []
        for _ in seeds:
            if self.options["random_bytes"]:
                noise = np.frombuffer(os.urandom(size * size * 3), np.uint8).reshape(size, size, 3)
            else:
                noise = torch.randint(0, 56, (size, size, 3), dtype=torch.uint8).numpy()  # global draws again
            images.append(Image.fromarray((noise + self._shade).astype(np.uint8)))
        return images
"""


@pytest.fixture(scope="module")
def obvious(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugin") / "obvious.py"
    path.write_text(OBVIOUS_PLUGIN)
    return str(path)


def _dog(run) -> dict[str, str]:
    return {path: digest for path, digest in image_hashes(run).items() if "/dog/" in path}


def test_global_draws_and_a_kept_pipeline_give_a_subject_the_same_bytes_whatever_ran_before(
    tmp_path, dreambench_dir, obvious
):
    alone = tiny_run(tmp_path / "alone", dreambench_dir, methods=["obvious"], include=[obvious], subjects=["dog"])
    # backpack first
    after = tiny_run(tmp_path / "after", dreambench_dir, methods=["obvious"], include=[obvious])
    assert not alone.failures and not after.failures
    weights = [
        (run / "obvious/artifacts/dog/weights.pt").read_bytes() for run in (tmp_path / "alone", tmp_path / "after")
    ]
    # trained alike though backpack's training drew first in one run
    assert weights[0] == weights[1]
    # and sampled with its own weights, not backpack's
    assert _dog(tmp_path / "alone") == _dog(tmp_path / "after")
    backpack = (tmp_path / "after" / "obvious/artifacts/backpack/weights.pt").read_bytes()
    # subjects still draw differently from one another
    assert backpack != weights[0]


def test_a_tensor_in_the_metadata_is_saved_as_its_number_and_the_training_is_kept(tmp_path, dreambench_dir, obvious):
    summary = tiny_run(tmp_path / "run", dreambench_dir, methods=["obvious"], include=[obvious], subjects=["dog"])
    assert not summary.failures
    info = json.loads((tmp_path / "run" / "obvious/artifacts/dog/artifact.json").read_text())
    assert isinstance(info["final_loss"], float) and info["final_loss"] > 0


def test_a_method_that_does_not_repeat_its_bytes_keeps_the_images_there_and_says_so(tmp_path, dreambench_dir, obvious):
    run = tmp_path / "run"
    overrides = {
        "methods": ["obvious"],
        "include": [obvious],
        "subjects": ["dog"],
        "limit_prompts": 1,
        "images_per_prompt": 2,
        "generate_pres": False,
        "score": False,
        "output_dir": str(run),
        "dataset_dir": str(dreambench_dir),
    }
    config = build_config(assignments=["options.obvious.random_bytes=true"], overrides=overrides)
    execute_run(config, progress=False, log=lambda message: None)
    before = image_hashes(run)
    kept, lost = "obvious[random_bytes=True]/images/dog/p00_i0.png", "obvious[random_bytes=True]/images/dog/p00_i1.png"
    (run / lost).unlink()
    lines = []
    execute_run(config, progress=False, log=lines.append)
    after = image_hashes(run)
    # the image already there (maybe scored) is not replaced
    assert after[kept] == before[kept]
    assert lost in after
    warnings = [line for line in lines if line.startswith("bench: warning:")]
    assert len(warnings) == 1 and "gave other bytes for image(s) 0 from the same seeds" in warnings[0]
    records = (run / "obvious[random_bytes=True]" / "generations.jsonl").read_text().splitlines()
    recorded = {json.loads(line)["file"]: json.loads(line)["sha256"] for line in records}
    # the records describe the files on disk
    assert recorded == after


def test_a_plugin_check_raising_value_error_is_a_one_line_error(tmp_path):
    path = tmp_path / "checked.py"
    path.write_text(
        "from methods import Method, register_method\n"
        "@register_method\n"
        "class Checked(Method):\n"
        "    name = 'checked'\n"
        "    description = 'test plug-in: checks its options'\n"
        "    default_options = {'rank': 4}\n"
        "    @classmethod\n"
        "    def check_options(cls, options):\n"
        "        if options['rank'] < 1:\n"
        "            raise ValueError('rank must be at least 1')\n"
        "    def subject_phrase(self, subject):\n"
        "        return subject.class_noun\n"
        "    def personalize(self, subject, workdir, scratch):\n"
        "        return {}\n"
        "    def generate(self, subject, artifact_dir, prompts, seeds):\n"
        "        return []\n"
    )
    cls = registry.get_method_class("checked", [str(path)])
    with pytest.raises(BenchError, match=r"^options.checked: rank must be at least 1$"):
        registry.resolve_options(cls, {"rank": 0})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    name = 'my/method'\n    description = 'x'\n", "method name 'my/method' must be letters, digits"),
        ("    name = 'has[bracket]'\n    description = 'x'\n", "method name 'has[bracket]' must be"),
        (
            "    name = 'no-generate'\n    description = 'x'\n"
            "    def personalize(self, subject, workdir, scratch):\n        return {}\n",
            "method 'no-generate' (Broken) does not define generate(), subject_phrase()",
        ),
    ],
)
def test_a_plugin_the_harness_could_not_run_is_refused_when_it_loads(tmp_path, body, message):
    """A name that is no folder, or a missing generate(), would otherwise fail cell by cell, hours in."""
    path = tmp_path / "broken.py"
    path.write_text("from methods import Method, register_method\n@register_method\nclass Broken(Method):\n" + body)
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        registry.include_file(path)


def test_a_name_clash_names_the_plugin_file_not_an_internal_module(tmp_path):
    clash = tmp_path / "clash.py"
    clash.write_text(
        "from methods import Method, register_method\n@register_method\nclass Other(Method):\n"
        "    name = 'dreambooth'\n    description = 'x'\n"
        "    def subject_phrase(self, subject):\n        return subject.class_noun\n"
        "    def personalize(self, subject, workdir, scratch):\n        return {}\n"
        "    def generate(self, subject, artifact_dir, prompts, seeds):\n        return []\n"
    )
    registry.available_methods()
    with pytest.raises(BenchError) as caught:
        registry.include_file(clash)
    assert str(caught.value) == (
        f"--include {clash}: two methods are named 'dreambooth': the built-in methods.dreambooth and {clash}"
    )


def test_resuming_a_plugin_run_without_its_file_says_which_file(tmp_path, dreambench_dir, obvious):
    run = tmp_path / "run"
    tiny_run(run, dreambench_dir, methods=["obvious"], include=[obvious], subjects=["dog"], limit_prompts=1)
    monkey_registry = dict(registry._REGISTRY)
    try:
        # a new process that was not given --include
        registry._REGISTRY.pop("obvious")
        with pytest.raises(BenchError, match=rf"unknown method 'obvious'.*loaded with --include {obvious}: give it"):
            tiny_run(run, dreambench_dir, methods=["obvious"], subjects=["dog"], limit_prompts=1)
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(monkey_registry)


PRESET_PLUGIN = """
import numpy as np
from PIL import Image

from methods import Method, register_method, register_preset


@register_method
class Shaded(Method):
    name = "shaded"
    description = "test plug-in: noise over a shade"
    default_options = {"shade": 0}

    def subject_phrase(self, subject):
        return f"zwx {subject.class_noun}"

    def personalize(self, subject, workdir, scratch):
        return {}

    def generate(self, subject, artifact_dir, prompts, seeds):
        size = self.context.generation.resolution
        return [Image.fromarray((np.random.default_rng(seed).integers(0, 100, (size, size, 3)) + self.options["shade"])
                                .astype(np.uint8)) for seed in seeds]


register_preset(Shaded, "shaded-bright", "ablation: a brighter shade", shade=120)
"""


@pytest.fixture(scope="module")
def shaded(tmp_path_factory):
    """One file for both tests: a method name belongs to one file per process, as for a user."""
    path = tmp_path_factory.mktemp("plugin") / "shaded.py"
    path.write_text(PRESET_PLUGIN)
    return path


def test_a_plugins_presets_get_an_ablation_table_against_its_defaults(tmp_path, dreambench_dir, shaded):
    from reports.ablations import build_ablations
    from reports.html import write_report
    from reports.loading import load_runs

    plugin = shaded
    scoring = {"include": [str(plugin)], "score": True, "assignments": ["metrics=[dino,clip-t]"]}
    only_preset = tmp_path / "only-preset"
    tiny_run(only_preset, dreambench_dir, methods=["shaded-bright"], **scoring)
    (lacking,) = [r for r in build_ablations(load_runs([only_preset])) if r.ablation.id == "presets-shaded"]
    # the command finds the plug-in
    assert lacking.missing == ["shaded"] and f"--include {plugin}" in lacking.hint

    run = tmp_path / "run"
    tiny_run(run, dreambench_dir, methods=["shaded", "shaded-bright"], **scoring)
    data = load_runs([run])
    (table,) = [r for r in build_ablations(data) if r.ablation.id == "presets-shaded"]
    assert table.available and [arm.method for arm in table.arms] == ["shaded", "shaded-bright"]
    assert table.ablation.metrics == ("dino", "clip-t") and table.source is None
    effect = table.arms[1].delta["dino"]
    # a brighter image is another image
    assert effect["n_subjects"] == 2 and effect["diff"] != 0
    html = write_report(data, tmp_path / "report").index.read_text()
    assert 'id="ablation-table-presets-shaded"' in html and "a method&#39;s own presets" in html


def test_preset_arms_from_two_versions_of_a_plugin_are_flagged_in_their_table(tmp_path, dreambench_dir, shaded):
    """Each folder refuses other code, but a preset run after an edit sits beside its parent from before it."""
    from reports.ablations import build_ablations
    from reports.exports import ablation_markdown
    from reports.loading import load_runs

    scoring = {"include": [str(shaded)], "score": True, "assignments": ["metrics=[dino]"], "subjects": ["dog"]}
    run = tmp_path / "run"
    tiny_run(run, dreambench_dir, methods=["shaded", "shaded-bright"], **scoring)
    (table,) = [r for r in build_ablations(load_runs([run])) if r.ablation.id == "presets-shaded"]
    assert table.other_code == [] and table.code_warning == ""
    method_json = run / "shaded-bright" / "method.json"
    record = json.loads(method_json.read_text())
    # as a run of the edited file records it
    record["info"]["plugin_code"] = "0" * 16
    method_json.write_text(json.dumps(record))
    (table,) = [r for r in build_ablations(load_runs([run])) if r.ablation.id == "presets-shaded"]
    assert table.other_code == ["shaded-bright"]
    assert "shaded-bright came from other code of the plug-in than shaded" in ablation_markdown(table)


def test_a_failure_inside_a_library_is_placed_at_the_plugins_own_line(tmp_path, dreambench_dir):
    """The one line a run prints must lead to the plug-in's code, not to torch's serialization.py."""
    path = tmp_path / "loader.py"
    path.write_text(
        "import torch\nfrom methods import Method, register_method\n@register_method\nclass Loader(Method):\n"
        "    name = 'loader'\n    description = 'test plug-in: loads what is not there'\n"
        "    def subject_phrase(self, subject):\n        return subject.class_noun\n"
        "    def personalize(self, subject, workdir, scratch):\n"
        "        return {'weights': torch.load(workdir / 'missing.pt')}\n"
        "    def generate(self, subject, artifact_dir, prompts, seeds):\n        return []\n"
    )
    summary = tiny_run(tmp_path / "run", dreambench_dir, methods=["loader"], include=[str(path)], subjects=["dog"])
    (failure,) = summary.failures
    assert failure.error.startswith("FileNotFoundError") and failure.error.endswith("(at loader.py:10 in personalize)")
    # the whole traceback stays in the failure record
    assert "serialization.py" in failure.detail
