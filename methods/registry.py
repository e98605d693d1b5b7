"""Methods by name: built-ins, installed plug-ins (entry points) and `--include file.py`.

Third-party packages advertise methods under the entry-point group
`dreambench.methods`; a single file works too, which is the quickest way to try an
idea: `bench run --include my_method.py --method my-method`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import math
import re
import sys
import tokenize
from importlib.metadata import entry_points
from pathlib import Path

from benchmark.errors import BenchError
from methods.interface import Method

ENTRY_POINT_GROUP = "dreambench.methods"
BUILTIN_MODULES = ("methods.base_model", "methods.dreambooth", "methods.dreambooth_lora", "methods.textual_inversion")

_REGISTRY: dict[str, type[Method]] = {}
_PLUGIN_CODE: dict[type[Method], str | None] = {}  # taken at import: the code that runs, not the file as edited since
_loaded_plugins = False
_BROKEN_PLUGINS: dict[str, str] = {}  # entry-point name -> why it failed to load


# A method's name is its results' folder and the start of its label ("name[option=value]"), so it is one
# plain path part without the label's own punctuation.
METHOD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


def register_method(cls: type[Method]) -> type[Method]:
    name = getattr(cls, "name", None)
    if not name or not getattr(cls, "description", None):
        raise TypeError(f"{cls.__qualname__} needs class attributes `name` and `description`")
    if not isinstance(name, str) or not METHOD_NAME.fullmatch(name):
        raise TypeError(
            f"{cls.__qualname__}: method name {name!r} must be letters, digits and . _ + - (starting with a letter or "
            "digit, at most 64): it names the method's results folder"
        )
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:  # refused now, not cell by cell once a run has started
        raise TypeError(f"method '{name}' ({cls.__qualname__}) does not define {', '.join(m + '()' for m in missing)}")
    _check_option_declarations(cls)
    existing = _REGISTRY.get(name)
    # The same class registered again (its module re-imported) is fine; any other class under a taken name is
    # refused, even one with the same class name: a plug-in must never silently replace a built-in.
    if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
        same_file = existing.__qualname__ == cls.__qualname__ and _source_file(existing) == _source_file(cls)
        if not same_file or _source_file(cls) is None:
            raise BenchError(f"two methods are named '{name}': {_origin(existing)} and {_origin(cls)}")
        # one file loaded twice (an installed plug-in also given with --include): the same method, and the
        # later import is the code as it is now
    _REGISTRY[name] = cls
    _PLUGIN_CODE[cls] = _fingerprint(cls)
    return cls


def _check_option_declarations(cls: type[Method]) -> None:
    """A plug-in's option tables, refused at import when they could only go wrong later: a typo in
    `profile_options` would be recorded and silently not applied, a default JSON cannot write would
    fail a run after its folder was made, and a tuple default could never be set (YAML gives lists)."""
    name, defaults = cls.name, cls.default_options
    for key, value in defaults.items():
        where = f"method '{name}': default_options[{key!r}]"
        if isinstance(value, tuple):
            raise TypeError(f"{where} is a tuple; use a list (`--set` and YAML give lists)")
        _require_json_value(where, value)
    for table in ("option_help", "run_options", "nullable_options"):
        unknown = sorted(set(getattr(cls, table)) - set(defaults))
        if unknown:
            raise TypeError(f"method '{name}': {table} names {unknown[0]!r}, which is not in default_options")
    for profile, changes in cls.profile_options.items():
        for key, value in changes.items():
            if key not in defaults:
                raise TypeError(f"method '{name}': profile_options[{profile!r}] names {key!r}, which is not in "
                                "default_options")  # fmt: skip
            _require_json_value(f"method '{name}': profile_options[{profile!r}][{key!r}]", value)
            try:
                _check_option_type(cls, key, value)
            except BenchError as exc:
                raise TypeError(f"method '{name}': profile_options[{profile!r}]: {exc}") from None


def _require_json_value(where: str, value) -> None:
    """Options are written to method.json and compared from it, so they must survive JSON unchanged."""
    import json

    try:
        same = json.loads(json.dumps(value, allow_nan=False)) == value
    except (TypeError, ValueError):
        same = False
    if not same:
        raise TypeError(f"{where} = {value!r} is not a plain JSON value (number, text, bool, null, list, dict)")


def method_origin(cls: type[Method]) -> str | None:
    """Where a plug-in's method comes from (its file, else its module); None for the built-ins."""
    if cls.__module__ in BUILTIN_MODULES:
        return None
    return _origin(cls)


