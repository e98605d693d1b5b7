"""A plug-in author's mistakes are caught where they are made, in one line, never as wrong numbers.

Each case here is one a researcher writing a first plug-in made: an option set to null, a typo in
`profile_options`, a bug inside `check_options`, a method class left unregistered, a phrase of
None, a `generate` that ignores its seeds, an installed plug-in that no longer imports.
"""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from benchmark.errors import BenchError
from benchmark.store.run_dir import RunStore
from methods import registry
from tests.conftest import tiny_run
from tests.plugin_files import HOOKS, registered_plugin


def test_null_is_refused_unless_the_option_takes_it():
    """`steps=null` used to pass the type check and fail minutes into training; `prior_preservation=null`
    trained without the prior under a label no ablation table looks for."""
    dreambooth = registry.get_method_class("dreambooth")
    for key, default in (("steps", 800), ("prior_preservation", True)):
        with pytest.raises(
            BenchError, match=rf"^options.dreambooth.{key} cannot be null \(its default is {default}\)$"
        ):
            registry.resolve_options(dreambooth, {key: None})
    # no clipping
    assert registry.resolve_options(dreambooth, {"max_grad_norm": None})["max_grad_norm"] is None
    # a null default
    assert registry.resolve_options(dreambooth, {"min_snr_gamma": None})["min_snr_gamma"] is None


def test_an_int_for_a_float_option_is_that_float_in_the_options_and_the_label():
    dreambooth = registry.get_method_class("dreambooth")
    as_int = registry.resolve_options(dreambooth, {"prior_loss_weight": 2})["prior_loss_weight"]
    assert as_int == 2.0 and isinstance(as_int, float)
    # a folder an earlier version filed under the int spelling is resumed, not trained again
    assert registry.earlier_labels(dreambooth, {"prior_loss_weight": 2}) == ["dreambooth[prior_loss_weight=2]"]


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (
            "    default_options = {'steps': 4}\n    profile_options = {'tiny': {'stepz': 2}}\n",
            "profile_options['tiny'] names 'stepz', which is not in default_options",
        ),
        (
            "    default_options = {'steps': 4}\n    profile_options = {'tiny': {'steps': 'two'}}\n",
            "profile_options['tiny']: options.typo.steps must be int like its default 4, got 'two'",
        ),
        (
            "    default_options = {'steps': 4}\n    option_help = {'step': 'optimizer steps'}\n",
            "option_help names 'step', which is not in default_options",
        ),
        (
            "    default_options = {'steps': 4}\n    run_options = frozenset({'checkpoint'})\n",
            "run_options names 'checkpoint', which is not in default_options",
        ),
        (
            "    import pathlib\n    default_options = {'where': pathlib.Path('/tmp')}\n",
            "default_options['where'] = PosixPath('/tmp') is not a plain JSON value",
        ),
        ("    default_options = {'size': (32, 32)}\n", "default_options['size'] is a tuple; use a list"),
        ("    default_options = {'scale': float('nan')}\n", "default_options['scale'] = nan is not a plain JSON value"),
    ],
)
def test_option_tables_that_could_only_go_wrong_later_are_refused_when_the_file_loads(
    tmp_path, own_registry, attributes, message
):
    """A typo in `profile_options` was recorded and silently not applied; a Path default failed a run after
    its folder was made; a tuple default could never be set, since YAML gives lists."""
    path = registered_plugin(tmp_path, "typo", attributes)
    with pytest.raises(BenchError) as caught:
        registry.include_file(path)
    assert str(caught.value).startswith(f"--include {path.resolve()} failed to import: TypeError: method 'typo': ")
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_bug_inside_check_options_is_one_line_that_says_where(tmp_path, own_registry):
    path = registered_plugin(
        tmp_path,
        "checks",
        "    default_options = {'mode': 'a'}\n    @classmethod\n    def check_options(cls, options):\n"
        "        return options['nonexistent']\n",
    )
    cls = registry.get_method_class("checks", [str(path)])
    with pytest.raises(BenchError) as caught:
        registry.resolve_options(cls, {"mode": "b"})
    line = path.read_text().splitlines().index("        return options['nonexistent']") + 1
    assert (
        str(caught.value) == f"options.checks: Plugin.check_options failed: KeyError: 'nonexistent' (checks.py:{line})"
    )


