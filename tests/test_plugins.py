"""Third-party methods arrive by entry point or --include, and are held to the same rules."""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import pytest

from benchmark.errors import BenchError
from methods import provenance, registry
from tests.conftest import FAKE_METHOD, tiny_run


def plugin_source(class_name: str, name: str, description: str | None = None) -> str:
    """A minimal plug-in file registering one method (without `description` when None)."""
    lines = [
        "from methods import Method, register_method",
        "@register_method",
        f"class {class_name}(Method):",
        f"    name = {name!r}",
    ]
    if description is not None:
        lines.append(f"    description = {description!r}")
    lines += [
        "    def subject_phrase(self, subject):",
        "        return subject.class_noun",
        "    def personalize(self, subject, workdir, scratch):",
        "        return {}",
        "    def generate(self, subject, artifact_dir, prompts, seeds):",
        "        return []",
    ]
    return "\n".join(lines) + "\n"


def test_included_method_runs_through_the_harness(tmp_path, dreambench_dir):
    summary = tiny_run(tmp_path / "run", dreambench_dir, methods=["fake"], include=[str(FAKE_METHOD)])
    assert summary.generated == 8 and not summary.failures
    artifact = tmp_path / "run" / "fake" / "artifacts" / "dog"
    # dog has 5 real images
    assert (artifact / "weights.txt").read_text() == "trained on 5 images\n"
    info = json.loads((artifact / "artifact.json").read_text())
    assert info["subject_phrase"] == "zwx dog" and info["identifier"] == "zwx"
    # The plug-in does not time itself: the harness does, so the report's training column has its cost.
    assert info["train_seconds"] >= 0 and info["device"] == "cpu" and info["hardware"] == "cpu"
    assert not list((tmp_path / "run" / "fake" / "artifacts").glob(".staging-*"))


def test_the_readme_example_method_runs_as_written(tmp_path, dreambench_dir):
    """The README's one-file method is what a newcomer copies first: it must run, not just read well."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    code = readme.split("```python\n# my_method.py\n", 1)[1].split("```", 1)[0]
    plugin = tmp_path / "my_method.py"
    plugin.write_text(code)
    summary = tiny_run(
        tmp_path / "run",
        dreambench_dir,
        methods=["my-method"],
        include=[str(plugin)],
        subjects=["dog"],
        assignments=["options.my-method.steps=800"],
    )
    assert summary.generated == 4 and not summary.failures
    records = (tmp_path / "run" / "my-method[steps=800]" / "generations.jsonl").read_text().splitlines()
    assert {json.loads(line)["subject_phrase"] for line in records} == {"sks dog"}


def test_entry_point_plugins_are_discovered(monkeypatch):
    entry = importlib.metadata.EntryPoint("fake", "bench_include_fake:FakeMethod", registry.ENTRY_POINT_GROUP)
    loaded = []
    monkeypatch.setattr(entry.__class__, "load", lambda self: loaded.append(self.name))
    monkeypatch.setattr(registry, "entry_points", lambda group: [entry] if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_loaded_plugins", False)
    registry.available_methods()
    assert loaded == ["fake"]


def test_broken_plugin_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad_method.py"
    bad.write_text("import does_not_exist_anywhere\n")
    with pytest.raises(BenchError, match="bad_method.py failed to import: ModuleNotFoundError"):
        registry.available_methods([str(bad)])


def test_a_plugin_class_named_like_a_builtin_cannot_take_its_name(tmp_path):
    """Same class name and method name as the built-in: still another class, never a silent replacement."""
    builtin = registry.get_method_class("dreambooth")
    clash = tmp_path / "clash.py"
    clash.write_text(plugin_source("DreamBooth", "dreambooth", "not the real one"))
    with pytest.raises(BenchError, match="two methods are named 'dreambooth'"):
        registry.available_methods([str(clash)])
    assert registry.get_method_class("dreambooth") is builtin
    # the built-in itself again (its module re-imported) stays fine
    registry.register_method(builtin)


def test_one_plugin_file_loaded_under_two_module_names_is_one_method(tmp_path):
    """An installed plug-in (entry point) also given with --include: the same file, so the same method."""
    import importlib.util
    import sys

    plugin = tmp_path / "twice.py"
    plugin.write_text(plugin_source("Twice", "twice", "loaded twice"))
    # as an entry point imports it
    spec = importlib.util.spec_from_file_location("installed_twice", plugin)
    module = importlib.util.module_from_spec(spec)
    sys.modules["installed_twice"] = module
    spec.loader.exec_module(module)
    # no clash: the later import, of the same file
    method = registry.get_method_class("twice", [str(plugin)])
    assert method.__qualname__ == "Twice" and provenance.source_file(method) == plugin.resolve()


def test_plugin_without_description_is_rejected(tmp_path):
    bad = tmp_path / "nameless.py"
    bad.write_text(plugin_source("Nameless", "nameless"))
    with pytest.raises(BenchError, match="needs class attributes `name` and `description`"):
        registry.available_methods([str(bad)])


def test_unknown_option_names_the_known_ones():
    cls = registry.get_method_class("fake", [str(FAKE_METHOD)])
    with pytest.raises(BenchError, match=r"options.fake.sizee: .*no such option; did you mean 'size'\?"):
        registry.resolve_options(cls, {"sizee": 3})
    with pytest.raises(
        BenchError, match=r"options.fake.colour: .*\(it has: fail_on, size, die_once, count_in, sleep, die_on\)"
    ):
        registry.resolve_options(cls, {"colour": 3})
    resolved = registry.resolve_options(cls, {"size": 3})
    assert resolved == {"fail_on": "", "size": 3, "die_once": "", "count_in": "", "sleep": 0.0, "die_on": ""}


BAD_OUTPUTS = """
import numpy as np
from PIL import Image

