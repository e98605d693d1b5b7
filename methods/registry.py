"""Methods by name: built-ins, installed plug-ins (entry points) and `--include file.py`.

Third-party packages advertise methods under the entry-point group
`dreambench.methods`; a single file works too, which is the quickest way to try an
idea: `bench run --include my_method.py --method my-method`.

This module registers and finds methods. Their options live in `methods.options`, their labels in
`methods.labels` and where they come from in `methods.provenance`; the names plug-ins and scripts
imported from here before that split are still importable from here.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import re
import sys
from importlib.metadata import entry_points
from pathlib import Path

from benchmark.errors import BenchError
from methods.interface import Method

# Importable from here as before the split (plug-ins and scripts use them).
from methods.labels import earlier_labels, identity_options, method_label, same_outputs_as
from methods.options import (
    check_declarations,
    exception_line,
    option_specs,
    resolve_options,
    typed_options,
    with_defaults,
)
from methods.provenance import (
    BUILTIN_MODULES,
    builtin_versions,
    method_origin,
    origin,
    plugin_code_fingerprint,
    record_code,
    source_file,
    source_without_comments,
    was_recorded,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "METHOD_NAME",
    "available_methods",
    "broken_plugins",
    "builtin_versions",
    "earlier_labels",
    "get_method_class",
    "identity_options",
    "include_file",
    "method_label",
    "method_origin",
    "plugin_code_fingerprint",
    "register_method",
    "register_preset",
    "resolve_options",
    "same_outputs_as",
    "source_without_comments",
    "typed_options",
]

ENTRY_POINT_GROUP = "dreambench.methods"

_REGISTRY: dict[str, type[Method]] = {}
_loaded_plugins = False
# entry-point name -> why it failed to load
_BROKEN_PLUGINS: dict[str, str] = {}


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
    # refused now, not cell by cell once a run has started
    if missing:
        raise TypeError(f"method '{name}' ({cls.__qualname__}) does not define {', '.join(m + '()' for m in missing)}")
    check_declarations(cls)
    existing = _REGISTRY.get(name)
    # The same class registered again (its module re-imported) is fine; any other class under a taken name is
    # refused, even one with the same class name: a plug-in must never silently replace a built-in.
    if existing is not None and (existing.__module__, existing.__qualname__) != (cls.__module__, cls.__qualname__):
        same_file = existing.__qualname__ == cls.__qualname__ and source_file(existing) == source_file(cls)
        if not same_file or source_file(cls) is None:
            raise BenchError(f"two methods are named '{name}': {origin(existing)} and {origin(cls)}")
        # one file loaded twice (an installed plug-in also given with --include): the same method, and the
        # later import is the code as it is now
    _REGISTRY[name] = cls
    record_code(cls)
    return cls


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
        # one broken installed package must not take every other method down with it
        except Exception as exc:
            _BROKEN_PLUGINS[entry.name] = (
                f"plug-in '{entry.name}' ({entry.value}) failed to load: {exception_line(exc)}"
            )


def broken_plugins() -> list[str]:
    """Why each installed plug-in that could not be imported failed: its methods are missing from the registry,
    which `bench ls methods`, `bench doctor` and an unknown-method error say."""
    _load_plugins()
    return list(_BROKEN_PLUGINS.values())


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
    # a registration the harness refused: its own words say why
    except BenchError as exc:
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
    # what it printed while importing, now that it imported: its own, never bench's
    sys.stdout.write(said[0])
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
            if (
                isinstance(value, type)
                and issubclass(value, Method)
                and value.__module__ == module.__name__
                and not was_recorded(value)
            ):
                found.append(f"{value.__qualname__} ({path.name})")
    if not found:
        return None
    return f"{', '.join(found)} is a Method never registered: decorate it with @register_method"


def register_preset(base: type[Method], name: str, description: str, **options) -> type[Method]:
    """An ablation as a named preset of a method's options: same code, different defaults.

    The preset is a subclass whose only change is its defaults, so a preset can
    never drift from the method it ablates.
    """
    specs = option_specs(base)
    unknown = sorted(set(options) - set(specs))
    if unknown:
        raise TypeError(f"preset {name}: {base.name} has no option {unknown[0]}")
    attributes = {
        "name": name,
        "description": description,
        "option_specs": with_defaults(specs, options),
        "preset_of": base.name,
        "__module__": base.__module__,
        "__qualname__": f"{base.__qualname__}[{name}]",
    }
    return register_method(type(base)(f"{base.__name__}_{name.replace('-', '_')}", (base,), attributes))