def _origin(cls) -> str:
    """Where a method comes from, as its user knows it: 'the built-in methods.dreambooth' or its file."""
    if cls.__module__ in BUILTIN_MODULES:
        return f"the built-in {cls.__module__}"
    path = _source_file(cls)
    return str(path) if path is not None else cls.__module__


def _source_file(cls) -> Path | None:
    import inspect

    try:
        return Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):
        return None


def builtin_versions(cls: type[Method]) -> dict[str, str]:
    """The versions of the built-in methods a plug-in's class is built on (`{"methods.dreambooth.DreamBooth":
    "3"}`); empty for built-ins and for plug-ins built on `Method` alone.

    A plug-in that subclasses DreamBooth and sets its own `version` would otherwise hide DreamBooth's bumps:
    after a harness upgrade its new images would be averaged with images of the old training code.
    """
    if cls.__module__ in BUILTIN_MODULES:
        return {}
    return {
        f"{base.__module__}.{base.__qualname__}": str(base.version)
        for base in cls.__mro__[1:]
        if base.__module__ in BUILTIN_MODULES and "version" in vars(base)
    }


def plugin_code_fingerprint(cls: type[Method]) -> str | None:
    """A hash of a plug-in's module as read at import, comments and blank lines aside; None for built-ins.

    Built-in methods mark a change of their outputs by bumping `version`; a researcher editing a
    plug-in rarely remembers to, and images made before and after an edit would then be averaged
    together. Recording this in method.json makes the run refuse that mix. It covers the file that
    defines the class, not the modules it imports (bump `version` for changes there).
    """
    return _PLUGIN_CODE[cls] if cls in _PLUGIN_CODE else _fingerprint(cls)


def _fingerprint(cls: type[Method]) -> str | None:
    import hashlib

    if cls.__module__ in BUILTIN_MODULES:
        return None
    path = _source_file(cls)
    if path is None or path.suffix != ".py":
        return None
    try:
        normalized = source_without_comments(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, tokenize.TokenError):
        return None
    return hashlib.sha256(normalized.encode()).hexdigest()[:16]


def source_without_comments(source: str) -> str:
    """The source text itself, less comments, trailing spaces and blank lines.

    Text, not a tree: `ast.dump` changes with the Python version and `ast.unparse` re-quotes
    f-strings on 3.12, so either would call one file two codes on two cluster nodes. A comment
    is found by the tokenizer (a '#' inside a string is none), whose COMMENT tokens every
    version places alike. Anything else that changes, a docstring or a re-wrapped line,
    counts as a change: the safe side.
    """
    lines = source.splitlines()
    comments = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    for token in reversed(comments):
        (row, start), (_, end) = token.start, token.end
        lines[row - 1] = lines[row - 1][:start] + lines[row - 1][end:]
    return "\n".join(line.rstrip() for line in lines if line.strip())


def _load_plugins() -> None:
    global _loaded_plugins
    if _loaded_plugins:
        return
    _loaded_plugins = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as exc:  # one broken installed package must not take every other method down with it
            _BROKEN_PLUGINS[entry.name] = (
                f"plug-in '{entry.name}' ({entry.value}) failed to load: {_exception_line(exc)}"
            )


def broken_plugins() -> list[str]:
    """Why each installed plug-in that could not be imported failed: its methods are missing from the registry,
    which `bench ls methods`, `bench doctor` and an unknown-method error say."""
    _load_plugins()
    return list(_BROKEN_PLUGINS.values())


def _exception_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _include_module_name(path: Path) -> str:
    """The module an `--include` file is imported as (one per resolved path, so a second include is a no-op)."""
    return f"bench_include_{path.stem}_{abs(hash(str(path))) % 10**8}"


