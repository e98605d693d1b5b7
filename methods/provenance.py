"""Where a method comes from and which code made its outputs: its origin (built-in, file or module), the
versions of the built-ins it builds on, and a fingerprint of a plug-in's code, recorded in method.json so
outputs of two codes are never averaged together.
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from methods.interface import Method

BUILTIN_MODULES = ("methods.base_model", "methods.dreambooth", "methods.dreambooth_lora", "methods.textual_inversion")

# Taken at registration: the code that runs, not the file as edited since.
_PLUGIN_CODE: dict[type[Method], str | None] = {}


def method_origin(cls: type[Method]) -> str | None:
    """Where a plug-in's method comes from (its file, else its module); None for the built-ins."""
    if cls.__module__ in BUILTIN_MODULES:
        return None
    return origin(cls)


def origin(cls) -> str:
    """Where a method comes from, as its user knows it: 'the built-in methods.dreambooth' or its file."""
    if cls.__module__ in BUILTIN_MODULES:
        return f"the built-in {cls.__module__}"
    path = source_file(cls)
    return str(path) if path is not None else cls.__module__


def source_file(cls) -> Path | None:
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


def record_code(cls: type[Method]) -> None:
    """Take a method's code fingerprint now, as it registers: the code that runs, not the file as edited since."""
    _PLUGIN_CODE[cls] = _fingerprint(cls)


def was_recorded(cls: type) -> bool:
    """Whether `cls` ever registered (its code was taken then)."""
    return cls in _PLUGIN_CODE


def _fingerprint(cls: type[Method]) -> str | None:
    import hashlib

    if cls.__module__ in BUILTIN_MODULES:
        return None
    path = source_file(cls)
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
