"""A method's options: declared once, typed with real types, resolved for a profile and the user's `--set`.

A method declares its options as one dataclass, each field with its default, type, help, per-profile
defaults and whether it only changes how a run goes (`run_only`); a type that admits `None` makes the
option nullable:

    @dataclass
    class Options:
        steps: int = option(800, "optimizer steps", profiles={"tiny": 6})
        max_grad_norm: float | None = option(1.0, "gradient clipping norm (null: no clipping)")
        checkpoint_every: int = option(200, "steps between checkpoints", run_only=True)

Plug-ins written before this declare the same things in five class tables (`default_options`,
`profile_options`, `option_help`, `run_options`, `nullable_options`); they still load, read into the same
`OptionSpec`s, with the type each default has. Either way the class ends up with `option_specs`, which
everything else reads, and with those five tables derived from it for code that reads them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.errors import BenchError

# Where `option()` keeps what a dataclass field has no slot for.
_METADATA_KEY = "dreambench.option"

# The five class tables of the earlier declaration, all derived from `option_specs` on a declared class.
LEGACY_TABLES = ("default_options", "profile_options", "option_help", "run_options", "nullable_options")


@dataclass(frozen=True)
class OptionSpec:
    """Everything about one option, read from its one declaration.

    `types` is None when any value goes (an old-style option whose default is null); `nullable` says
    whether null is taken though the default is not.
    """

    name: str
    default: Any
    help: str = ""
    types: tuple[type, ...] | None = None
    profiles: Mapping[str, Any] = field(default_factory=dict)
    run_only: bool = False
    nullable: bool = False

    def default_on(self, profile: str | None) -> Any:
        """The default on `profile` (its own change when it has one)."""
        return self.profiles.get(profile or "", self.default)

    @property
    def kind(self) -> str:
        """The type as `bench ls options` shows it: `int`, `float|null`, `any`."""
        if self.types is None:
            return "any"
        return "|".join(t.__name__ for t in self.types) + ("|null" if self.nullable else "")


def option(default: Any, help: str = "", *, profiles: Mapping[str, Any] | None = None, run_only: bool = False):
    """One field of a method's `Options` dataclass: its default, what it does, and its default per profile.

    Args:
        default: the value a run takes when neither the profile nor the user sets one (plain JSON).
        help: one line for `bench ls options`: what the option does, its values.
        profiles: defaults that differ on a profile, as `{"tiny": 6}`.
        run_only: the option changes how a run goes, never what it produces (how often to checkpoint): it stays
            out of the method's label and identity, so turning it on for a run already started extends that run.
    """
    metadata = {
        _METADATA_KEY: {"default": default, "help": help, "profiles": dict(profiles or {}), "run_only": run_only}
    }
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: json.loads(json.dumps(default)), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared_specs(options_class: type) -> dict[str, OptionSpec]:
    """The `OptionSpec`s of an `Options` dataclass, its annotations resolved to real types."""
    if not dataclasses.is_dataclass(options_class):
        options_class = dataclass(options_class)
    hints = typing.get_type_hints(options_class)
    specs = {}
    for declared in dataclasses.fields(options_class):
        extra = declared.metadata.get(_METADATA_KEY)
        if extra is not None:
            default, help, profiles, run_only = extra["default"], extra["help"], extra["profiles"], extra["run_only"]
        elif declared.default is not dataclasses.MISSING:
            default, help, profiles, run_only = declared.default, "", {}, False
        else:
            raise TypeError(f"option {declared.name!r} needs a default: declare it with option(default, help)")
        accepted, nullable = _accepted_types(declared.name, hints[declared.name])
        specs[declared.name] = OptionSpec(declared.name, default, help, accepted, profiles, run_only, nullable)
    return specs


def _accepted_types(name: str, hint) -> tuple[tuple[type, ...] | None, bool]:
    """(the types a value may have, None for any; whether null is taken) from a resolved annotation."""
    if hint is Any or hint is object:
        return None, True
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    nullable = type(None) in members
    accepted = []
    for member in members:
        if member is type(None):
            continue
        plain = typing.get_origin(member) or member
        if not isinstance(plain, type):
            raise TypeError(f"option {name!r}: its type {hint!r} is not one a value can be checked against")
        accepted.append(plain)
    return tuple(accepted), nullable


def legacy_specs(cls) -> dict[str, OptionSpec]:
    """The `OptionSpec`s of a class declaring the five tables of old: each option typed as its default is."""
    defaults = cls.default_options
    specs = {}
    for key, default in defaults.items():
        specs[key] = OptionSpec(
            name=key,
            default=default,
            help=cls.option_help.get(key, ""),
            types=None if default is None else (type(default),),
            profiles={profile: changes[key] for profile, changes in cls.profile_options.items() if key in changes},
            run_only=key in cls.run_options,
            nullable=default is None or key in cls.nullable_options,
        )
    return specs


def settle_declaration(cls) -> None:
    """Give a method class its `option_specs`, from what the class itself declares.

    An `Options` dataclass in the class wins; else `option_specs` set directly (a preset); else any of the old
    tables (read with those it inherits); else it keeps its parent's. A class with a spec table gets the old
    tables derived from it, so code reading `default_options` & co. sees the same options.
    """
    own = vars(cls)
    if "Options" in own:
        specs = declared_specs(cls.Options)
    elif "option_specs" in own:
        specs = dict(cls.option_specs)
    elif any(table in own for table in LEGACY_TABLES):
        cls.option_specs = legacy_specs(cls)
        return
    else:
        return
    cls.option_specs = specs
    _derive_legacy_tables(cls, specs)


def _derive_legacy_tables(cls, specs: dict[str, OptionSpec]) -> None:
    cls.default_options = {key: spec.default for key, spec in specs.items()}
    profiles = dict.fromkeys(profile for spec in specs.values() for profile in spec.profiles)
    cls.profile_options = {
        profile: {key: spec.profiles[profile] for key, spec in specs.items() if profile in spec.profiles}
        for profile in profiles
    }
    cls.option_help = {key: spec.help for key, spec in specs.items() if spec.help}
    cls.run_options = frozenset(key for key, spec in specs.items() if spec.run_only)
    cls.nullable_options = frozenset(key for key, spec in specs.items() if spec.nullable and spec.default is not None)


def option_of(options_class: type, name: str, **changes):
    """A field of `options_class` declared again with some of its parts changed (`default`, `help`,
    `profiles`, `run_only`): how a subclass's `Options` changes an inherited option without repeating it.

        @dataclass
        class Options(DreamBooth.Options):
            steps: int = option_of(DreamBooth.Options, "steps", default=3000, profiles={"tiny": 4})
    """
    spec = declared_specs(options_class)[name]
    parts = {"default": spec.default, "help": spec.help, "profiles": spec.profiles, "run_only": spec.run_only}
    unknown = sorted(set(changes) - set(parts))
    if unknown:
        raise TypeError(f"option_of({name!r}): {unknown[0]!r} is not a part of an option ({', '.join(parts)})")
    parts.update(changes)
    return option(parts.pop("default"), **parts)


def with_defaults(specs: dict[str, OptionSpec], changes: dict) -> dict[str, OptionSpec]:
    """The specs with other defaults (a preset's), everything else as declared."""
    return {
        key: dataclasses.replace(spec, default=changes[key]) if key in changes else spec for key, spec in specs.items()
    }


# ------------------------------------------------------------------ checked when a method registers
def check_declarations(cls) -> None:
    """A plug-in's options, refused at import when they could only go wrong later: a typo in `profile_options`
    would be recorded and silently not applied, a default JSON cannot write would fail a run after its folder
    was made, and a tuple default could never be set (YAML gives lists)."""
    name, defaults = cls.name, cls.default_options
    for key, value in defaults.items():
        where = f"method '{name}': default_options[{key!r}]"
        if isinstance(value, tuple):
            raise TypeError(f"{where} is a tuple; use a list (`--set` and YAML give lists)")
        require_json_value(where, value)
    for table in ("option_help", "run_options", "nullable_options"):
        unknown = sorted(set(getattr(cls, table)) - set(defaults))
        if unknown:
            raise TypeError(f"method '{name}': {table} names {unknown[0]!r}, which is not in default_options")
    for profile, changes in cls.profile_options.items():
        for key, value in changes.items():
            if key not in defaults:
                raise TypeError(
                    f"method '{name}': profile_options[{profile!r}] names {key!r}, which is not in default_options"
                )
            require_json_value(f"method '{name}': profile_options[{profile!r}][{key!r}]", value)
            try:
                check_option_type(cls, key, value)
            except BenchError as exc:
                raise TypeError(f"method '{name}': profile_options[{profile!r}]: {exc}") from None
    specs = option_specs(cls)
    for key, spec in specs.items():
        if spec.default is not None:
            try:
                check_option_type(cls, key, spec.default)
            except BenchError as exc:
                raise TypeError(f"method '{name}': the default of {key!r}: {exc}") from None


def require_json_value(where: str, value) -> None:
    """Options are written to method.json and compared from it, so they must survive JSON unchanged."""
    try:
        same = json.loads(json.dumps(value, allow_nan=False)) == value
    except (TypeError, ValueError):
        same = False
    if not same:
        raise TypeError(f"{where} = {value!r} is not a plain JSON value (number, text, bool, null, list, dict)")


# ------------------------------------------------------------------ typing and resolving
def option_specs(cls) -> dict[str, OptionSpec]:
    """A method's options as declared (built now for a class made without going through `Method`)."""
    specs = getattr(cls, "option_specs", None)
    if specs is None or {key: spec.default for key, spec in specs.items()} != cls.default_options:
        # the old tables were changed after the class was made: read them as they are now
        specs = legacy_specs(cls)
    return specs


def check_option_type(cls, key: str, value) -> None:
    """An option takes its declared type (an old-style option: the type of its default; ints pass for floats; a
    None default takes any scalar); null only where the declaration takes it."""
    spec = option_specs(cls)[key]
    where = f"options.{cls.name}.{key}"
    if value is None:
        if spec.nullable:
            return
        raise BenchError(f"{where} cannot be null (its default is {spec.default!r})")
    if isinstance(value, float) and not math.isfinite(value):
        raise BenchError(f"{where} must be a finite number, got {value!r}")
    if spec.types is None or any(_is_a(value, expected) for expected in spec.types):
        return
    if spec.default is None:
        words = " or ".join("a number" if t is float else t.__name__ for t in spec.types)
        raise BenchError(f"{where} must be {words}, not {value!r} (or null)")
    kind = " or ".join(t.__name__ for t in spec.types)
    raise BenchError(f"{where} must be {kind} like its default {spec.default!r}, got {value!r}")


def _is_a(value, expected: type) -> bool:
    """`isinstance` as options mean it: a bool is no number, an int is a float."""
    if isinstance(value, bool):
        return expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


def typed_options(cls, given: dict | None) -> dict:
    """The user's options checked against their types, ints given for float options made floats:
    `prior_loss_weight=2` and `=2.0` are one setting, so they must make one label and one result row."""
    specs = option_specs(cls)
    typed = {}
    for key, value in (given or {}).items():
        if key in specs:
            check_option_type(cls, key, value)
            if isinstance(specs[key].default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
        typed[key] = value
    return typed


def profile_defaults(cls, profile: str | None) -> dict:
    """Every option's default on `profile`."""
    return {key: spec.default_on(profile) for key, spec in option_specs(cls).items()}


def resolve_options(cls, given: dict | None, profile: str | None = None) -> dict:
    """Defaults, then the profile's changes, then the user's; an unknown option is an error."""
    given = given or {}
    known = list(option_specs(cls))
    unknown = sorted(set(given) - set(known))
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], known, n=1)
        if close:
            raise BenchError(
                f"options.{cls.name}.{unknown[0]}: method '{cls.name}' has no such option; did you mean "
                f"'{close[0]}'? (`bench ls options {cls.name}` lists them)"
            )
        listed = ", ".join(known) or "none"
        raise BenchError(f"options.{cls.name}.{unknown[0]}: method '{cls.name}' has no such option (it has: {listed})")
    options = {**profile_defaults(cls, profile), **typed_options(cls, given)}
    try:
        cls.check_options(options)
    except BenchError:
        raise
    # a plug-in's check saying no: the user's mistake, not a crash
    except (ValueError, TypeError) as exc:
        raise BenchError(f"options.{cls.name}: {exc}") from None
    # a bug in the check itself: where it is, in one line
    except Exception as exc:
        raise BenchError(
            f"options.{cls.name}: {cls.__qualname__}.check_options failed: {exception_line(exc)}{_raised_at(exc)}"
        ) from None
    return options


def exception_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _raised_at(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    return f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