def include_file(path: str | Path) -> None:
    """Import a Python file so its `@register_method` classes join the registry."""
    path = Path(path).expanduser().resolve()
    if path.is_dir():
        raise BenchError(f"--include {path} is a folder: give the .py file that defines the method")
    if not path.is_file():
        raise BenchError(f"--include {path}: no such file")
    module_name = _include_module_name(path)
    if module_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise BenchError(f"--include {path} is not a Python file (.py): give the file that defines the method")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        said = _import_apart(spec, module, path)
    except BenchError as exc:  # a registration the harness refused: its own words say why
        del sys.modules[module_name]
        raise BenchError(f"--include {path}: {exc}") from None
    except SystemExit as exc:
        del sys.modules[module_name]
        last = _last_line(getattr(exc, "said", ""))
        raise BenchError(
            f"--include {path} exited while being imported (sys.exit({exc.code!r}){': ' + repr(last) if last else ''}"
            "); a plug-in file may define and register methods at import, never parse a command line or exit"
        ) from None
    except Exception as exc:
        del sys.modules[module_name]
        raise BenchError(f"--include {path} failed to import: {type(exc).__name__}: {exc}") from None
    sys.stdout.write(said[0])  # what it printed while importing, now that it imported: its own, never bench's
    sys.stderr.write(said[1])


def _import_apart(spec, module, path: Path) -> tuple[str, str]:
    """Run an include's module with its own `sys.argv` (`[path]`) and its output held back: returns what it
    printed (stdout, stderr). A plug-in that parses a command line at import would read bench's, and its
    argparse would print a usage and an error line that read as bench's own ("usage: bench ...", "bench:
    error: ..."); one that calls sys.exit would end `bench run` with exit 0 and nothing done. Its SystemExit
    carries what it printed (`said`), for the one line that replaces it."""
    out, err = io.StringIO(), io.StringIO()
    argv, sys.argv = sys.argv, [str(path)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            spec.loader.exec_module(module)
    except SystemExit as exc:
        exc.said = out.getvalue() + err.getvalue()
        raise
    except BaseException:
        sys.stdout.write(out.getvalue())
        sys.stderr.write(err.getvalue())
        raise
    finally:
        sys.argv = argv
    return out.getvalue(), err.getvalue()


def _last_line(text: str, limit: int = 160) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1][:limit] if lines else ""


def available_methods(includes: list[str] = ()) -> dict[str, type[Method]]:
    _load_plugins()
    for path in includes:
        include_file(path)
    return dict(sorted(_REGISTRY.items()))


def get_method_class(name: str, includes: list[str] = ()) -> type[Method]:
    methods = available_methods(includes)
    if name not in methods:
        hint = " (or load one with --include FILE)"
        unregistered = _unregistered_classes(includes)
        if unregistered:
            hint = f"; {unregistered}"
        broken = f"; {'; '.join(_BROKEN_PLUGINS.values())}" if _BROKEN_PLUGINS else ""
        raise BenchError(f"unknown method '{name}'; available: {', '.join(methods)}{hint}{broken}")
    return methods[name]


def _unregistered_classes(includes: list[str]) -> str | None:
    """Method classes an included file defines without `@register_method`: the usual reason its method is
    unknown though the file was given."""
    found = []
    for include in includes:
        path = Path(include).expanduser().resolve()
        module = sys.modules.get(_include_module_name(path))
        for value in vars(module).values() if module is not None else ():
            if (isinstance(value, type) and issubclass(value, Method) and value.__module__ == module.__name__
                    and value not in _PLUGIN_CODE):  # fmt: skip
                found.append(f"{value.__qualname__} ({path.name})")
    if not found:
        return None
    return f"{', '.join(found)} is a Method never registered: decorate it with @register_method"


