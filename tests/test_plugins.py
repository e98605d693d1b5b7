"""Third-party methods arrive by entry point or --include, and are held to the same rules."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from benchmark.errors import BenchError
from methods import registry
from tests.conftest import FAKE_METHOD, tiny_run


def test_included_method_runs_through_the_harness(tmp_path, dreambench_dir):
    summary = tiny_run(tmp_path / "run", dreambench_dir, methods=["fake"], include=[str(FAKE_METHOD)])
    assert summary.generated == 8 and not summary.failures
    artifact = tmp_path / "run" / "fake" / "artifacts" / "dog"
    assert (artifact / "weights.txt").read_text() == "trained on 5 images\n"  # dog has 5 real images
    assert '"subject_phrase": "zwx dog"' in (artifact / "artifact.json").read_text()
    assert not list((tmp_path / "run" / "fake" / "artifacts").glob(".staging-*"))


def test_the_readme_example_method_runs_as_written(tmp_path, dreambench_dir):
    """The README's one-file method is what a newcomer copies first: it must run, not just read well."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    code = readme.split("```python\n# my_method.py\n", 1)[1].split("```", 1)[0]
    plugin = tmp_path / "my_method.py"
    plugin.write_text(code)
    summary = tiny_run(
        tmp_path / "run", dreambench_dir, methods=["my-method"], include=[str(plugin)], subjects=["dog"],
        assignments=["options.my-method.steps=800"],
    )  # fmt: skip
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


def test_plugin_without_description_is_rejected(tmp_path):
    bad = tmp_path / "nameless.py"
    bad.write_text(
        "from methods import Method, register_method\n"
        "@register_method\n"
        "class Nameless(Method):\n"
        "    name = 'nameless'\n"
    )
    with pytest.raises(BenchError, match="needs class attributes `name` and `description`"):
        registry.available_methods([str(bad)])


def test_unknown_option_names_the_known_ones():
    cls = registry.get_method_class("fake", [str(FAKE_METHOD)])
    with pytest.raises(BenchError, match=r"options.fake.sizee: .*\(it has: fail_on, size, die_once, count_in\)"):
        registry.resolve_options(cls, {"sizee": 3})
    assert registry.resolve_options(cls, {"size": 3}) == {"fail_on": "", "size": 3, "die_once": "", "count_in": ""}