from methods import Method, register_method


@register_method
class Careless(Method):
    name = "careless"
    description = "test plug-in: returns what a hurried author might"
    default_options = {"mode": "numpy"}

    def subject_phrase(self, subject):
        return f"zwx {subject.class_noun}"

    def personalize(self, subject, workdir, scratch):
        return {}

    def generate(self, subject, artifact_dir, prompts, seeds):
        mode = self.options["mode"]
        if mode == "none":
            return None
        if mode == "numpy":
            return [np.zeros((64, 64, 3), np.uint8) for _ in seeds]
        if mode == "few":
            return [Image.new("RGB", (64, 64))]
        return [Image.new(mode, (64, 64)) for _ in seeds]
"""


@pytest.fixture(scope="module")
def careless_plugin(tmp_path_factory):
    """One file for every case: a method name belongs to one class per process, as for a user."""
    path = tmp_path_factory.mktemp("plugin") / "careless.py"
    path.write_text(BAD_OUTPUTS)
    return path


@pytest.mark.parametrize(
    "mode, message",
    [
        ("numpy", "returned a numpy.ndarray, not a PIL image (numpy: PIL.Image.fromarray(array))"),
        ("none", "returned NoneType, not a list of PIL images"),
        ("few", "returned 1 image for 2 (prompt, seed) pairs"),
        ("L", "returned a mode 'L' image; scorers take RGB: image.convert('RGB')"),
        ("RGBA", "returned a mode 'RGBA' image"),
    ],
)
def test_a_plugin_returning_the_wrong_images_fails_its_cell_with_what_to_change(
    tmp_path, careless_plugin, dreambench_dir, mode, message
):
    plugin = careless_plugin
    summary = tiny_run(
        tmp_path / "run",
        dreambench_dir,
        methods=["careless"],
        include=[str(plugin)],
        subjects=["dog"],
        assignments=[f"options.careless.mode={mode}"],
    )
    (failure,) = summary.failures
    assert failure.error.startswith(f"method 'careless': generate() {message}") and failure.detail is None
    # nothing written from a bad batch
    assert not list((tmp_path / "run").glob("*/images/dog/*.png"))


EDITED_PLUGIN = """
import numpy as np
from PIL import Image

from methods import Method, register_method


@register_method
class Edited(Method):
    name = "edited"
    description = "a plug-in its author keeps editing"

    def subject_phrase(self, subject):
        return f"zwx {subject.class_noun}"

    def personalize(self, subject, workdir, scratch):
        return {}

    def generate(self, subject, artifact_dir, prompts, seeds):
        CALLS.append(len(seeds))
        return [Image.fromarray(np.full((16, 16, 3), SHADE, dtype=np.uint8)) for _ in seeds]


