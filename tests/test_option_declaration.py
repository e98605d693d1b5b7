"""A method's options are declared once (`Options` dataclass, `option(...)` fields), and read from there by
resolving, typing, labels and `bench ls options`; plug-ins written with the five tables of old still load."""

from __future__ import annotations

import hashlib
import json

import pytest

from benchmark.errors import BenchError
from methods import registry
from methods.labels import identity_options, method_label
from methods.options import option_specs, resolve_options
from tests.plugin_files import write_plugin

# Declared once: each option's default, help, per-profile default, run-only and (from its type) nullable.
NEW_STYLE = """
from __future__ import annotations

from dataclasses import dataclass

from methods import Method, register_method
from methods.options import option

Steps = int  # an alias: the type is resolved, not read off the annotation's text


@register_method
class Declared(Method):
    name = "declared"
    description = "options declared once"

    @dataclass
    class Options:
        steps: Steps = option(400, "optimizer steps", profiles={"tiny": 3})
        gamma: float | None = option(None, "min-SNR gamma (null: off)")
        scale: float = option(1.0, "loss scale")
        every: int = option(50, "steps between checkpoints", profiles={"tiny": 1}, run_only=True)
        words: list[str] = option(["a", "b"], "extra words")
"""

# The declaration of plug-ins written before `Options`: five tables.
OLD_STYLE = """
from methods import Method, register_method


@register_method
class Tables(Method):
    name = "tables"
    description = "options in the five tables of old"
    default_options = {"steps": 400, "gamma": None, "clip": 1.0, "every": 50}
    profile_options = {"tiny": {"steps": 3, "every": 1}}
    option_help = {"steps": "optimizer steps", "clip": "clipping norm (null: none)"}
    run_options = frozenset({"every"})
    nullable_options = frozenset({"clip"})
"""


def include(tmp_path, name: str, source: str):
    """The method a plug-in file of `source` registers, loaded as `--include` loads it, and the file."""
    path = write_plugin(tmp_path, name, source)
    return registry.get_method_class(name, [str(path)]), path


def ls_options(cli, method: str, path, *more: str) -> dict[str, list[str]]:
    result = cli("ls", "options", method, "--include", path, *more)
    assert result.exit_code == 0, result.output
    return {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()}


def test_an_option_declared_once_shows_its_type_help_and_profile_default_in_ls_options(cli, tmp_path, own_registry):
    _, path = include(tmp_path, "declared", NEW_STYLE)
    plain = ls_options(cli, "declared", path, "--profile", "sd15")
    assert plain["steps"] == ["400", "int", "optimizer", "steps"]
    assert plain["gamma"][:2] == ["null", "float|null"] and plain["words"][:2] == ['["a",', '"b"]']
    tiny = ls_options(cli, "declared", path, "--profile", "tiny")
    assert tiny["steps"][:4] == ["3", "(profile", "tiny)", "int"]
    assert tiny["scale"][:2] == ["1.0", "float"]


def test_one_declaration_feeds_resolving_labels_and_the_tables_older_code_reads(tmp_path, own_registry):
    cls, _ = include(tmp_path, "declared", NEW_STYLE)
    assert resolve_options(cls, None, "tiny") == {
        "steps": 3,
        "gamma": None,
        "scale": 1.0,
        "every": 1,
        "words": ["a", "b"],
    }
    assert cls.default_options["steps"] == 400 and cls.profile_options == {"tiny": {"steps": 3, "every": 1}}
    assert cls.run_options == frozenset({"every"}) and cls.option_help["gamma"] == "min-SNR gamma (null: off)"
    # run-only: out of the label and the identity; a value at its profile default makes no label either
    assert method_label(cls, {"every": 7, "steps": 3}, "tiny") == "declared"
    assert method_label(cls, {"scale": 2}, "tiny") == "declared[scale=2.0]"
    assert "every" not in identity_options(cls, resolve_options(cls, {"every": 7}, "tiny"))


