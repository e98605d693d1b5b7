"""'Did you mean ...?' for a misspelled method or subject name, as option typos already get."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from benchmark.errors import BenchError


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name nearest to `name`, or None when none is near enough to be what was meant."""
    known = list(known)
    lowered = {k.lower(): k for k in known}
    # only the case differs
    if name.lower() in lowered:
        return lowered[name.lower()]
    match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def refuse_misspelled(kind: str, names: Iterable[str], known: Iterable[str], listing: str) -> None:
    """A one-line error for the first name that is unknown but close to a known one; names far from every known one
    are left to the caller's own error (which lists what there is)."""
    known = list(known)
    for name in names:
        if name in known:
            continue
        guess = closest(name, known)
        if guess is not None:
            raise BenchError(f"unknown {kind} '{name}'; did you mean '{guess}'? (`{listing}` lists them)")


def check_run_names(config) -> None:
    """The methods and subjects a run asks for, before anything else looks at them."""
    from dataset.protocol import SUBJECT_GROUPS, load_protocol
    from methods.registry import available_methods

    subjects = [s.strip() for s in config.subjects if s.strip()]
    refuse_misspelled("subject", subjects, [*load_protocol().subjects, *SUBJECT_GROUPS], "bench ls subjects")
    refuse_misspelled("method", config.methods, available_methods(config.include), "bench ls methods")
