"""Plug-in method files as the tests write them: each test writes only what its case is about, and the hooks
every method needs come from here, so that a change to the Method interface is made once for all of them."""

from __future__ import annotations

import textwrap
from pathlib import Path

# The hooks every Method needs, doing nothing, indented into the class a plug-in's source ends with.
HOOKS = """
    def subject_phrase(self, subject):
        return subject.class_noun
    def personalize(self, subject, workdir, scratch):
        return {}
    def generate(self, subject, artifact_dir, prompts, seeds):
        return []
"""


def write_plugin(folder: Path, name: str, source: str, hooks: str = HOOKS) -> Path:
    """NAME.py in `folder` ('-' written '_', so that it imports as a module): `source`, dedented, ending inside the
    class that `hooks` completes."""
    path = folder / f"{name.replace('-', '_')}.py"
    path.write_text(textwrap.dedent(source) + hooks)
    return path


def registered_plugin(folder: Path, name: str, attributes: str, hooks: str = HOOKS) -> Path:
    """A file registering the method NAME, whose class body is `attributes` (indented as in a class) and `hooks`."""
    header = (
        "from methods import Method, register_method\n@register_method\nclass Plugin(Method):\n"
        f"    name = {name!r}\n    description = 'test plug-in'\n"
    )
    return write_plugin(folder, name, header + attributes, hooks)
