"""A method's label and identity: the name its results are filed under and the options that decide them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from methods.options import profile_defaults, resolve_options, typed_options

if TYPE_CHECKING:
    from methods.interface import Method


def identity_options(cls: type[Method], options: dict) -> dict:
    """The options that decide a method's outputs: all but its `run_options`, plus how `compile` compiles."""
    from benchmark.config import COMPILE_SCHEME

    kept = {key: value for key, value in options.items() if key not in cls.run_options}
    if kept.get("compile") is True:
        kept["compile_scheme"] = COMPILE_SCHEME
    return kept


def same_outputs_as(
    cls: type[Method], options: dict, profile: str | None, methods: Mapping[str, type[Method]]
) -> str | None:
    """Another variant of the same method (a preset of it, or the method a preset is of) among `methods` whose
    own defaults are these options: `dreambooth[prior_preservation=False]` trains what `dreambooth-no-prior`
    does, but under a label no ablation table or other run looks for."""
    root = getattr(cls, "preset_of", None) or cls.name
    mine = identity_options(cls, options)
    for name, other in methods.items():
        if other is cls or (name != root and getattr(other, "preset_of", None) != root):
            continue
        if identity_options(other, resolve_options(other, None, profile)) == mine:
            return name
    return None


def method_label(cls: type[Method], given: dict | None, profile: str | None = None) -> str:
    """The name results are filed under: the method, plus any option the user changed.

    `dreambooth` with `--set options.dreambooth.lr=1e-5` becomes `dreambooth[lr=1e-05]`,
    so a changed setting is visible in every table and never mixes with the defaults.
    Run options (checkpointing) change no output, so they never make another label,
    and neither does an option set to the value it has anyway (on `profile`): it
    would file identical outputs under a second name and train them again. An int
    given for a float option is its float (`=2` and `=2.0` are one label).
    """
    return _label(cls, typed_options(cls, given), profile, drop_defaults=True)


def earlier_labels(cls: type[Method], given: dict | None, profile: str | None = None) -> list[str]:
    """The labels earlier versions gave these options, newest first: before ints were made floats
    (`[prior_loss_weight=2]`), and before options at their defaults were dropped (`[steps=6]` on tiny).
    A folder under one of them is resumed instead of being trained again under the new name."""
    labels = [
        _label(cls, given or {}, profile, drop_defaults=True),
        _label(cls, given or {}, profile, drop_defaults=False),
    ]
    return [label for label in dict.fromkeys(labels) if label != method_label(cls, given, profile)]


def _label(cls: type[Method], given: dict, profile: str | None, drop_defaults: bool) -> str:
    defaults = profile_defaults(cls, profile)
    given = {
        key: value
        for key, value in given.items()
        if key not in cls.run_options and not (drop_defaults and key in defaults and _same_value(defaults[key], value))
    }
    if not given:
        return cls.name
    parts = ",".join(f"{key}={_path_safe(given[key])}" for key in sorted(given))
    return f"{cls.name}[{parts}]"


def _path_safe(value) -> str:
    """A value as one folder-name part: the label is the method's folder, and a `/` in a value (a path, a
    prompt) would nest it where no command finds it again. Percent-escaped (`%` itself is left as it is, so
    existing labels stay; a value that collides is still told apart by the folder's recorded options)."""
    return str(value).replace("/", "%2F").replace("\\", "%5C").replace("\0", "%00")


def _same_value(default, value) -> bool:
    """Equal and of the same kind (1 for a float default is the same value; True is not 1)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return default is value
    return default == value