def test_the_declared_types_are_checked_as_types(tmp_path, own_registry):
    cls, _ = include(tmp_path, "declared", NEW_STYLE)
    with pytest.raises(BenchError, match=r"^options.declared.steps must be int like its default 400, got 'x'$"):
        resolve_options(cls, {"steps": "x"})
    with pytest.raises(BenchError, match=r"^options.declared.steps must be int like its default 400, got True$"):
        resolve_options(cls, {"steps": True})
    # a null default no longer takes anything: the type after it says what
    with pytest.raises(BenchError, match=r"^options.declared.gamma must be a number, not 'five' \(or null\)$"):
        resolve_options(cls, {"gamma": "five"})
    assert resolve_options(cls, {"gamma": 5})["gamma"] == 5
    with pytest.raises(BenchError, match=r"^options.declared.scale cannot be null"):
        resolve_options(cls, {"scale": None})
    with pytest.raises(BenchError, match=r"options.declared.words must be list"):
        resolve_options(cls, {"words": "a"})


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("steps: int = option('many', 'optimizer steps')", "the default of 'steps': options.bad.steps must be int"),
        ("steps: int = option(4, 'steps', profiles={'tiny': 'two'})", "options.bad.steps must be int"),
        ("mode: Literal['a', 'b'] = option('a', 'mode')", "its type typing.Literal['a', 'b'] is not one"),
        ("steps: int = dataclasses.field(default_factory=int)", "option 'steps' needs a default"),
    ],
)
def test_a_declaration_that_could_only_go_wrong_later_is_refused_when_the_file_loads(
    tmp_path, own_registry, field, message
):
    source = f"""
        import dataclasses
        from dataclasses import dataclass
        from typing import Literal

        from methods import Method, register_method
        from methods.options import option


        @register_method
        class Bad(Method):
            name = "bad"
            description = "a mistaken declaration"

            @dataclass
            class Options:
                {field}
    """
    with pytest.raises(BenchError) as caught:
        include(tmp_path, "bad", source)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_an_old_style_plugin_still_loads_with_its_five_tables(cli, tmp_path, own_registry):
    cls, path = include(tmp_path, "tables", OLD_STYLE)
    specs = option_specs(cls)
    assert specs["steps"].profiles == {"tiny": 3} and specs["every"].run_only and specs["clip"].nullable
    # a null default took anything, and still does
    assert specs["gamma"].types is None
    assert resolve_options(cls, {"gamma": "anything"}, "tiny") == {
        "steps": 3,
        "gamma": "anything",
        "clip": 1.0,
        "every": 1,
    }
    assert resolve_options(cls, {"clip": None})["clip"] is None
    with pytest.raises(BenchError, match=r"options.tables.steps must be int like its default 400, got 'x'"):
        resolve_options(cls, {"steps": "x"})
    assert method_label(cls, {"every": 9}, "tiny") == "tables"
    tiny = ls_options(cli, "tables", path, "--profile", "tiny")
    assert tiny["steps"][:4] == ["3", "(profile", "tiny)", "int"] and tiny["gamma"][:2] == ["null", "any"]
    assert tiny["clip"][:2] == ["1.0", "float|null"]


def test_a_subclass_and_a_preset_keep_the_declared_types_and_change_only_what_they_say():
    dreambooth = registry.get_method_class("dreambooth")
    lora = registry.get_method_class("dreambooth-lora")
    no_prior = registry.get_method_class("dreambooth-no-prior")
    inversion = registry.get_method_class("textual-inversion")
    for cls in (lora, no_prior, inversion):
        assert option_specs(cls)["min_snr_gamma"].types == (float,)
        assert option_specs(cls)["checkpoint_every"].run_only
    assert option_specs(no_prior)["prior_preservation"].default is False
    assert resolve_options(lora, None, "tiny")["learning_rate"] == 1e-3
    assert resolve_options(dreambooth, None, "tiny")["learning_rate"] == 1e-4
    # Textual Inversion trains no prior: tiny leaves its class-image count as declared
    assert resolve_options(inversion, None, "tiny")["num_class_images"] == 200
    assert resolve_options(dreambooth, None, "tiny")["num_class_images"] == 3


# The options that key each built-in's results, as they were before options were declared once: a change here
# would file a resumed run's work under another key and train it again.
BUILTIN_IDENTITIES = {
    "base@sd15": "44136fa355b3678a",
    "base@tiny": "44136fa355b3678a",
    "dreambooth@sd15": "9457f973fbe6f1ad",
    "dreambooth@tiny": "aad4157ce8715509",
    "dreambooth-english-id@sd15": "931b0ab784e401cc",
    "dreambooth-english-id@tiny": "4048643465e141c8",
    "dreambooth-lora@sd15": "5dba01d278800c6b",
    "dreambooth-lora@tiny": "5fde74ea0ddc06ca",
    "dreambooth-no-class@sd15": "58f61ad81166d5ca",
    "dreambooth-no-class@tiny": "5ef25d6cc46f8d39",
    "dreambooth-no-prior@sd15": "7f9c84ed78ceb33f",
    "dreambooth-no-prior@tiny": "cb3b409ef2fe853c",
    "dreambooth-wrong-class@sd15": "f0f522ec172dda32",
    "dreambooth-wrong-class@tiny": "afd1bbe08b0fe484",
    "textual-inversion@sd15": "60db3a87a5bc8eed",
    "textual-inversion@tiny": "3d802fc0544674ca",
}


def test_the_builtins_resolve_to_the_options_their_finished_runs_were_keyed_by():
    found = {}
    for name, cls in registry.available_methods().items():
        if cls.__module__.startswith("methods."):
            for profile in ("sd15", "tiny"):
                identity = identity_options(cls, resolve_options(cls, None, profile))
                found[f"{name}@{profile}"] = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:16]
    assert found == BUILTIN_IDENTITIES