def resolve_options(cls: type[Method], given: dict | None, profile: str | None = None) -> dict:
    """Defaults, then the profile's changes, then the user's; an unknown option is an error."""
    given = given or {}
    unknown = sorted(set(given) - set(cls.default_options))
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], list(cls.default_options), n=1)
        if close:
            raise BenchError(f"options.{cls.name}.{unknown[0]}: method '{cls.name}' has no such option; did you mean "
                             f"'{close[0]}'? (`bench ls options {cls.name}` lists them)")  # fmt: skip
        known = ", ".join(cls.default_options) or "none"
        raise BenchError(f"options.{cls.name}.{unknown[0]}: method '{cls.name}' has no such option (it has: {known})")
    options = {**cls.default_options, **cls.profile_options.get(profile or "", {}), **typed_options(cls, given)}
    try:
        cls.check_options(options)
    except BenchError:
        raise
    except (ValueError, TypeError) as exc:  # a plug-in's check saying no: the user's mistake, not a crash
        raise BenchError(f"options.{cls.name}: {exc}") from None
    except Exception as exc:  # a bug in the check itself: where it is, in one line
        raise BenchError(f"options.{cls.name}: {cls.__qualname__}.check_options failed: {_exception_line(exc)}"
                         f"{_raised_at(exc)}") from None  # fmt: skip
    return options


def _raised_at(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    return f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""


def typed_options(cls: type[Method], given: dict | None) -> dict:
    """The user's options checked against their defaults' types, ints given for float options made floats:
    `prior_loss_weight=2` and `=2.0` are one setting, so they must make one label and one result row."""
    typed = {}
    for key, value in (given or {}).items():
        if key in cls.default_options:
            _check_option_type(cls, key, value)
            default = cls.default_options[key]
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
        typed[key] = value
    return typed


def _check_option_type(cls: type[Method], key: str, value) -> None:
    """An option takes the type of its default (ints pass for floats; a None default takes any scalar); null
    only where the default is null or the method lists the option in `nullable_options`."""
    default = cls.default_options[key]
    if value is None:
        if default is None or key in cls.nullable_options:
            return
        raise BenchError(f"options.{cls.name}.{key} cannot be null (its default is {default!r})")
    if isinstance(value, float) and not math.isfinite(value):
        raise BenchError(f"options.{cls.name}.{key} must be a finite number, got {value!r}")
    if default is None:
        return
    expected = type(default)
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        raise BenchError(
            f"options.{cls.name}.{key} must be {expected.__name__} like its default {default!r}, got {value!r}"
        )


def register_preset(base: type[Method], name: str, description: str, **options) -> type[Method]:
    """An ablation as a named preset of a method's options: same code, different defaults.

    The preset is a subclass whose only change is its defaults, so a preset can
    never drift from the method it ablates.
    """
    unknown = sorted(set(options) - set(base.default_options))
    if unknown:
        raise TypeError(f"preset {name}: {base.name} has no option {unknown[0]}")
    attributes = {
        "name": name,
        "description": description,
        "default_options": {**base.default_options, **options},
        "preset_of": base.name,
        "__module__": base.__module__,
        "__qualname__": f"{base.__qualname__}[{name}]",
    }
    return register_method(type(base)(f"{base.__name__}_{name.replace('-', '_')}", (base,), attributes))


def identity_options(cls: type[Method], options: dict) -> dict:
    """The options that decide a method's outputs: all but its `run_options`, plus how `compile` compiles."""
    from benchmark.config import COMPILE_SCHEME

    kept = {key: value for key, value in options.items() if key not in cls.run_options}
    if kept.get("compile") is True:
        kept["compile_scheme"] = COMPILE_SCHEME
    return kept


def same_outputs_as(cls: type[Method], options: dict, profile: str | None, includes: list[str] = ()) -> str | None:
    """Another variant of the same method (a preset of it, or the method a preset is of) whose own defaults
    are these options: `dreambooth[prior_preservation=False]` trains what `dreambooth-no-prior` does, but
    under a label no ablation table or other run looks for."""
    root = getattr(cls, "preset_of", None) or cls.name
    mine = identity_options(cls, options)
    for name, other in available_methods(includes).items():
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
    defaults = {**cls.default_options, **cls.profile_options.get(profile or "", {})}
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