SHADE = 40
CALLS = []
"""


def _import_as_now(plugin: Path) -> None:
    """What a new `bench run` process does: import the plug-in file as it is on disk now."""
    import sys

    stale = [name for name, module in sys.modules.items() if getattr(module, "__file__", None) == str(plugin)]
    for name in stale:
        del sys.modules[name]
    registry.include_file(plugin)


def test_an_edited_plugin_is_refused_in_a_folder_its_old_code_filled(tmp_path, dreambench_dir, own_registry):
    """Images from before and after an edit must never be averaged as one method, even if `version` stayed."""
    plugin = tmp_path / "edited.py"
    plugin.write_text(EDITED_PLUGIN)
    run_dir, small = tmp_path / "run", {"methods": ["edited"], "include": [str(plugin)], "subjects": ["dog"]}
    first = tiny_run(run_dir, dreambench_dir, **small)
    assert first.generated == 4 and not first.failures
    record = json.loads((run_dir / "edited" / "method.json").read_text())
    assert len(record["info"]["plugin_code"]) == 16

    # comments, blank lines and trailing spaces do not change what the code does: the run goes on
    plugin.write_text("# tidied up\n\n" + EDITED_PLUGIN.replace("SHADE = 40", "SHADE = 40  # grey   \n\n"))
    _import_as_now(plugin)
    assert tiny_run(run_dir, dreambench_dir, **small).reused == 4

    plugin.write_text(EDITED_PLUGIN.replace("SHADE = 40", "SHADE = 200"))
    _import_as_now(plugin)
    with pytest.raises(BenchError, match=r"holds outputs of plug-in edited made from other code: .*delete"):
        tiny_run(run_dir, dreambench_dir, **small)
    fresh = tiny_run(tmp_path / "fresh", dreambench_dir, **small)
    # the edited code in a new folder
    assert fresh.generated == 4


def test_a_plugin_folder_recorded_before_code_fingerprints_is_resumed_and_then_guarded(
    tmp_path, dreambench_dir, own_registry, monkeypatch
):
    import benchmark.runner

    plugin = tmp_path / "edited.py"
    plugin.write_text(EDITED_PLUGIN.replace("SHADE = 40", "SHADE = 90"))
    _import_as_now(plugin)
    run_dir, small = tmp_path / "run", {"methods": ["edited"], "include": [str(plugin)], "subjects": ["dog"]}
    # which recorded no fingerprint: its images have keys without
    with monkeypatch.context() as previous_version:
        previous_version.setattr(benchmark.runner, "plugin_code_fingerprint", lambda cls: None)
        tiny_run(run_dir, dreambench_dir, **small)
    path = run_dir / "edited" / "method.json"
    assert "plugin_code" not in json.loads(path.read_text())["info"]
    calls = sys.modules[registry.get_method_class("edited").__module__].CALLS
    before = len(calls)
    again = tiny_run(run_dir, dreambench_dir, **small)
    # its images keep their keys: found done, never drawn again (another key would redraw the same bytes)
    assert again.generated == 0 and again.reused == 4 and len(calls) == before
    assert json.loads(path.read_text())["info"]["plugin_code"] == registry.plugin_code_fingerprint(
        registry.get_method_class("edited")
    )
    # the adopted record (old key, new info) goes on too
    third = tiny_run(run_dir, dreambench_dir, **small)
    assert third.reused == 4 and len(calls) == before
    plugin.write_text(EDITED_PLUGIN.replace("SHADE = 40", "SHADE = 91"))
    _import_as_now(plugin)
    with pytest.raises(BenchError, match="made from other code"):
        tiny_run(run_dir, dreambench_dir, **small)


def test_built_in_methods_record_no_code_fingerprint():
    """Built-ins mark changes with `version`; a fingerprint would change every built-in key and redo every run."""
    assert registry.plugin_code_fingerprint(registry.get_method_class("dreambooth")) is None
    assert registry.plugin_code_fingerprint(registry.get_method_class("fake", [str(FAKE_METHOD)])) is not None


def test_the_code_fingerprint_reads_text_so_every_python_version_agrees():
    """ast.unparse re-quotes f-strings on 3.12: shards on two Python versions would refuse each other."""
    source = "x = 1  # why\n\n\ny = f\"{a['k']} # not a comment\"   \n    # indented comment\n"
    assert registry.source_without_comments(source) == "x = 1\ny = f\"{a['k']} # not a comment\""