def test_a_method_class_left_unregistered_is_named_in_the_unknown_method_error(tmp_path, own_registry):
    path = tmp_path / "forgot.py"
    path.write_text(
        "from methods import Method\nclass Forgot(Method):\n    name = 'forgot'\n    description = 'x'\n" + HOOKS
    )
    with pytest.raises(
        BenchError, match=r"Forgot \(forgot.py\) is a Method never registered: decorate it with @register_method"
    ):
        registry.get_method_class("forgot", [str(path)])
    with pytest.raises(BenchError, match=r"is a folder: give the .py file"):
        registry.include_file(tmp_path)


def test_a_broken_installed_plugin_leaves_the_other_methods_running_and_is_named(monkeypatch, cli, tmp_path):
    """One stale package in the environment used to stop every `bench run`, even `--method base`; and
    `bench doctor` passed."""
    entry = importlib.metadata.EntryPoint("stale", "stale_plugin_module", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [entry] if group == registry.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(registry, "_loaded_plugins", False)
    monkeypatch.setattr(registry, "_BROKEN_PLUGINS", {})
    assert "base" in registry.available_methods()
    why = (
        "plug-in 'stale' (stale_plugin_module) failed to load: ModuleNotFoundError: No module named "
        "'stale_plugin_module'"
    )
    assert registry.broken_plugins() == [why]
    with pytest.raises(BenchError, match="unknown method 'xattn'.*; " + why.replace("(", r"\(").replace(")", r"\)")):
        registry.get_method_class("xattn")
    listed = cli("ls", "methods")
    assert listed.exit_code == 0 and "base " in listed.output and "stale_plugin_module" in listed.output
    doctor = cli("doctor", "--dataset-dir", str(tmp_path / "nowhere"))
    assert doctor.exit_code == 1 and why in doctor.output and "plug-ins" in doctor.output.splitlines()[-1]


SLOPPY = """
import numpy as np
from PIL import Image

from methods import Method, register_method


@register_method
class Sloppy(Method):
    name = "sloppy"
    description = "test plug-in: a phrase of None, or one image for every seed"
    default_options = {"no_phrase": False, "ignore_seeds": False}

    def subject_phrase(self, subject):
        return None if self.options["no_phrase"] else f"zwx {subject.class_noun}"

    def personalize(self, subject, workdir, scratch):
        return {}

    def generate(self, subject, artifact_dir, prompts, seeds):
        size = self.context.generation.resolution
        drawn = [0 if self.options["ignore_seeds"] else seed for seed in seeds]
        return [Image.fromarray(np.random.default_rng(s).integers(0, 255, (size, size, 3)).astype(np.uint8))
                for s in drawn]
"""


@pytest.fixture(scope="module")
def sloppy(tmp_path_factory):
    path = tmp_path_factory.mktemp("plugins") / "sloppy.py"
    path.write_text(SLOPPY)
    return str(path)


def test_a_phrase_of_none_fails_the_cell_instead_of_prompting_with_none(tmp_path, dreambench_dir, sloppy):
    run = tiny_run(
        tmp_path / "run",
        dreambench_dir,
        methods=["sloppy"],
        include=[sloppy],
        subjects=["dog"],
        limit_prompts=1,
        assignments=["options.sloppy.no_phrase=true"],
    )
    assert [failure.error for failure in run.failures] == [
        "method 'sloppy': subject_phrase() returned None; it must be the words that stand for the subject in "
        "prompts, e.g. 'sks dog'"
    ]
    assert run.generated == 0


def test_images_that_ignore_their_seeds_are_said_once_per_cell(tmp_path, dreambench_dir, sloppy):
    """DIV reads 0 for such a method, which otherwise looks like a finding rather than a bug."""
    said = []
    run = tiny_run(
        tmp_path / "run",
        dreambench_dir,
        methods=["sloppy"],
        include=[sloppy],
        subjects=["dog"],
        assignments=["options.sloppy.ignore_seeds=true"],
        log=said.append,
    )
    assert run.generated == 4 and not run.failures
    warned = [line for line in said if "byte-identical" in line]
    assert len(warned) == 1 and "sloppy[ignore_seeds=True]/dog: prompt 0's images" in warned[0]
    honest = []
    tiny_run(
        tmp_path / "honest", dreambench_dir, methods=["sloppy"], include=[sloppy], subjects=["dog"], log=honest.append
    )
    assert not [line for line in honest if "byte-identical" in line]


def test_a_plugin_built_on_dreambooth_is_refused_after_dreambooth_changes_version(tmp_path, own_registry, monkeypatch):
    """A plug-in with its own `version` hid DreamBooth's bumps: new images were averaged with old ones."""
    path = tmp_path / "xattn.py"
    path.write_text(
        "from methods import register_method\nfrom methods.dreambooth import DreamBooth\n@register_method\n"
        "class XAttn(DreamBooth):\n    name = 'xattn'\n    description = 'x'\n    version = '1'\n"
    )
    cls = registry.get_method_class("xattn", [str(path)])
    from methods.dreambooth import DreamBooth

    assert registry.builtin_versions(cls) == {"methods.dreambooth.DreamBooth": DreamBooth.version}
    # built-ins bump together and record nothing of it
    assert registry.builtin_versions(DreamBooth) == {}
    store = RunStore(tmp_path / "run")
    info = {"name": "xattn", "version": "1", "options": {}, "base_versions": registry.builtin_versions(cls)}
    store.open_method("xattn", info)
    (store.method_dir("xattn") / "images" / "dog").mkdir(parents=True)
    (store.method_dir("xattn") / "images" / "dog" / "p0_i0.png").write_bytes(b"png")
    newer = {**info, "base_versions": {"methods.dreambooth.DreamBooth": "99"}}
    built_on = f"built on methods.dreambooth.DreamBooth {DreamBooth.version}; this harness has methods.dreambooth"
    with pytest.raises(BenchError, match=rf"holds outputs of plug-in xattn {built_on}.DreamBooth 99"):
        store.open_method("xattn", newer)
    # a folder recorded before base versions were is resumed as it is
    older = RunStore(tmp_path / "older")
    key = older.open_method("xattn", {k: v for k, v in info.items() if k != "base_versions"})
    assert older.open_method("xattn", info) == key
    recorded = json.loads((older.method_dir("xattn") / "method.json").read_text())
    # adopted: from now on a DreamBooth bump is caught there too
    assert recorded == {"key": key, "info": info}
    with pytest.raises(BenchError, match="built on"):
        older.open_method("xattn", newer)


def test_a_refusal_says_when_the_folder_holds_no_outputs_yet(tmp_path):
    """After a plug-in failed in every cell and was fixed, its folder holds only a record: say so, so deleting it
    is plainly safe."""
    store = RunStore(tmp_path / "run")
    info = {"name": "p", "version": "1", "options": {}, "plugin_code": "a" * 16}
    store.open_method("p", info)
    # made for every cell, empty
    (store.method_dir("p") / "scratch" / "dog").mkdir(parents=True)
    with pytest.raises(BenchError, match="holds no outputs yet, only the record of plug-in p made from other code"):
        store.open_method("p", {**info, "plugin_code": "b" * 16})
    (store.method_dir("p") / "scratch" / "dog" / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(BenchError, match="holds outputs of plug-in p made from other code"):
        store.open_method("p", {**info, "plugin_code": "b" * 16})
    assert json.loads((store.method_dir("p") / "method.json").read_text())["info"] == info


ARGPARSE_AT_IMPORT = """import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, required=True)
args = parser.parse_args()
"""


@pytest.mark.parametrize("body", ["import sys\nprint('bye')\nsys.exit(0)\n", ARGPARSE_AT_IMPORT])
def test_a_plugin_that_exits_at_import_is_one_error_line_naming_it(body, tmp_path, cli, dreambench_dir, monkeypatch):
    """`sys.exit(0)` at import made `bench run` exit 0 with nothing done; a plug-in's argparse printed a usage
    and an error line under bench's name, about bench's own command line."""
    plugin = tmp_path / "exits.py"
    plugin.write_text(body)
    small = "--subjects dog --limit-prompts 1 --images-per-prompt 1 --no-score --quiet".split()
    args = ["run", "--include", plugin, "--method", "base", *small, "--output-dir", tmp_path / "run"]
    args += ["--dataset-dir", dreambench_dir]
    # what a plug-in parsing sys.argv would read
    monkeypatch.setattr("sys.argv", ["bench", *map(str, args)])
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"bench: error: --include {plugin} exited while being imported")
    assert "usage: bench" not in result.stderr and "bench: error: the following" not in result.stderr
    assert not (tmp_path / "run").exists()
